//! What the console tests drive: a [`Terminal`] (a pty whose slave is a
//! client's stdin, stdout and controlling terminal, as a user's terminal
//! is, and whose master the test reads and types into), the Linux guest's
//! domain config, and free loopback ports.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use privlib::os::tty;

use crate::bins::bin;
use crate::daemon::Daemon;
use crate::error::{Error, check};
use crate::guest::LINUX_BANNER;
use crate::hermetic::{Hermetic, User, set_mode};

/// Ctrl-]: the console clients' detach key.
pub const DETACH: u8 = 0x1d;

/// A client running on a pty the test drives; killed when dropped.
#[derive(Debug)]
pub struct Terminal {
    child: Child,
    master: std::fs::File,
    /// Kept open so the modes can be read after the client ends.
    slave: OwnedFd,
    before: tty::Modes,
    seen: Arc<Shown>,
    cursor: usize,
}

/// What a terminal has shown, and a signal for each new piece.
#[derive(Debug, Default)]
struct Shown {
    bytes: Mutex<Vec<u8>>,
    more: Condvar,
}

/// `setpriv` arguments that make the caller `who`.
pub fn setpriv_args(who: &User) -> Vec<String> {
    let groups = if who.groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        let g: Vec<String> = who.groups.iter().map(u32::to_string).collect();
        format!("--groups={}", g.join(","))
    };
    vec![
        format!("--reuid={}", who.uid),
        format!("--regid={}", who.uid),
        groups,
    ]
}

impl Terminal {
    /// Runs `program ARGS` as `who` in `tree`'s namespace (its accounts
    /// are the ones the client's policy check sees), with `envs`, in a new
    /// session whose controlling terminal is a fresh pty owned by `who`,
    /// set to sane (cooked) modes first as a login terminal is. The pty
    /// is its stdin and stdout; its stderr too unless `stderr` is given.
    pub fn spawn(
        tree: &Hermetic,
        who: &User,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        stderr: Option<Stdio>,
    ) -> Result<Terminal, Error> {
        let pty = tty::open_pty(who.uid, who.uid).map_err(Error::io("open a pty", "/dev/ptmx"))?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(Error::io("dup", &pty.path));
        let st = Command::new("stty")
            .arg("sane")
            .stdin(Stdio::from(dup(&pty.slave)?))
            .status()
            .map_err(|source| Error::Spawn {
                program: "stty".into(),
                source,
            })?;
        check(
            st.success(),
            format!("stty sane on {}: {st}", pty.path.display()),
        )?;
        let before = tty::get_modes(pty.slave.as_fd()).map_err(Error::io("modes", &pty.path))?;
        let mut cmd = tree.command(Path::new("setsid"));
        cmd.args(["--ctty", "--wait", "setpriv"])
            .args(setpriv_args(who))
            .arg(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::from(dup(&pty.slave)?))
            .stdout(Stdio::from(dup(&pty.slave)?))
            .stderr(match stderr {
                Some(s) => s,
                None => Stdio::from(dup(&pty.slave)?),
            });
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            program: format!("{} (on a pty)", program.display()),
            source,
        })?;
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().map_err(Error::io("dup", &pty.path))?;
        let seen = Arc::new(Shown::default());
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            // EIO once no slave fd is left open: the terminal is gone.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.bytes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&buf[..n]);
                sink.more.notify_all();
            }
        });
        Ok(Terminal {
            child,
            master,
            slave: pty.slave,
            before,
            seen,
            cursor: 0,
        })
    }

    /// The client's pid (it execs: `setsid` and `setpriv` keep the pid).
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    /// Types `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.master
            .write_all(bytes)
            .map_err(Error::io("type into", "the pty master"))
    }

    /// Everything the terminal has shown so far.
    pub fn output(&self) -> Vec<u8> {
        self.seen
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many bytes the terminal has shown so far.
    pub fn shown(&self) -> usize {
        self.seen
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until `needle` shows after what earlier calls matched, at
    /// most `limit`; moves past it. The error quotes what showed. Woken
    /// by each read of the terminal (no polling delay: the benchmark
    /// times keystrokes with it).
    pub fn expect(&mut self, needle: &[u8], limit: Duration) -> Result<(), Error> {
        let t = Instant::now();
        let mut got = self
            .seen
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let from = self.cursor.min(got.len());
        // Where the next search starts: what was searched is not again.
        let mut scanned = from;
        loop {
            if let Some(i) = find(&got[scanned..], needle) {
                self.cursor = scanned + i + needle.len();
                return Ok(());
            }
            scanned = got.len().saturating_sub(needle.len()).max(from);
            let left = limit.saturating_sub(t.elapsed());
            if left.is_zero() {
                let tail = &got[from..];
                let tail = &tail[tail.len().saturating_sub(2000)..];
                return Err(Error::Check(format!(
                    "no {:?} on the terminal after {} s; it showed {:?}",
                    String::from_utf8_lossy(needle),
                    limit.as_secs(),
                    String::from_utf8_lossy(tail)
                )));
            }
            got = self
                .seen
                .more
                .wait_timeout(got, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits for the client to end, at most `limit`; its exit code (-1:
    /// killed by a signal).
    pub fn wait_exit(&mut self, limit: Duration) -> Result<i32, Error> {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().map_err(Error::io("wait", "client"))? {
                return Ok(st.code().unwrap_or(-1));
            }
            if t.elapsed() > limit {
                return Err(Error::Timeout {
                    what: "the console client to exit".into(),
                    secs: limit.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The terminal's modes now, and those it had before the client ran
    /// (as text: `Modes` has no equality).
    pub fn modes(&self) -> Result<(String, String), Error> {
        let now = tty::get_modes(self.slave.as_fd()).map_err(Error::io("modes", "pty"))?;
        Ok((format!("{now:?}"), format!("{:?}", self.before)))
    }

    /// Whether the terminal is in raw mode now (the client set it).
    pub fn is_raw(&self) -> Result<bool, Error> {
        let now = tty::get_modes(self.slave.as_fd()).map_err(Error::io("modes", "pty"))?;
        Ok(now.is_raw())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A loopback TCP port nobody listens on now.
pub fn free_port() -> Result<u16, Error> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind", "127.0.0.1:0"))?;
    let a = l
        .local_addr()
        .map_err(Error::io("local address", "127.0.0.1:0"))?;
    Ok(a.port())
}

/// A VNC display number (port 5900 + N) free now, from 10 up.
pub fn free_vnc_display() -> Result<u32, Error> {
    (10..100u16)
        .find(|d| TcpListener::bind(("127.0.0.1", 5900 + d)).is_ok())
        .map(u32::from)
        .ok_or_else(|| Error::Check("no free VNC display in 10..99".into()))
}

/// The Linux guest's domain: `name`, its kernel and initrd copied (xvm's)
/// into `images` (an image directory of xend's), `cmdline`, serial on
/// the pty and on `tcp:127.0.0.1:serial_port`, VNC on 127.0.0.1 display
/// `vnc_display`; the config written as `dir/NAME.cfg`, its path.
#[derive(Clone, Debug)]
pub struct LinuxDomain<'a> {
    /// The domain's name.
    pub name: &'a str,
    /// The kernel to copy.
    pub kernel: &'a Path,
    /// The initrd to copy.
    pub initrd: &'a Path,
    /// The kernel's command line.
    pub cmdline: &'a str,
    /// Memory, MiB.
    pub memory: u32,
    /// The TCP serial port on 127.0.0.1.
    pub serial_port: u16,
    /// The VNC display on 127.0.0.1.
    pub vnc_display: u32,
}

impl LinuxDomain<'_> {
    /// Copies the files into `images` (made xvm's by `tree`) and writes
    /// the config into `dir`.
    pub fn write(&self, tree: &Hermetic, images: &Path, dir: &Path) -> Result<PathBuf, Error> {
        let mut copied = Vec::new();
        for (src, file) in [(self.kernel, "vmlinuz"), (self.initrd, "initrd.gz")] {
            let dst = images.join(format!("{}-{file}", self.name));
            std::fs::copy(src, &dst).map_err(Error::io("copy to", &dst))?;
            tree.give_xvm(&dst)?;
            set_mode(&dst, 0o644)?;
            copied.push(dst);
        }
        let cfg = dir.join(format!("{}.cfg", self.name));
        let text = format!(
            "name = \"{}\"\ntype = \"hvm\"\nmemory = {}\nvcpus = 1\n\
             kernel = \"{}\"\nramdisk = \"{}\"\ncmdline = \"{}\"\n\
             serial = 'tcp:127.0.0.1:{}'\n\
             vnc = 1\nvnclisten = \"127.0.0.1\"\nvncdisplay = {}\n",
            self.name,
            self.memory,
            copied[0].display(),
            copied[1].display(),
            self.cmdline,
            self.serial_port,
            self.vnc_display
        );
        std::fs::write(&cfg, text).map_err(Error::io("write", &cfg))?;
        set_mode(&cfg, 0o644)?;
        Ok(cfg)
    }
}

/// A TCP console client: connects to `addr`, types `send`, and reads
/// until `until` shows, EOF, or `limit`; what it read and whether the
/// server closed. For a forked child that runs as a test user (the
/// server's gate asks the kernel who owns the socket).
pub fn tcp_console(
    addr: SocketAddr,
    send: &[u8],
    until: &[u8],
    limit: Duration,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut s = TcpStream::connect_timeout(&addr, limit)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    // The server may close at once (a refusal): typing then fails, which
    // is what the reads below report.
    let _ = s.write_all(send);
    let mut got = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit && find(&got, until).is_none() {
        match s.read(&mut buf) {
            Ok(0) => return Ok((got, true)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok((got, true)),
            Err(e) => return Err(e),
        }
    }
    Ok((got, false))
}

/// The resident set of `pid`, in KiB (`VmRSS`).
pub fn rss_kib(pid: i32) -> Result<u64, Error> {
    let v = crate::procfs::status_field(pid, "VmRSS")?;
    v.trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| Error::Check(format!("pid {pid} VmRSS: {v:?}")))
}

/// The pids whose command name (`/proc/PID/comm`) is `comm`.
pub fn pids_named(comm: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
                .filter(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/comm"))
                        .is_ok_and(|c| c.trim_end() == comm)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `vncsnapshot` (Debian's, a real VNC client) of 127.0.0.1's `display`
/// as `who` into `file`, at most 60 s; its exit code.
pub fn vnc_snapshot(who: &User, display: u32, file: &Path) -> Result<i32, Error> {
    let o = Command::new("timeout")
        .arg("60")
        .arg("setpriv")
        .args(setpriv_args(who))
        .args(["vncsnapshot", "-quiet", "-allowblank"])
        .arg(format!("127.0.0.1:{display}"))
        .arg(file)
        .output()
        .map_err(|source| Error::Spawn {
            program: "vncsnapshot".into(),
            source,
        })?;
    Ok(o.status.code().unwrap_or(-1))
}

/// The size of the JPEG at `p`, after checking that it is one (SOI
/// first, EOI last).
pub fn jpeg_len(p: &Path) -> Result<usize, Error> {
    let b = std::fs::read(p).map_err(Error::io("read", p))?;
    check(
        b.len() > 100 && b.starts_with(&[0xff, 0xd8, 0xff]) && b.ends_with(&[0xff, 0xd9]),
        format!("{} is no JPEG ({} bytes)", p.display(), b.len()),
    )?;
    Ok(b.len())
}

/// A store of `who`'s own, as a user could start one to fool a client:
/// session-mode xenstored as `who` (run directory `dir`, made theirs),
/// holding `/local/domain/DOMID` with `name` and a console and serial
/// tty `tty`; its socket is `dir/socket`.
pub fn own_store(
    who: &User,
    dir: &Path,
    domid: u32,
    name: &str,
    tty: &Path,
) -> Result<Daemon, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    std::os::unix::fs::chown(dir, Some(who.uid), Some(who.uid)).map_err(Error::io("chown", dir))?;
    set_mode(dir, 0o700)?;
    let mut cmd = Command::new("setpriv");
    cmd.args(setpriv_args(who))
        .arg(bin("xenstored")?)
        .args(["-N", "--session"])
        .env("XENSTORED_RUNDIR", dir)
        .env_remove("XVM_ROOT");
    let daemon = Daemon::spawn("own xenstored", cmd, &dir.with_extension("log"))?
        .ready_when_logged("xenstored serving")?;
    let d = format!("/local/domain/{domid}");
    let tty = tty.display().to_string();
    for (k, v) in [
        ("name", name),
        ("console/tty", &tty),
        ("serial/0/tty", &tty),
    ] {
        write_as(who, dir, &format!("{d}/{k}"), v)?;
    }
    Ok(daemon)
}

/// Debian's `xenstore-write KEY VALUE` run as `who` against the store
/// whose socket is `dir/socket`; it must succeed.
pub fn write_as(who: &User, dir: &Path, key: &str, value: &str) -> Result<(), Error> {
    let o = Command::new("setpriv")
        .args(setpriv_args(who))
        .args(["xenstore-write", key, value])
        .env("XENSTORED_PATH", dir.join("socket"))
        .output()
        .map_err(|source| Error::Spawn {
            program: "xenstore-write".into(),
            source,
        })?;
    check(o.status.success(), format!("xenstore-write {key}: {o:?}"))
}

/// Whether KVM boots the Linux guest here: `/dev/kvm` opens and a root
/// qemu under KVM reaches the guest's own banner ([`LINUX_BANNER`],
/// printed by its init) within 20 s (a few where KVM works). On some
/// nested hosts /dev/kvm opens, a boot sector runs, and a Linux kernel
/// stops for good: after the setup code's "Probing EDD" on some days,
/// half a second into the kernel's own boot on others (so the kernel's
/// first line is no proof); the console tests then run the guest under
/// TCG. `XVM_CONSOLE_KVM=1` or `=0` decides without the probe. Asked once
/// per process.
pub fn kvm_boots_linux(kernel: &Path, initrd: &Path) -> bool {
    static KVM: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KVM.get_or_init(|| match std::env::var("XVM_CONSOLE_KVM").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => probe_kvm(kernel, initrd),
    })
}

fn probe_kvm(kernel: &Path, initrd: &Path) -> bool {
    let opens = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !opens {
        return false;
    }
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "kvm", "-m", "256", "-display", "none"])
        .args(["-nodefaults", "-no-user-config", "-serial", "stdio"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 earlyprintk=ttyS0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || {
            let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
            while let Ok(n @ 1..) = out.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
                if find(&got, LINUX_BANNER.as_bytes()).is_some() {
                    let _ = tx.send(());
                    return;
                }
            }
        });
    }
    let booted = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    booted
}
