//! The fixture of the setuid tests: a root-owned scratch root R (a
//! private tmpfs) with its own accounts and policy, a setuid-root copy of
//! the built xenconsole at `R/usr/lib/xen/bin/xenconsole`, a real
//! xenstored serving R, domain 5 (`g`) introduced with its console keys
//! naming a pty the test made (xvm's, 0600, as xenconsoled makes it), and
//! users' terminals: ptys the test drives from the master side.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use privlib::os::poll::readable;
use privlib::os::tty::{Pty, open_pty};
use privlib::testing::{fake_users, write_policy};
use xenstored::client::Client;
use xvm_tests::hermetic::{copy_binary, set_mode};
use xvm_tests::stack::Xenstored;

/// The console daemon's account.
pub const XVM: u32 = 47_500;
/// Holds `virt_manage` by membership of `virt` alone.
pub const ALICE: u32 = 47_101;
/// Holds nothing.
pub const BOB: u32 = 47_102;
/// The group the policy grants `virt_manage`.
pub const VIRT: u32 = 47_200;
/// The domain the tests attach to.
pub const DOMID: u32 = 5;
/// Its name.
pub const NAME: &str = "g";

/// The shipped policy's shape, with `virt` as the management group.
pub const POLICY: &str =
    "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n";

pub use xvm_tests::error::{Error, check};

/// A test's result: the fixture's one error type.
pub type R<T> = Result<T, Error>;

/// A failed step whose cause is only shown (a child's exit, a parse).
fn s(e: impl std::fmt::Display) -> Error {
    Error::Check(e.to_string())
}

/// Makes `dirs` under `base`, each root's and 0755.
fn mkdirs(base: &Path, rel: &str) -> R<PathBuf> {
    let mut p = base.to_path_buf();
    for c in Path::new(rel).components() {
        p.push(c);
        if !p.exists() {
            std::fs::create_dir(&p).map_err(s)?;
        }
        set_mode(&p, 0o755).map_err(s)?;
    }
    Ok(p)
}

/// A store under `root` with domain 5 named `g`, its serial and PV
/// console keys naming `tty`.
pub struct Store {
    /// The daemon (killed on drop).
    pub daemon: Xenstored,
    /// A root (xvm_control) connection.
    pub client: Client,
}

impl Store {
    /// Starts xenstored for the root `root` (policy already written).
    pub fn start(root: &Path, tty: &Path) -> R<Store> {
        mkdirs(root, "run")?;
        let daemon = Xenstored::start(
            &root.join("run/xenstored"),
            &["--dm-uid-base", "49000"],
            &[("XVM_ROOT", root)],
        )
        .map_err(s)?;
        let mut client = Client::connect(&daemon.socket()).map_err(s)?;
        client.introduce(DOMID, 0, 1).map_err(s)?;
        let home = format!("/local/domain/{DOMID}");
        client.mkdir(0, &home).map_err(s)?;
        client
            .write(0, &format!("{home}/name"), NAME.as_bytes())
            .map_err(s)?;
        let mut st = Store { daemon, client };
        st.set_tty(tty.as_os_str().as_encoded_bytes())?;
        Ok(st)
    }

    /// Points both console keys of domain 5 at `value`.
    pub fn set_tty(&mut self, value: &[u8]) -> R<()> {
        for key in ["console/tty", "serial/0/tty"] {
            self.client
                .write(0, &format!("/local/domain/{DOMID}/{key}"), value)
                .map_err(s)?;
        }
        Ok(())
    }
}

/// R, its installed client, its store and the console pty.
pub struct Fixture {
    /// The root.
    pub root: PathBuf,
    /// The setuid-root xenconsole.
    pub exe: PathBuf,
    /// The store.
    pub store: Store,
    /// Domain 5's console, as xenconsoled holds it: the master is the
    /// guest's side.
    pub console: Pty,
}

impl Fixture {
    /// Lays out R (the private tmpfs `root`) and starts its store.
    pub fn new(root: &Path) -> R<Fixture> {
        set_mode(root, 0o755).map_err(s)?;
        fake_users(
            root,
            &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)],
            &[("virt", VIRT, &["alice"])],
        )
        .map_err(s)?;
        mkdirs(root, "etc/xvm")?;
        write_policy(root, POLICY).map_err(s)?;
        let bin = mkdirs(root, "usr/lib/xen/bin")?;
        let exe =
            copy_binary(env!("CARGO_BIN_EXE_xenconsole"), &bin, "xenconsole", 0o4755).map_err(s)?;
        let console = open_pty(XVM, XVM).map_err(s)?;
        let store = Store::start(root, &console.path)?;
        Ok(Fixture {
            root: root.to_path_buf(),
            exe,
            store,
            console,
        })
    }
}

/// A user's terminal: a pty whose slave is the client's stdin and
/// stdout, in cooked mode as a shell leaves it.
pub struct Term {
    /// The pty; the test drives the master.
    pub pty: Pty,
}

impl Term {
    /// A terminal owned by `uid`, set `stty sane`.
    pub fn new(uid: u32) -> R<Term> {
        let pty = open_pty(uid, uid).map_err(s)?;
        let st = Command::new("stty")
            .arg("sane")
            .stdin(Stdio::from(pty.slave.try_clone().map_err(s)?))
            .status()
            .map_err(|source| Error::Spawn {
                program: "stty".into(),
                source,
            })?;
        check(st.success(), "stty sane")?;
        Ok(Term { pty })
    }

    /// The terminal's modes, as text to compare.
    pub fn modes(&self) -> R<String> {
        Ok(format!(
            "{:?}",
            privlib::os::tty::get_modes(self.pty.slave.as_fd()).map_err(s)?
        ))
    }

    /// Whether the terminal is raw now.
    pub fn is_raw(&self) -> R<bool> {
        Ok(privlib::os::tty::get_modes(self.pty.slave.as_fd())
            .map_err(s)?
            .is_raw())
    }

    /// Types `bytes` (writes them on the master).
    pub fn type_in(&self, bytes: &[u8]) -> R<()> {
        write_all(&self.pty.master, bytes)
    }
}

/// Writes `bytes` to `fd`.
pub fn write_all(fd: &OwnedFd, bytes: &[u8]) -> R<()> {
    File::from(fd.try_clone().map_err(s)?)
        .write_all(bytes)
        .map_err(s)
}

/// Reads `fd` until `needle` has arrived (at most `secs`); what arrived.
pub fn read_until(fd: &OwnedFd, needle: &[u8], secs: u64) -> R<Vec<u8>> {
    let mut f = File::from(fd.try_clone().map_err(s)?);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!(
                    "{:?}; got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&got)
                ),
                secs,
            });
        }
        if readable(fd.as_fd(), 100) {
            let n = f.read(&mut buf).map_err(s)?;
            got.extend_from_slice(&buf[..n]);
        }
    }
    Ok(got)
}

/// Whatever arrives on `fd` within `ms`.
pub fn drain(fd: &OwnedFd, ms: i32) -> R<Vec<u8>> {
    let mut f = File::from(fd.try_clone().map_err(s)?);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while readable(fd.as_fd(), ms) {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(got)
}

/// Runs `exe ARGS` as `uid` with `groups` (setpriv; no supplementary
/// group when empty), its stdin and stdout the terminal `term`, stderr
/// a pipe, and only `envs` in its environment.
pub fn spawn_as(
    exe: &Path,
    uid: u32,
    groups: &[u32],
    term: &Term,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> R<Child> {
    let groups = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        let g: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", g.join(","))
    };
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg(groups)
        .arg(exe)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::from(term.pty.slave.try_clone().map_err(s)?))
        .stdout(Stdio::from(term.pty.slave.try_clone().map_err(s)?))
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().map_err(|source| Error::Spawn {
        program: format!("setpriv {}", exe.display()),
        source,
    })
}

/// Waits at most `secs` for `child`; its exit code and stderr. A child
/// still running then is killed and reported.
pub fn finish(mut child: Child, secs: u64) -> R<(i32, String)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().map_err(s)? {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).map_err(s)?;
            }
            return Ok((st.code().unwrap_or(-1), err));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                what: format!("pid {} to end (killed)", child.id()),
                secs,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits at most `secs` until `f` holds.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> R<bool>) -> R<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f()? {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                secs,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The value of `key` in `/proc/PID/status`.
pub fn status_field(pid: u32, key: &str) -> R<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(s)?;
    Ok(xvm_tests::procfs::field(&text, key).to_string())
}
