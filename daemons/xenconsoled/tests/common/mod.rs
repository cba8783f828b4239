//! The fixture of xenconsoled's daemon tests: a hermetic tree with a real
//! xenstored, the test standing in for xend (the store keys it writes,
//! the domain introduced) and for the device model (a unix listener on
//! `<xend run>/domains/N/serial`), and xenconsoled itself.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, chown};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xenstored::client::{Client, ClientError};
use xenstored::wire::XsError;
use xvm_tests::{Accounts, Daemon, Error, Hermetic, check};

/// How long anything the daemon does may take on a loaded machine.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// A failure of `what` as the test's error.
pub(crate) fn ck<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, Error> {
    r.map_err(|e| Error::Check(format!("{what}: {e}")))
}

/// The tree, its xenstored, and a root client of the store (dom0).
pub(crate) struct Fixture {
    /// Our xenconsoled (dropped first).
    pub(crate) xcd: Option<Daemon>,
    /// The store.
    pub(crate) xenstored: Daemon,
    /// A client of the store, as xend is.
    pub(crate) xs: Client,
    /// The tree (dropped last).
    pub(crate) tree: Hermetic,
    /// Domains introduced so far (each gets its own /vm/UUID).
    pub(crate) domains: u32,
}

impl Fixture {
    /// A tree named `name` with accounts from `base`, xenstored started
    /// in system mode, and xend's run directory laid out.
    pub(crate) fn new(name: &str, base: u32) -> Result<Fixture, Error> {
        let accounts = Accounts::from_base(base);
        let tree = Hermetic::new(name, accounts)?;
        tree.lay_out_xvm_dirs()?;
        for (d, mode) in [("run/xend", 0o711), ("run/xend/domains", 0o700)] {
            let p = tree.root().join(d);
            std::fs::create_dir_all(&p).map_err(Error::io("create", &p))?;
            tree.give_xvm(&p)?;
            xvm_tests::hermetic::set_mode(&p, mode)?;
        }
        let xenstored = xvm_tests::stack::start_xenstored(&tree)?;
        let sock = tree.root().join("run/xenstored/socket");
        let xs = ck(Client::connect(&sock), "connecting to xenstored")?;
        Ok(Fixture {
            xcd: None,
            xenstored,
            xs,
            tree,
            domains: 0,
        })
    }

    /// The tree's xvm uid.
    pub(crate) fn xvm(&self) -> u32 {
        self.tree.accounts().xvm
    }

    /// Starts xenconsoled (`--system`, `args` more), its log in `log`.
    pub(crate) fn start_xcd(&mut self, log: &str, args: &[&str]) -> Result<i32, Error> {
        let mut cmd = self
            .tree
            .command(Path::new(env!("CARGO_BIN_EXE_xenconsoled")));
        cmd.arg("--system").args(args);
        let d = Daemon::spawn("xenconsoled", cmd, &self.tree.base().join(log))?
            .ready_when_logged("xenconsoled serving")?;
        self.tree.reap_at_end(d.pid());
        let pid = d.pid();
        self.xcd = Some(d);
        Ok(pid)
    }

    /// xenconsoled's log so far.
    pub(crate) fn xcd_log(&self) -> String {
        self.xcd.as_ref().map(Daemon::log_text).unwrap_or_default()
    }

    /// The device model's stand-in: a listener on the domain's serial
    /// socket, made in a 0700 xvm directory as xend makes it.
    pub(crate) fn standin(&self, domid: u32) -> Result<UnixListener, Error> {
        let dir = self.tree.root().join(format!("run/xend/domains/{domid}"));
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        self.tree.give_xvm(&dir)?;
        xvm_tests::hermetic::set_mode(&dir, 0o700)?;
        let sock = dir.join("serial");
        let _ = std::fs::remove_file(&sock);
        let l = UnixListener::bind(&sock).map_err(Error::io("bind", &sock))?;
        let x = self.xvm();
        chown(&sock, Some(x), Some(x)).map_err(Error::io("chown", &sock))?;
        l.set_nonblocking(true)
            .map_err(Error::io("nonblocking", &sock))?;
        Ok(l)
    }

    /// Writes what xend writes for domain `domid` and introduces it.
    pub(crate) fn introduce(
        &mut self,
        domid: u32,
        name: &str,
        tcp: Option<&str>,
    ) -> Result<(), Error> {
        let base = format!("/local/domain/{domid}");
        let reader = format!("r{domid}");
        self.domains += 1;
        let vm = format!("/vm/00000000-0000-4000-8000-{:012x}", self.domains);
        let r = self.xs.transaction(5, |c, tx| {
            c.write(tx, &format!("{base}/name"), name.as_bytes())?;
            c.write(tx, &format!("{base}/domid"), domid.to_string().as_bytes())?;
            // xend's /vm/UUID: unique to this domain, whatever its domid.
            c.write(tx, &format!("{base}/vm"), vm.as_bytes())?;
            for d in ["console", "serial/0"] {
                c.mkdir(tx, &format!("{base}/{d}"))?;
                c.set_perms(tx, &format!("{base}/{d}"), &["n0", &reader])?;
            }
            c.write(tx, &format!("{base}/console/type"), b"xenconsoled")?;
            c.write(tx, &format!("{base}/console/limit"), b"1048576")?;
            if let Some(t) = tcp {
                c.write(tx, &format!("{base}/serial/0/tcp"), t.as_bytes())?;
            }
            Ok(())
        });
        ck(r, "writing the domain's keys")?;
        ck(
            self.xs.set_perms(0, &base, &[&format!("n{domid}"), "r0"]),
            "set_perms",
        )?;
        ck(self.xs.introduce(domid, 0, 1), "introduce")
    }

    /// Releases domain `domid` and removes its keys, as xend does.
    pub(crate) fn release(&mut self, domid: u32) -> Result<(), Error> {
        let _ = self.xs.rm(0, &format!("/local/domain/{domid}"));
        ck(self.xs.release(domid), "release")
    }

    /// A store key, once it is there.
    pub(crate) fn wait_key(&mut self, path: &str) -> Result<String, Error> {
        let t = Instant::now();
        loop {
            match self.xs.read(0, path) {
                Ok(v) => return Ok(String::from_utf8_lossy(&v).into_owned()),
                Err(ClientError::Xs(XsError::Enoent)) if t.elapsed() < LIMIT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(Error::Check(format!(
                        "{path}: {e}; xenconsoled's log:\n{}",
                        self.xcd_log()
                    )));
                }
            }
        }
    }
}

/// The connection xenconsoled makes to the stand-in, within [`LIMIT`].
pub(crate) fn accept(l: &UnixListener) -> Result<UnixStream, Error> {
    let t = Instant::now();
    loop {
        match l.accept() {
            Ok((s, _)) => {
                ck(s.set_nonblocking(false), "blocking")?;
                ck(s.set_read_timeout(Some(Duration::from_secs(2))), "timeout")?;
                return Ok(s);
            }
            Err(_) if t.elapsed() < LIMIT => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Error::Check(format!("xenconsoled never connected: {e}"))),
        }
    }
}

/// Reads `r` until `want` has arrived (within [`LIMIT`]); what arrived.
pub(crate) fn read_until(
    r: &mut impl Read,
    ready: impl Fn() -> bool,
    want: &[u8],
) -> Result<Vec<u8>, Error> {
    let t = Instant::now();
    let mut got = Vec::new();
    while !got.windows(want.len()).any(|w| w == want) {
        check(
            t.elapsed() < LIMIT,
            format!(
                "{:?} never arrived; got {:?}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&got)
            ),
        )?;
        if !ready() {
            continue;
        }
        let mut buf = [0u8; 4096];
        match r.read(&mut buf) {
            Ok(0) => return Err(Error::Check(format!("closed after {got:?}"))),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(Error::Check(format!("read: {e}"))),
        }
    }
    Ok(got)
}

/// Opens a pty slave as a console client does.
pub(crate) fn open_tty(path: &str) -> Result<File, Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(path)
        .map_err(Error::io("open", Path::new(path)))
}

/// Reads the tty until `want` (polling, so a read never blocks).
pub(crate) fn read_tty(tty: &mut File, want: &[u8]) -> Result<Vec<u8>, Error> {
    let fd = tty
        .try_clone()
        .map_err(Error::io("dup", Path::new("tty")))?;
    read_until(
        tty,
        move || privlib::os::poll::readable(fd.as_fd(), 100),
        want,
    )
}

/// Writes all of `b`.
pub(crate) fn send(w: &mut impl Write, b: &[u8]) -> Result<(), Error> {
    ck(w.write_all(b), "write")
}

/// A field of `/proc/PID/status`.
pub(crate) fn status_field(pid: i32, key: &str) -> Result<String, Error> {
    let p = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(&p).map_err(Error::io("read", &p))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_default())
}

/// Sends `sig` to `pid`.
pub(crate) fn kill(sig: &str, pid: i32) -> Result<(), Error> {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map_err(|source| Error::Spawn {
            program: "kill".into(),
            source,
        })?;
    check(st.success(), format!("kill {sig} {pid}"))
}

/// Waits for `f` to hold, at most [`LIMIT`].
pub(crate) fn wait_for(what: &str, f: impl FnMut() -> Result<bool, Error>) -> Result<(), Error> {
    xvm_tests::wait_until(LIMIT, what, f)
}

/// Every file in `dir` and its size.
pub(crate) fn sizes(dir: &Path) -> Result<Vec<(String, u64)>, Error> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let e = e.map_err(Error::io("list", dir))?;
        let len = e.metadata().map_err(Error::io("stat", &e.path()))?.len();
        v.push((e.file_name().to_string_lossy().into_owned(), len));
    }
    v.sort();
    Ok(v)
}

/// Makes `p` 0755 (a directory the test made).
pub(crate) fn open_up(p: &Path) -> Result<(), Error> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .map_err(Error::io("chmod", p))
}
