//! Our daemons started for tests: one xenstored, the system-mode stack
//! (xenstored and xend over a [`Hermetic`] tree, and xenconsoled with the
//! setuid xenconsole installed when a test asks), the restarter, and `xm`
//! run as a test user.

use std::io::Read as _;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::bins::{bin, bindir};
use crate::console::{
    DETACH, LinuxDomain, Terminal, find, free_port, free_vnc_display, kvm_boots_linux,
};
use crate::daemon::Daemon;
use crate::error::{Error, check};
use crate::hermetic::{Accounts, Hermetic, User, copy_binary, set_mode};

/// One xenstored (`-N`, in the foreground) with its run directory.
#[derive(Debug)]
pub struct Xenstored {
    /// The daemon.
    pub daemon: Daemon,
    /// Its run directory (`XENSTORED_RUNDIR`).
    pub dir: PathBuf,
}

impl Xenstored {
    /// Starts `xenstored -N ARGS` with `envs`, run directory `dir`, its
    /// log beside it; waits until it serves.
    pub fn start(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Result<Xenstored, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        let mut cmd = Command::new(bin("xenstored")?);
        cmd.arg("-N").args(args).env("XENSTORED_RUNDIR", dir);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let daemon = Daemon::spawn("xenstored", cmd, &dir.with_extension("log"))?
            .ready_when_logged("xenstored serving")?;
        Ok(Xenstored {
            daemon,
            dir: dir.to_path_buf(),
        })
    }

    /// The read-write socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("socket")
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    /// Whether it still runs.
    pub fn alive(&self) -> bool {
        self.daemon.alive()
    }

    /// Ends it now (SIGKILL).
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// The read-only socket.
    pub fn socket_ro(&self) -> PathBuf {
        self.dir.join("socket_ro")
    }
}

/// Runs a xenstore-utils program (`xenstore-read`, ...) against `socket`.
///
/// # Panics
/// When the program cannot be started: the test has required it
/// ([`crate::require_program`]).
pub fn xs(socket: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("XENSTORED_PATH", socket)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// `cmd` (running `svc-startd`: `Command::new(bin("svc-startd")?)`, or
/// [`Hermetic::command`] of it) as `svc-startd --system` over
/// `manifests`, with `XVM_ROOT=root` and the workspace's binaries.
pub fn startd_system(mut cmd: Command, manifests: &Path, root: &Path) -> Command {
    cmd.arg("--system")
        .arg("--manifests")
        .arg(manifests)
        .arg("--bindir")
        .arg(bindir())
        .env("XVM_ROOT", root);
    cmd
}

/// What a client printed, and how it ended.
#[derive(Clone, Debug)]
pub struct Xm {
    /// Exit code (-1: killed).
    pub code: i32,
    /// Its stdout.
    pub out: String,
    /// Its stderr.
    pub err: String,
}

impl Xm {
    /// `Ok(self)` when it exited 0, else an error naming `what` with its
    /// output.
    pub fn ok(self, what: &str) -> Result<Xm, Error> {
        check(
            self.code == 0,
            format!("{what}: exit {}\n{}{}", self.code, self.out, self.err),
        )?;
        Ok(self)
    }

    /// Whether its `xm list` output shows `name` with id `id` ("-": a
    /// stopped managed domain).
    pub fn lists(&self, name: &str, id: &str) -> bool {
        self.out
            .lines()
            .any(|l| l.split_whitespace().take(2).eq([name, id]))
    }
}

/// `xm ARGS` as `who`, against the system stack under `root`.
pub fn xm(root: &Path, who: &User, args: &[&str]) -> Result<Xm, Error> {
    let groups = if who.groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        let g: Vec<String> = who.groups.iter().map(u32::to_string).collect();
        format!("--groups={}", g.join(","))
    };
    let o = Command::new("setpriv")
        .arg(format!("--reuid={}", who.uid))
        .arg(format!("--regid={}", who.uid))
        .arg(groups)
        .arg(bin("xm")?)
        .args(args)
        .env("XVM_ROOT", root)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XEND_SOCKET")
        .output()
        .map_err(|source| Error::Spawn {
            program: "setpriv xm".into(),
            source,
        })?;
    Ok(Xm {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// The system-mode stack over a hermetic tree: xenstored, then xend, each
/// switched to xvm by itself; device models at `dm_base` + domid.
/// Dropped: the daemons are killed, then the tree goes.
#[derive(Debug)]
pub struct Stack {
    /// The store.
    pub xenstored: Daemon,
    /// The domain manager.
    pub xend: Daemon,
    /// The console daemon, once [`Stack::start_xenconsoled`] started it.
    pub xenconsoled: Option<Daemon>,
    /// The tree (dropped last).
    pub tree: Hermetic,
}

impl Stack {
    /// [`Hermetic::new`] with its xVM directories and the test guest
    /// (`tree.base()/test.cfg`), then xenstored and xend (with
    /// `xend_args` more).
    pub fn start(
        name: &str,
        accounts: Accounts,
        image: &[u8],
        xend_args: &[&str],
    ) -> Result<Stack, Error> {
        Stack::start_in(Hermetic::new(name, accounts)?, image, xend_args)
    }

    /// [`Stack::start`] over a tree made by the caller (one that runs its
    /// daemons in a network namespace of its own: [`Hermetic::set_netns`]).
    pub fn start_in(tree: Hermetic, image: &[u8], xend_args: &[&str]) -> Result<Stack, Error> {
        tree.lay_out_xvm_dirs()?;
        tree.test_guest("var/lib/xend/storage", image)?;
        let xenstored = start_xenstored(&tree)?;
        let xend = start_xend(&tree, "xend.log", xend_args)?;
        Ok(Stack {
            xenstored,
            xend,
            xenconsoled: None,
            tree,
        })
    }

    /// Kills xend (SIGKILL, as a crash) and starts a new one with
    /// `xend_args`, its log in `log` under the tree's base.
    pub fn restart_xend(&mut self, log: &str, xend_args: &[&str]) -> Result<(), Error> {
        self.xend.kill();
        self.xend = start_xend(&self.tree, log, xend_args)?;
        Ok(())
    }

    /// Starts xend again with `xend_args` once the one before has been
    /// killed (a test acting in between), its log in `log`.
    pub fn start_xend_again(&mut self, log: &str, xend_args: &[&str]) -> Result<(), Error> {
        self.xend = start_xend(&self.tree, log, xend_args)?;
        Ok(())
    }

    /// [`Stack::restart_xend`] with `--accel tcg`: its device models run
    /// under TCG, on a host whose KVM opens yet cannot boot the Linux
    /// guest (a nested one whose guest kernel stops after "Probing EDD").
    pub fn restart_xend_under_tcg(&mut self, log: &str, xend_args: &[&str]) -> Result<(), Error> {
        let mut args = vec!["--accel", "tcg"];
        args.extend_from_slice(xend_args);
        self.restart_xend(log, &args)
    }

    /// Installs the setuid xenconsole ([`install_xenconsole`]) and starts
    /// (or, killing the one before, restarts) `xenconsoled --system
    /// --xend-run ROOT/run/xend ARGS`, its log in `log` under the tree's
    /// base; waits for its ready line.
    pub fn start_xenconsoled(&mut self, log: &str, args: &[&str]) -> Result<&Daemon, Error> {
        install_xenconsole(&self.tree)?;
        if let Some(mut old) = self.xenconsoled.take() {
            old.kill();
        }
        let mut cmd = self.tree.command(&bin("xenconsoled")?);
        cmd.args(["--system", "--xend-run"])
            .arg(self.root().join("run/xend"))
            .args(args);
        let d = Daemon::spawn("xenconsoled", cmd, &self.tree.base().join(log))?
            .ready_when_logged("xenconsoled serving")?;
        self.tree.reap_at_end(d.pid());
        Ok(self.xenconsoled.insert(d))
    }

    /// The console daemon's log directory (its default in system mode).
    pub fn console_log_dir(&self) -> PathBuf {
        self.root().join("var/log/xen/console")
    }

    /// The installed setuid xenconsole.
    pub fn xenconsole(&self) -> PathBuf {
        self.root().join(XENCONSOLE)
    }

    /// The `XVM_ROOT`.
    pub fn root(&self) -> &Path {
        self.tree.root()
    }

    /// The accounts.
    pub fn accounts(&self) -> Accounts {
        self.tree.accounts()
    }

    /// The test guest's config.
    pub fn test_cfg(&self) -> String {
        self.tree.base().join("test.cfg").display().to_string()
    }

    /// `xm ARGS` as `who`.
    pub fn xm(&self, who: &User, args: &[&str]) -> Result<Xm, Error> {
        xm(self.root(), who, args)
    }

    /// `xm ARGS` as alice (virt_manage by group alone).
    pub fn alice(&self, args: &[&str]) -> Result<Xm, Error> {
        self.xm(&self.accounts().alice(), args)
    }

    /// `xm create CFG` as alice, checked to succeed (else the error has
    /// xm's output and xend's log).
    pub fn alice_create(&self, cfg: &str) -> Result<Xm, Error> {
        let r = self.alice(&["create", cfg])?;
        check(
            r.code == 0,
            format!(
                "xm create: {}\n{}{}\n{}",
                r.code,
                r.out,
                r.err,
                self.xend_log()
            ),
        )?;
        Ok(r)
    }

    /// `xm domid NAME` as alice: the domain's id.
    pub fn domid(&self, name: &str) -> Result<u32, Error> {
        let d = self.alice(&["domid", name])?.ok("xm domid")?;
        d.out
            .trim()
            .parse()
            .map_err(|_| Error::Check(format!("xm domid: {:?}", d.out)))
    }

    /// A domain's run directory (serial, vnc, qemu.log).
    pub fn domain_dir(&self, domid: u32) -> PathBuf {
        self.root().join(format!("run/xend/domains/{domid}"))
    }

    /// xenstored's read-write socket.
    pub fn store_socket(&self) -> PathBuf {
        self.root().join("run/xenstored/socket")
    }

    /// xend's log so far.
    pub fn xend_log(&self) -> String {
        self.xend.log_text()
    }
}

/// Where the setuid console client is installed beneath a root.
pub const XENCONSOLE: &str = "usr/lib/xen/bin/xenconsole";

/// Copies the built xenconsole to `ROOT/usr/lib/xen/bin/xenconsole`,
/// root's, mode 4755, each directory on the way root's and 0755: the
/// client trusts that root only when nobody else can write into it.
pub fn install_xenconsole(tree: &Hermetic) -> Result<PathBuf, Error> {
    let mut dir = tree.root().to_path_buf();
    for d in ["usr", "lib", "xen", "bin"] {
        dir.push(d);
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        std::os::unix::fs::chown(&dir, Some(0), Some(0)).map_err(Error::io("chown", &dir))?;
        set_mode(&dir, 0o755)?;
    }
    let src = bin("xenconsole")?;
    let dst = dir.join("xenconsole");
    // Replaced, not written through: a running copy keeps its text.
    let _ = std::fs::remove_file(&dst);
    copy_binary(&src.display().to_string(), &dir, "xenconsole", 0o4755)?;
    Ok(dst)
}

/// `xenstored -N --system` in `tree`, the device-model uid range from
/// its accounts, its log `xenstored.log` under the tree's base; ready.
pub fn start_xenstored(tree: &Hermetic) -> Result<Daemon, Error> {
    let dm = tree.accounts().dm_base.to_string();
    let mut cmd = tree.command(&bin("xenstored")?);
    cmd.args(["-N", "--system", "--dm-uid-base", &dm]);
    let d = Daemon::spawn("xenstored", cmd, &tree.base().join("xenstored.log"))?
        .ready_when_logged("xenstored serving")?;
    tree.reap_at_end(d.pid());
    Ok(d)
}

fn start_xend(tree: &Hermetic, log: &str, xend_args: &[&str]) -> Result<Daemon, Error> {
    let dm = tree.accounts().dm_base.to_string();
    let mut cmd = tree.command(&bin("xend")?);
    cmd.args(["--system", "--dm-uid-base", &dm]).args(xend_args);
    let d =
        Daemon::spawn("xend", cmd, &tree.base().join(log))?.ready_when_logged("xend serving")?;
    tree.reap_at_end(d.pid());
    Ok(d)
}

/// Reads a domain's serial socket until `banner` has arrived, at most
/// 60 s (TCG on a loaded machine); what arrived.
pub fn read_banner(serial: &Path, banner: &[u8]) -> Result<UnixStream, Error> {
    let mut s = UnixStream::connect(serial).map_err(Error::io("connect", serial))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(Error::io("timeout", serial))?;
    let mut got = Vec::new();
    let t = Instant::now();
    while !got.windows(banner.len()).any(|w| w == banner) {
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => return Err(Error::Check(format!("serial closed after {got:?}"))),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) if t.elapsed() < Duration::from_secs(60) => {}
            Err(e) => {
                return Err(Error::Check(format!(
                    "no banner after 60 s ({e}); got {:?}",
                    String::from_utf8_lossy(&got)
                )));
            }
        }
    }
    Ok(s)
}

/// Reads the RFB greeting on a domain's VNC socket.
pub fn vnc_greeting(sock: &Path) -> Result<(), Error> {
    let mut v = UnixStream::connect(sock).map_err(Error::io("connect", sock))?;
    v.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(Error::io("timeout", sock))?;
    let mut hello = [0u8; 12];
    v.read_exact(&mut hello)
        .map_err(Error::io("VNC greeting on", sock))?;
    check(
        hello.starts_with(b"RFB 003."),
        format!("VNC greeting: {hello:?}"),
    )
}

/// The Linux guest's domain name in the console tests.
pub const GUEST: &str = "linuxguest";

/// The system stack with the Linux guest created (as alice) from a
/// config written by [`LinuxDomain`]: TCP serial on 127.0.0.1 and VNC on
/// 127.0.0.1 at free ports.
#[derive(Debug)]
pub struct ConsoleGuest {
    /// The stack (xenconsoled started when asked).
    pub stack: Stack,
    /// The domain's id.
    pub domid: u32,
    /// Its TCP serial address.
    pub serial: SocketAddr,
    /// Its VNC display (port 5900 + it).
    pub vnc_display: u32,
    /// Whether it runs under KVM ([`kvm_boots_linux`]); else TCG.
    pub kvm: bool,
}

impl ConsoleGuest {
    /// Starts the stack for `test` (`image`: the boot sector the stack's
    /// own test config names, unused here), then xenconsoled with
    /// `consoled` unless `None`, then creates the guest from `linux`.
    pub fn create(
        test: &str,
        accounts: Accounts,
        image: &[u8],
        consoled: Option<&[&str]>,
        linux: &crate::guest::LinuxGuest,
    ) -> Result<ConsoleGuest, Error> {
        let mut stack = Stack::start(test, accounts, image, &[])?;
        let kvm = kvm_boots_linux(&linux.kernel, &linux.initrd);
        if !kvm {
            stack.restart_xend_under_tcg("xend-tcg.log", &[])?;
        }
        if let Some(args) = consoled {
            stack.start_xenconsoled("xenconsoled.log", args)?;
        }
        let port = free_port()?;
        let vnc_display = free_vnc_display()?;
        let cfg = LinuxDomain {
            name: GUEST,
            kernel: &linux.kernel,
            initrd: &linux.initrd,
            cmdline: crate::guest::LINUX_CMDLINE,
            memory: 256,
            serial_port: port,
            vnc_display,
        }
        .write(
            &stack.tree,
            &stack.root().join("var/lib/xend/storage"),
            stack.tree.base(),
        )?;
        stack.alice_create(&cfg.display().to_string())?;
        let domid = stack.domid(GUEST)?;
        Ok(ConsoleGuest {
            stack,
            domid,
            serial: SocketAddr::from(([127, 0, 0, 1], port)),
            vnc_display,
            kvm,
        })
    }

    /// The guest's console log (`guest-NAME.log`).
    pub fn log_path(&self) -> PathBuf {
        self.stack
            .console_log_dir()
            .join(format!("guest-{GUEST}.log"))
    }

    /// Waits until the guest's console log shows its shell's prompt, at
    /// most `limit`; the log then. The error carries qemu's and
    /// xenconsoled's logs.
    pub fn wait_booted(&self, limit: Duration) -> Result<String, Error> {
        let prompt = crate::guest::LINUX_PROMPT.as_bytes();
        let t = Instant::now();
        loop {
            let log = std::fs::read(self.log_path()).unwrap_or_default();
            if find(&log, prompt).is_some() {
                return Ok(String::from_utf8_lossy(&log).into_owned());
            }
            if t.elapsed() > limit {
                let dir = self.stack.domain_dir(self.domid);
                let qemu = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
                let consoled = self
                    .stack
                    .xenconsoled
                    .as_ref()
                    .map(Daemon::log_text)
                    .unwrap_or_default();
                return Err(Error::Timeout {
                    what: format!(
                        "the guest's prompt in {}; it holds {:?}\nqemu.log: {qemu}\n\
                         xenconsoled: {consoled}\nxend: {}",
                        self.log_path().display(),
                        String::from_utf8_lossy(&log[log.len().saturating_sub(2000)..]),
                        self.stack.xend_log()
                    ),
                    secs: limit.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `xm console` of the guest as `who` on a fresh terminal.
    pub fn xm_console(&self, who: &User, stderr: Option<Stdio>) -> Result<Terminal, Error> {
        Terminal::spawn(
            &self.stack.tree,
            who,
            &crate::bins::bin("xm")?,
            &["console", GUEST],
            &[],
            stderr,
        )
    }

    /// Attaches as alice, types `line` followed by an echo of a number
    /// the guest computes, waits for that number (`limit`), detaches;
    /// the terminal's output from the typed line on.
    pub fn run(&self, line: &str, limit: Duration) -> Result<Vec<u8>, Error> {
        let mut t = self.xm_console(&self.stack.accounts().alice(), None)?;
        let (sum, expr) = token();
        let start = t.shown();
        t.send(format!("{line}; echo xvm-done-{expr}\r").as_bytes())?;
        t.expect(format!("xvm-done-{sum}").as_bytes(), limit)?;
        t.send(&[DETACH])?;
        let code = t.wait_exit(Duration::from_secs(10))?;
        check(code == 0, format!("xm console after Ctrl-]: exit {code}"))?;
        Ok(t.output().split_off(start))
    }
}

/// A number and an arithmetic expression the guest's shell turns into
/// it (`$((A+B))`): an answer the typed line itself does not show.
pub fn token() -> (u64, String) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let (a, b) = (u64::from(n % 50_000) + 1000, u64::from(std::process::id()));
    (a + b, format!("$(({a}+{b}))"))
}
