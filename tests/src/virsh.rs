//! What the virsh tests drive: virtd started over a [`Stack`]'s tree,
//! Debian's unmodified `virsh` run as a test user against its sockets
//! (in the tree's namespace, so the policy sees the tree's accounts), the
//! domain XML of the test guests, and `virsh list`'s table read back.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::bin;
use crate::console::setpriv_args;
use crate::daemon::Daemon;
use crate::error::Error;
use crate::hermetic::User;
use crate::stack::{Stack, Xm};

/// Starts `virtd --system ARGS` in `stack`'s tree (its sockets in
/// `ROOT/run/libvirt`, xend's and the store's found under the root), its
/// log in `log` under the tree's base; waits for its ready line.
pub fn start_virtd(stack: &Stack, log: &str, args: &[&str]) -> Result<Daemon, Error> {
    let mut cmd = stack.tree.command(&bin("virtd")?);
    cmd.arg("--system").args(args);
    let d = Daemon::spawn("virtd", cmd, &stack.tree.base().join(log))?
        .ready_when_logged("virtd serving")?;
    stack.tree.reap_at_end(d.pid());
    Ok(d)
}

/// virtd's read-write socket beneath `root`.
pub fn socket(root: &Path) -> PathBuf {
    root.join("run/libvirt/libvirt-sock")
}

/// virtd's read-only socket beneath `root`.
pub fn socket_ro(root: &Path) -> PathBuf {
    root.join("run/libvirt/libvirt-sock-ro")
}

/// The URI virsh connects with to the socket `sock` (system mode).
pub fn uri(sock: &Path) -> String {
    format!("xen+unix:///system?socket={}", sock.display())
}

/// `virsh -c URI ARGS` as `who`, in `stack`'s namespace, with no
/// libvirt setting of the caller's environment; what it printed.
pub fn virsh(stack: &Stack, who: &User, uri: &str, args: &[&str]) -> Result<Xm, Error> {
    let o = virsh_command(stack, who, uri, args)
        .output()
        .map_err(|source| Error::Spawn {
            program: "setpriv virsh".into(),
            source,
        })?;
    Ok(Xm {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// The command [`virsh`] runs (for a caller that wants it on a pty:
/// its program is `unshare`, as [`crate::Hermetic::command`]'s is).
pub fn virsh_command(stack: &Stack, who: &User, uri: &str, args: &[&str]) -> Command {
    let mut cmd = stack.tree.command(Path::new("setpriv"));
    cmd.args(setpriv_args(who))
        .args(["virsh", "-q", "-c", uri])
        .args(args)
        .env("HOME", "/nonexistent")
        .env_remove("LIBVIRT_DEFAULT_URI")
        .env_remove("VIRSH_DEFAULT_CONNECT_URI")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME");
    cmd
}

/// The `(id, state)` of `name` in `virsh -q list [--all]`'s table
/// (`" 3    name   running"`, `" -    name   shut off"`).
pub fn listed(out: &str, name: &str) -> Option<(String, String)> {
    out.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[1] == name).then(|| (f[0].to_string(), f[2..].join(" ")))
    })
}

/// The value of `key` in `virsh dominfo`'s `Key:   value` lines.
pub fn info_field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Domain XML of the Linux guest (direct kernel boot from `kernel` and
/// `initrd`, `cmdline`, `memory` MiB, one vcpu, its serial and console on
/// a pty).
pub fn linux_xml(name: &str, kernel: &Path, initrd: &Path, cmdline: &str, memory: u32) -> String {
    format!(
        "<domain type='xen'>\n  <name>{name}</name>\n  <memory unit='MiB'>{memory}</memory>\n  \
         <vcpu>1</vcpu>\n  <os>\n    <type arch='x86_64'>hvm</type>\n    \
         <kernel>{}</kernel>\n    <initrd>{}</initrd>\n    <cmdline>{cmdline}</cmdline>\n  \
         </os>\n  <on_crash>destroy</on_crash>\n  <devices>\n    \
         <serial type='pty'>\n      <target port='0'/>\n    </serial>\n    \
         <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n  \
         </devices>\n</domain>\n",
        kernel.display(),
        initrd.display()
    )
}

/// Domain XML of the boot-sector guest: 32 MiB, its raw disk `image`
/// (hda), a pty serial.
pub fn boot_sector_xml(name: &str, image: &Path) -> String {
    format!(
        "<domain type='xen'>\n  <name>{name}</name>\n  <memory unit='MiB'>32</memory>\n  \
         <vcpu>1</vcpu>\n  <os>\n    <type>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  \
         <devices>\n    <disk type='file' device='disk'>\n      \
         <driver name='qemu' type='raw'/>\n      <source file='{}'/>\n      \
         <target dev='hda' bus='ide'/>\n    </disk>\n    \
         <serial type='pty'>\n      <target port='0'/>\n    </serial>\n  \
         </devices>\n</domain>\n",
        image.display()
    )
}

/// Writes `xml` as `dir/NAME.xml`, readable by every test user; its path.
pub fn write_xml(dir: &Path, name: &str, xml: &str) -> Result<PathBuf, Error> {
    let p = dir.join(format!("{name}.xml"));
    std::fs::write(&p, xml).map_err(Error::io("write", &p))?;
    crate::hermetic::set_mode(&p, 0o644)?;
    Ok(p)
}
