//! Shared by xend's tests: the test guest, starting the daemons, xm as
//! another user, waiting, and the checks of /proc.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    missing_docs,
    non_snake_case
)]

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use privlib::testing::{fake_users, write_policy};

pub use xend::testguest::BANNER;

/// The test guest's disk.
pub fn boot_sector() -> Vec<u8> {
    xend::testguest::image()
}

/// Checks from /proc that `pid` is a device model with no privilege: uid
/// and gid `id`, every capability set empty, no_new_privs, seccomp, its
/// own mount namespace, and a /dev of null, urandom, zero (and kvm).
pub fn check_unprivileged_qemu(pid: i32, id: u32) -> Result<(), String> {
    let e = |e: std::io::Error| e.to_string();
    let id_s = id.to_string();
    for k in ["Uid", "Gid"] {
        let v = field(pid, k)?;
        if !v.split_whitespace().all(|u| u == id_s) {
            return Err(format!("qemu {k}: {v}, want {id}"));
        }
    }
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = field(pid, k)?;
        if !v.trim_start_matches('0').is_empty() {
            return Err(format!("qemu {k}: {v}"));
        }
    }
    if field(pid, "NoNewPrivs")? != "1" || field(pid, "Seccomp")? != "2" {
        return Err("qemu lacks no_new_privs or seccomp".into());
    }
    let ours = std::fs::read_link("/proc/self/ns/mnt").map_err(e)?;
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).map_err(e)?;
    if ours == theirs {
        return Err("qemu shares our mount namespace".into());
    }
    let mut dev: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root/dev"))
        .map_err(e)?
        .filter_map(Result::ok)
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    dev.sort();
    dev.retain(|n| n != "kvm");
    if dev != ["null", "urandom", "zero"] {
        return Err(format!("qemu's /dev: {dev:?}"));
    }
    Ok(())
}

pub fn bindir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_xend"))
        .parent()
        .expect("bindir")
        .to_path_buf()
}

pub fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(
    name: &str,
    args: &[&str],
    root: &Path,
    log: &Path,
    ready: &str,
) -> Result<Daemon, String> {
    let child = Command::new(bindir().join(name))
        .args(args)
        .env("XVM_ROOT", root)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let d = Daemon(child);
    wait_until(Duration::from_secs(15), &format!("{name} to start"), || {
        Ok(std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(ready))
    })?;
    Ok(d)
}

/// `xm ARGS` as `uid` with supplementary `groups`.
pub fn xm(
    uid: u32,
    groups: &[u32],
    root: &Path,
    args: &[&str],
) -> Result<(i32, String, String), String> {
    let groups = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        format!(
            "--groups={}",
            groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            &groups,
        ])
        .arg(bindir().join("xm"))
        .args(args)
        .env("XVM_ROOT", root)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .map_err(|e| e.to_string())?;
    Ok((
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

pub fn field(pid: i32, key: &str) -> Result<String, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .ok_or_else(|| format!("no {key}"))
}

/// Reads the RFB greeting on a domain's VNC socket.
pub fn vnc_greeting(sock: &Path) -> Result<(), String> {
    let mut v = UnixStream::connect(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    v.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut hello = [0u8; 12];
    v.read_exact(&mut hello)
        .map_err(|err| format!("no VNC greeting: {err}"))?;
    check(
        hello.starts_with(b"RFB 003."),
        format!("VNC greeting: {hello:?}"),
    )
}

/// The live process running as `uid`.
pub fn process_of(uid: u32) -> Result<i32, String> {
    std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter_map(|d| d.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .find(|p| {
            field(*p, "Uid").is_ok_and(|u| u.starts_with(&uid.to_string()))
                && field(*p, "State").is_ok_and(|s| !s.starts_with('Z'))
        })
        .ok_or_else(|| format!("no process runs as uid {uid}"))
}

/// Whether `xm list` output shows `name` with id `id` ("-": not running).
pub fn listed(out: &str, name: &str, id: &str) -> bool {
    out.lines()
        .any(|l| l.split_whitespace().take(2).eq([name, id]))
}

/// Polls `f` until it gives `Ok(true)`, at most `limit`; `what` names the
/// wait in the error.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let t = Instant::now();
    while !f()? {
        check(t.elapsed() < limit, format!("timed out: {what}"))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The accounts of a hermetic stack.
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    pub xvm: u32,
    /// virt_manage by the group `virt`.
    pub alice: u32,
    /// Nothing.
    pub bob: u32,
    pub virt: u32,
}

/// Lays out a hermetic system-mode root under `base` (accounts, policy,
/// xVM directories, the test guest's image) and writes `base/test.cfg`.
pub fn setup(base: &Path, ids: Ids) -> Result<PathBuf, String> {
    let Ids {
        xvm: XVM,
        alice: ALICE,
        bob: BOB,
        virt: VIRT,
    } = ids;
    let e = |e: std::io::Error| e.to_string();
    fake_users(
        base,
        &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)],
        &[("virt", VIRT, &["alice"])],
    )?;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).map_err(e)?;
    let root = base.join("root");
    write_policy(
        &root,
        "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n",
    )?;
    for (d, mode) in [
        ("run/xenstored", 0o755),
        ("var/lib/xend/storage", 0o700),
        ("var/lib/xend/domains", 0o700),
    ] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(e)?;
        std::os::unix::fs::chown(&p, Some(XVM), Some(XVM)).map_err(e)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(e)?;
    }
    let img = root.join("var/lib/xend/storage/test.img");
    std::fs::write(&img, boot_sector()).map_err(e)?;
    std::os::unix::fs::chown(&img, Some(XVM), Some(XVM)).map_err(e)?;
    let cfg = base.join("test.cfg");
    std::fs::write(
        &cfg,
        format!(
            "name = \"testguest\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\ndisk = [ '{},raw,hda,rw' ]\nserial = \"pty\"\nvnc = 1\n",
            img.display()
        ),
    )
    .map_err(e)?;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).map_err(e)?;
    Ok(root)
}

/// The hermetic system-mode stack: [`setup`], then xenstored and xend
/// (with `xend_args` more) with device models at `dm_base` + domid.
/// Returns the root and both daemons, stopped when dropped.
pub fn stack(
    base: &Path,
    ids: Ids,
    dm_base: u32,
    xend_args: &[&str],
) -> Result<(PathBuf, Daemon, Daemon), String> {
    let root = setup(base, ids)?;
    let dm = dm_base.to_string();
    let xs = start(
        "xenstored",
        &["-N", "--system", "--dm-uid-base", &dm],
        &root,
        &base.join("xenstored.log"),
        "xenstored serving",
    )?;
    let mut args = vec!["--system", "--dm-uid-base", &dm];
    args.extend_from_slice(xend_args);
    let xend = start("xend", &args, &root, &base.join("xend.log"), "xend serving")?;
    Ok((root, xs, xend))
}
