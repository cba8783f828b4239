//! The network tests' fixtures: a network namespace of the test's own
//! (the test binary runs itself again inside a fresh one, so every
//! daemon, qemu, tap, bridge and `ping` it starts lives there and
//! nothing of the host's network is seen or touched), a bridge with an
//! address in it, an uplink for passt, what `ip` says of an interface,
//! what a process's fds are (inet sockets, taps), the Linux guest's
//! config with a `vif`, and a shell on a domain's serial socket.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::console::{LinuxDomain, find, free_port, free_vnc_display};
use crate::error::{Error, check};
use crate::hermetic::Hermetic;

/// Set in the copy of a test binary that runs in the new namespace: the
/// name of the test it runs there.
pub const NETNS_ENV: &str = "XVM_TEST_IN_NETNS";

/// The bridge of the system-mode tests (xend's default).
pub const BRIDGE: &str = "xenbr0";
/// The host's address on it.
pub const HOST_IP: &str = "10.77.0.1";
/// The guest's address (the kernel command line gives it).
pub const GUEST_IP: &str = "10.77.0.2";
/// The prefix length of both.
pub const PREFIX: u8 = 24;

/// The uplink passt takes its addresses and routes from (session mode):
/// the host's address on it; the guest gets it too (by passt's DHCP).
pub const UPLINK_IP: &str = "10.88.0.2";
/// The uplink's gateway: the address passt maps to the host's loopback.
pub const UPLINK_GW: &str = "10.88.0.1";

/// Whether this process is the copy running `test` in its namespace.
pub fn in_netns(test: &str) -> bool {
    std::env::var(NETNS_ENV).is_ok_and(|t| t == test)
}

/// Runs the test `test` of this test binary again, alone, in a new
/// network namespace (util-linux `unshare --net`), and waits for it: its
/// output is the copy's; an error when it failed. The copy sees
/// [`in_netns`] true for `test` and runs the test's body.
pub fn rerun_in_netns(test: &str) -> Result<(), Error> {
    let exe = std::env::current_exe().map_err(Error::io("find", "the test binary"))?;
    let st = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(NETNS_ENV, test)
        .status()
        .map_err(|source| Error::Spawn {
            program: "unshare --net".into(),
            source,
        })?;
    check(
        st.success(),
        format!("{test} in its network namespace: {st}"),
    )
}

/// `ip ARGS`; its stdout, or an error with its stderr.
pub fn ip(args: &[&str]) -> Result<String, Error> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: "ip".into(),
            source,
        })?;
    check(
        o.status.success(),
        format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        ),
    )?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// In the test's namespace: `lo` up (the stack's TCP consoles and
/// VNC listen there), and the bridge [`BRIDGE`] with [`HOST_IP`], up.
pub fn bridge_with_host_address() -> Result<(), Error> {
    ip(&["link", "set", "lo", "up"])?;
    ip(&["link", "add", BRIDGE, "type", "bridge"])?;
    ip(&["addr", "add", &format!("{HOST_IP}/{PREFIX}"), "dev", BRIDGE])?;
    ip(&["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// In the test's namespace: `lo` up, and an uplink passt can take for
/// the host's external interface: a veth pair, one end with
/// [`UPLINK_IP`] and the default route via [`UPLINK_GW`] (nobody
/// answers there: passt only reads them).
pub fn uplink_for_passt() -> Result<(), Error> {
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", "xvm-up0", "type", "veth", "peer", "name", "xvm-up1",
    ])?;
    ip(&["addr", "add", &format!("{UPLINK_IP}/24"), "dev", "xvm-up0"])?;
    ip(&["link", "set", "xvm-up1", "up"])?;
    ip(&["link", "set", "xvm-up0", "up"])?;
    ip(&["route", "add", "default", "via", UPLINK_GW])?;
    Ok(())
}

/// `ip -o link show NAME`, or `None` when there is no such interface.
pub fn link(name: &str) -> Option<String> {
    ip(&["-o", "link", "show", "dev", name]).ok()
}

/// Checks that the interface `name` is on `bridge` and up.
pub fn check_on_bridge(name: &str, bridge: &str) -> Result<(), Error> {
    let l = link(name).ok_or_else(|| Error::Check(format!("no interface {name}")))?;
    check(
        l.contains(&format!("master {bridge} ")) && l.contains(",UP"),
        format!("{name} is not up on {bridge}: {l}"),
    )
}

/// Makes a persistent tap `name` owned by nobody (as a device model
/// that ran `TUNSETPERSIST` on its fd leaves one), up on `bridge`.
pub fn persistent_tap_on(name: &str, bridge: &str) -> Result<(), Error> {
    ip(&["tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr"])?;
    ip(&["link", "set", name, "master", bridge, "up"])?;
    check_on_bridge(name, bridge)
}

/// Waits (at most `limit`) until there is no interface `name`.
pub fn wait_gone(name: &str, limit: Duration) -> Result<(), Error> {
    crate::wait_until(limit, &format!("interface {name} to go"), || {
        Ok(link(name).is_none())
    })
}

/// `ping -c COUNT -w LIMIT ADDR` from the test's namespace: whether every
/// packet came back, and its output.
pub fn ping(addr: &str, count: u32, limit: Duration) -> Result<(bool, String), Error> {
    let o = Command::new("ping")
        .args(["-n", "-c", &count.to_string(), "-w"])
        .arg(limit.as_secs().to_string())
        .arg(addr)
        .output()
        .map_err(|source| Error::Spawn {
            program: "ping".into(),
            source,
        })?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let all = out.contains(&format!("{count} received"))
        || out.contains(&format!("{count} packets received"));
    Ok((o.status.success() && all, out))
}

/// The socket inodes of `pid`'s open fds.
fn socket_inodes(pid: i32) -> Result<Vec<String>, Error> {
    let d = format!("/proc/{pid}/fd");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&d).map_err(Error::io("list", &d))? {
        let e = e.map_err(Error::io("list", &d))?;
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.to_string_lossy();
            if let Some(ino) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                v.push(ino.to_string());
            }
        }
    }
    Ok(v)
}

/// The inet (TCP, UDP, raw; v4 and v6) sockets among `pid`'s fds, as
/// `proto:inode`: the tables of `/proc/PID/net`, which are those of its
/// network namespace, hold every inet socket there by inode.
pub fn inet_sockets(pid: i32) -> Result<Vec<String>, Error> {
    let mine = socket_inodes(pid)?;
    let mut found = Vec::new();
    for proto in [
        "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6",
    ] {
        let p = format!("/proc/{pid}/net/{proto}");
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        for l in text.lines().skip(1) {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if let Some(ino) = l.split_whitespace().nth(9)
                && mine.iter().any(|m| m == ino)
            {
                found.push(format!("{proto}:{ino}"));
            }
        }
    }
    Ok(found)
}

/// What each of `pid`'s fds is (`N -> target`), for messages.
pub fn fd_links(pid: i32) -> String {
    let d = format!("/proc/{pid}/fd");
    let mut v: Vec<String> = std::fs::read_dir(&d)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| {
                    let t = std::fs::read_link(e.path()).unwrap_or_default();
                    format!("{} -> {}", e.file_name().to_string_lossy(), t.display())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(", ")
}

/// The taps `pid` holds open: the `iff:` of each tun fd.
pub fn taps_held(pid: i32) -> Result<Vec<String>, Error> {
    let d = format!("/proc/{pid}/fd");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&d).map_err(Error::io("list", &d))? {
        let e = e.map_err(Error::io("list", &d))?;
        // `/dev/net/tun`, named from wherever the reader's root sees the
        // device's mount (a device model's /dev is its own).
        if std::fs::read_link(e.path()).is_ok_and(|t| t.ends_with("net/tun")) {
            let info = format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy());
            let text = std::fs::read_to_string(&info).map_err(Error::io("read", &info))?;
            v.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("iff:"))
                    .map(|n| n.trim().to_string()),
            );
        }
    }
    Ok(v)
}

/// The Linux guest's kernel command line with its address on the
/// bridge and the host as its gateway.
pub fn cmdline_on_bridge() -> String {
    format!(
        "{} xvm.ip={GUEST_IP}/{PREFIX} xvm.gw={HOST_IP}",
        crate::guest::LINUX_CMDLINE
    )
}

/// Writes the Linux guest's config `name` (its files copied into the
/// tree's storage) with `memory` MiB, `cmdline`, and the vif `vif`
/// (`vif = [ 'VIF' ]`); TCP serial and VNC on free loopback ports.
pub fn linux_with_vif(
    tree: &Hermetic,
    images: &Path,
    linux: &crate::guest::LinuxGuest,
    name: &str,
    memory: u32,
    cmdline: &str,
    vif: &str,
) -> Result<PathBuf, Error> {
    let cfg = LinuxDomain {
        name,
        kernel: &linux.kernel,
        initrd: &linux.initrd,
        cmdline,
        memory,
        serial_port: free_port()?,
        vnc_display: free_vnc_display()?,
    }
    .write(tree, images, tree.base())?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&cfg)
        .map_err(Error::io("open", &cfg))?;
    writeln!(f, "vif = [ '{vif}' ]").map_err(Error::io("write", &cfg))?;
    Ok(cfg)
}

/// A root shell on a domain's serial socket (`<dir>/serial`, which
/// qemu accepts on), connected by the test itself (root may connect to
/// the domain's 0700 directory; no console daemon takes the socket).
#[derive(Debug)]
pub struct SerialShell {
    s: UnixStream,
    got: Vec<u8>,
    path: PathBuf,
}

impl SerialShell {
    /// Connects to `serial` (connect it before the guest speaks: what
    /// the guest writes while no client is connected is dropped).
    pub fn connect(serial: &Path) -> Result<SerialShell, Error> {
        let s = UnixStream::connect(serial).map_err(Error::io("connect", serial))?;
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(Error::io("timeout", serial))?;
        Ok(SerialShell {
            s,
            got: Vec::new(),
            path: serial.to_path_buf(),
        })
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.got).into_owned()
    }

    fn read_some(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; 4096];
        match self.s.read(&mut buf) {
            Ok(0) => Err(Error::Check(format!(
                "{} closed; it had sent {:?}",
                self.path.display(),
                self.tail()
            ))),
            Ok(n) => {
                self.got.extend_from_slice(&buf[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(Error::io("read", &self.path)(e)),
        }
    }

    fn tail(&self) -> String {
        let t = self.text();
        t[t.len().saturating_sub(1500)..].to_string()
    }

    /// Waits (at most `limit`) until `needle` arrived after byte `from`
    /// of what was read; where it ends.
    pub fn wait_for(&mut self, from: usize, needle: &str, limit: Duration) -> Result<usize, Error> {
        let t = Instant::now();
        loop {
            if let Some(i) = find(&self.got[from.min(self.got.len())..], needle.as_bytes()) {
                return Ok(from + i + needle.len());
            }
            if t.elapsed() > limit {
                return Err(Error::Timeout {
                    what: format!(
                        "{needle:?} on {}; it sent {:?}",
                        self.path.display(),
                        self.tail()
                    ),
                    secs: limit.as_secs(),
                });
            }
            self.read_some()?;
        }
    }

    /// Waits (at most `limit`) for the guest's shell: Enter is typed
    /// every few seconds until its prompt shows.
    pub fn wait_prompt(&mut self, limit: Duration) -> Result<(), Error> {
        let t = Instant::now();
        let prompt = crate::guest::LINUX_PROMPT;
        loop {
            let from = self.got.len();
            self.send("\r")?;
            match self.wait_for(from, prompt, Duration::from_secs(3)) {
                Ok(_) => return Ok(()),
                Err(e) if t.elapsed() > limit => return Err(e),
                Err(_) => {}
            }
        }
    }

    /// Types `text`.
    pub fn send(&mut self, text: &str) -> Result<(), Error> {
        self.s
            .write_all(text.as_bytes())
            .map_err(Error::io("write", &self.path))
    }

    /// Types `line` and an echo of a number the guest computes, waits
    /// (at most `limit`) for that number; what the guest sent from the
    /// typed line on.
    pub fn run(&mut self, line: &str, limit: Duration) -> Result<String, Error> {
        let (sum, expr) = crate::stack::token();
        let from = self.got.len();
        self.send(&format!("{line}; echo xvm-done-{expr}\r"))?;
        let end = self.wait_for(from, &format!("xvm-done-{sum}"), limit)?;
        Ok(String::from_utf8_lossy(&self.got[from..end]).into_owned())
    }
}
