//! Debian's unmodified `virsh` against virtd (xvm-lp's libvirt-protocol
//! daemon, least privileged, over xend) and against libvirt's own root
//! daemon with its qemu driver, on the same machine, in one run,
//! interleaved round by round (the side that goes first alternates):
//! `virsh list --all` with 20 defined domains, `virsh start` to the
//! guest's first byte on its serial port, and `virsh destroy`. Medians
//! compared; target: each ratio virtd/libvirtd at most 1.0.
//!
//! libvirtd runs as root in a private mount namespace over a temporary
//! directory: its own `libvirtd.conf` (sockets in that directory, no TCP,
//! `auth_unix_rw = "none"`: no polkit), `qemu.conf` (guests as
//! `libvirt-qemu`, no security driver, no cgroups), and `/etc/libvirt`,
//! `/var/lib/libvirt`, `/var/cache/libvirt`, `/var/log/libvirt` and `/run`
//! bound over the host's, so nothing the host's libvirt keeps is read or
//! written and no system dbus is reached; a `virtlogd` of its own beside
//! it. Its guests' serial ports are unix sockets qemu listens on; ours
//! are the sockets xend binds in each domain's run directory. Either way
//! the bench connects while the domain starts and times the first byte
//! (the same Linux guest, the same kernel, memory and devices, TCG on
//! both sides: a nested KVM here does not boot Linux).
//!
//! Run (as root): `cargo build --release --workspace --bins`, then
//! `cargo bench -p xvm-tests --bench virsh` (which builds only this
//! crate: it refuses a daemon binary older than its sources). Needs
//! `libvirt-clients`, `libvirt-daemon-system` and
//! `libvirt-daemon-driver-qemu` (scripts/deps). `XVM_BENCH_ROUNDS`
//! (default 5) and `XVM_BENCH_LISTS` (`virsh list` runs per round,
//! default 10) change the sizes.

use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use xvm_tests::Error;
use xvm_tests::bins::fresh_bin;
use xvm_tests::console::setpriv_args;
use xvm_tests::guest::{LINUX_CMDLINE, LinuxGuest, linux};
use xvm_tests::hermetic::{Accounts, User, set_mode};
use xvm_tests::stack::Stack;
use xvm_tests::virsh::start_virtd;
use xvm_tests::{Daemon, check, wait_for_socket};

const IDS: Accounts = Accounts::from_base(51_100);
/// Defined domains on each side.
const DOMAINS: usize = 20;
/// The guest's memory, MiB.
const MEMORY: u32 = 256;
/// A start's first console byte, at most (TCG on a loaded machine).
const LIMIT: Duration = Duration::from_secs(120);

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The domain XML both sides are given, but for its serial port.
fn domain_xml(kind: &str, name: &str, guest: &LinuxGuest, serial: &str) -> String {
    format!(
        "<domain type='{kind}'>\n  <name>{name}</name>\n  \
         <memory unit='MiB'>{MEMORY}</memory>\n  <vcpu>1</vcpu>\n  \
         <os>\n    <type>hvm</type>\n    <kernel>{}</kernel>\n    \
         <initrd>{}</initrd>\n    <cmdline>{LINUX_CMDLINE}</cmdline>\n  </os>\n  \
         <features><acpi/><apic/></features>\n  \
         <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  \
         <on_crash>destroy</on_crash>\n  <devices>\n{serial}    \
         <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>\n  \
         </devices>\n</domain>\n",
        guest.kernel.display(),
        guest.initrd.display()
    )
}

/// Copies the guest's kernel and initrd into `dir` (0644, `owner`'s).
fn copy_guest(guest: &LinuxGuest, dir: &Path, owner: u32) -> Result<LinuxGuest, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let mut out = Vec::new();
    for (src, file) in [(&guest.kernel, "vmlinuz"), (&guest.initrd, "initrd.gz")] {
        let dst = dir.join(file);
        std::fs::copy(src, &dst).map_err(Error::io("copy to", &dst))?;
        std::os::unix::fs::chown(&dst, Some(owner), Some(owner))
            .map_err(Error::io("chown", &dst))?;
        set_mode(&dst, 0o644)?;
        out.push(dst);
    }
    let initrd = out.pop().unwrap_or_default();
    let kernel = out.pop().unwrap_or_default();
    Ok(LinuxGuest { kernel, initrd })
}

/// `unshare` in a private mount namespace, running `sh`.
const PRIVATE_MOUNTS: [&str; 5] = ["--mount", "--propagation", "private", "--", "sh"];

/// Binds the passwd and group files ($0, $1) over the host's, then runs
/// "$@" after the shift in their place (as the hermetic tree's daemons
/// start).
const ACCOUNTS: &str =
    "mount --bind \"$0\" /etc/passwd && mount --bind \"$1\" /etc/group && shift && exec \"$@\"";

/// Where a side's guest serial port is found once it starts.
enum Serial {
    /// libvirtd: `DIR/NAME`, the socket qemu binds.
    Named(PathBuf),
    /// xend: `DIR/<domid>/serial`, bound by xend for its domain.
    XendDomains(PathBuf),
}

impl Serial {
    /// A connection to the serial port of `name` once there is one to
    /// connect to.
    fn connect(&self, name: &str) -> Option<UnixStream> {
        match self {
            Serial::Named(dir) => UnixStream::connect(dir.join(name)).ok(),
            // A destroyed domain's socket refuses: only the one starting
            // (one at a time here) accepts.
            Serial::XendDomains(dir) => std::fs::read_dir(dir)
                .ok()?
                .filter_map(Result::ok)
                .find_map(|e| UnixStream::connect(e.path().join("serial")).ok()),
        }
    }
}

/// One side: who runs virsh, against what, and where its guests' serial
/// ports are.
struct Side {
    name: &'static str,
    user: User,
    uri: String,
    home: PathBuf,
    /// The passwd and group files virsh's namespace sees.
    accounts: (PathBuf, PathBuf),
    /// ours: the tree's `XVM_ROOT`.
    xvm_root: Option<PathBuf>,
    serial: Serial,
    /// Each of [`MEASURES`]' samples.
    took: [Vec<f64>; 4],
}

/// What is measured, in the order of [`Side`]'s `took`, with its unit.
const MEASURES: [(&str, &str); 4] = [
    ("virsh list --all", "ms"),
    ("virsh start to first console byte", "s"),
    ("virsh start's own end", "s"),
    ("virsh destroy", "s"),
];
const LIST: usize = 0;
const FIRST_BYTE: usize = 1;
const STARTED: usize = 2;
const DESTROY: usize = 3;

impl Side {
    /// `virsh -c URI ARGS` as the side's user, in a mount namespace that
    /// sees the side's accounts, through setpriv: the same exec chain on
    /// both sides (ours needs the tree's accounts; libvirtd's binds the
    /// host's over themselves), with a private HOME.
    fn virsh(&self, args: &[&str]) -> Command {
        let mut c = Command::new("unshare");
        c.args(PRIVATE_MOUNTS)
            .args(["-c", ACCOUNTS])
            .arg(&self.accounts.0)
            .arg(&self.accounts.1)
            .arg("setpriv")
            .args(setpriv_args(&self.user))
            .args(["virsh", "-q", "-c", &self.uri])
            .args(args)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_RUNTIME_DIR", &self.home)
            .env_remove("LIBVIRT_DEFAULT_URI")
            .env_remove("VIRSH_DEFAULT_CONNECT_URI")
            .stdin(Stdio::null());
        if let Some(root) = &self.xvm_root {
            c.env("XVM_ROOT", root);
        }
        c
    }

    /// Runs virsh to its end; how long it took; an error with its output
    /// unless it succeeded.
    fn run(&self, args: &[&str]) -> Result<(Duration, Output), Error> {
        let t = Instant::now();
        let o = self.virsh(args).output().map_err(|source| Error::Spawn {
            program: "setpriv virsh".into(),
            source,
        })?;
        let took = t.elapsed();
        check(
            o.status.success(),
            format!(
                "{}: virsh {}: {}\n{}{}",
                self.name,
                args.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )?;
        Ok((took, o))
    }

    /// Makes the private HOME (the user's) and defines the domains from
    /// `xml(NAME)`, written beside it.
    fn define_all(&self, xml: impl Fn(&str) -> String) -> Result<(), Error> {
        for d in [
            self.home.clone(),
            self.home.join(".config"),
            self.home.join(".cache"),
        ] {
            std::fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
            std::os::unix::fs::chown(&d, Some(self.user.uid), Some(self.user.uid))
                .map_err(Error::io("chown", &d))?;
            set_mode(&d, 0o700)?;
        }
        for i in 0..DOMAINS {
            let name = domain(i);
            let file = self.home.join(format!("{name}.xml"));
            std::fs::write(&file, xml(&name)).map_err(Error::io("write", &file))?;
            set_mode(&file, 0o644)?;
            self.run(&["define", &file.display().to_string()])?;
        }
        let (_, o) = self.run(&["list", "--all", "--name"])?;
        let listed = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("bench"))
            .count();
        check(
            listed == DOMAINS,
            format!(
                "{}: list --all shows {listed} of {DOMAINS} domains",
                self.name
            ),
        )
    }

    /// One round: `lists` times `virsh list --all`, then a start of
    /// `name` to its first console byte, then its destroy.
    fn round(&mut self, lists: usize, name: &str) -> Result<(), Error> {
        for _ in 0..lists {
            let (t, o) = self.run(&["list", "--all"])?;
            let rows = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains("bench"))
                .count();
            check(
                rows == DOMAINS,
                format!("{}: virsh list --all: {rows} domains", self.name),
            )?;
            self.took[LIST].push(t.as_secs_f64() * 1e3);
        }
        let t = Instant::now();
        let start = self
            .virsh(&["start", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "setpriv virsh start".into(),
                source,
            })?;
        // virsh's own end, timed by a thread while this one reads.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let o = start.wait_with_output();
            let _ = tx.send((t.elapsed(), o));
        });
        let mut ended = None;
        let mut s = loop {
            if let Some(s) = self.serial.connect(name) {
                break s;
            }
            if ended.is_none() {
                ended = rx.try_recv().ok();
            }
            if let Some((_, Ok(o))) = &ended
                && !o.status.success()
            {
                return Err(Error::Check(format!(
                    "{}: virsh start {name}: {}: {}",
                    self.name,
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                )));
            }
            if t.elapsed() > LIMIT {
                return Err(Error::Timeout {
                    what: format!("{}: the serial port of {name} to connect to", self.name),
                    secs: LIMIT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        s.set_read_timeout(Some(LIMIT))
            .map_err(Error::io("timeout", "serial"))?;
        let mut one = [0u8; 1];
        s.read_exact(&mut one)
            .map_err(Error::io("read the serial port of", name))?;
        let first = t.elapsed();
        let (took, o) = match ended.take() {
            Some(e) => e,
            None => rx.recv_timeout(LIMIT).map_err(|_| {
                Error::Check(format!("{}: virsh start {name} did not end", self.name))
            })?,
        };
        let o = o.map_err(Error::io("wait", "virsh start"))?;
        check(
            o.status.success(),
            format!(
                "{}: virsh start {name}: {}: {}",
                self.name,
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
        )?;
        self.took[FIRST_BYTE].push(first.as_secs_f64());
        self.took[STARTED].push(took.as_secs_f64());
        let (d, _) = self.run(&["destroy", name])?;
        self.took[DESTROY].push(d.as_secs_f64());
        drop(s);
        Ok(())
    }
}

fn domain(i: usize) -> String {
    format!("bench{i:02}")
}

/// libvirtd's private configuration; `$B` is the bench's directory.
const LIBVIRTD_CONF: &str = "listen_tls = 0\nlisten_tcp = 0\nunix_sock_dir = \"$B/sock\"\n\
unix_sock_group = \"root\"\nunix_sock_ro_perms = \"0700\"\nunix_sock_rw_perms = \"0700\"\n\
auth_unix_ro = \"none\"\nauth_unix_rw = \"none\"\nlog_outputs = \"3:file:$B/libvirtd.log\"\n";
const QEMU_CONF: &str = "user = \"libvirt-qemu\"\ngroup = \"libvirt-qemu\"\n\
security_driver = \"none\"\ncgroup_controllers = [ ]\nstdio_handler = \"logd\"\n";
const VIRTLOGD_CONF: &str = "log_outputs = \"3:file:$B/virtlogd.log\"\n";

/// In the new mount namespace: the private directories over the host's,
/// virtlogd in the background, then libvirtd in this process's place.
const ENTER: &str = r#"set -e
B=$0
mount --bind "$B/etc" /etc/libvirt
mount --bind "$B/lib" /var/lib/libvirt
mount --bind "$B/cache" /var/cache/libvirt
mount --bind "$B/log" /var/log/libvirt
mount -t tmpfs -o mode=755 tmpfs /run
# qemu (libvirt-qemu, from libvirt-daemon-system) binds its serial here.
chown libvirt-qemu:libvirt-qemu "$B/serial"
/usr/sbin/virtlogd -f "$B/etc/virtlogd.conf" -p "$B/virtlogd.pid" &
exec /usr/sbin/libvirtd -f "$B/etc/libvirtd.conf" -p "$B/libvirtd.pid"
"#;

/// libvirtd (and its virtlogd) over a private directory; dropped: its
/// domains destroyed, then both ended and the directory removed.
struct Libvirtd {
    daemon: Option<Daemon>,
    dir: PathBuf,
}

impl Libvirtd {
    fn start(dir: &Path) -> Result<Libvirtd, Error> {
        let _ = std::fs::remove_dir_all(dir);
        for d in ["etc", "lib", "cache", "log", "sock", "serial", "guest"] {
            let p = dir.join(d);
            std::fs::create_dir_all(&p).map_err(Error::io("create", &p))?;
        }
        set_mode(dir, 0o755)?;
        let b = dir.display().to_string();
        for (file, text) in [
            ("libvirtd.conf", LIBVIRTD_CONF),
            ("qemu.conf", QEMU_CONF),
            ("virtlogd.conf", VIRTLOGD_CONF),
        ] {
            let p = dir.join("etc").join(file);
            std::fs::write(&p, text.replace("$B", &b)).map_err(Error::io("write", &p))?;
        }
        let mut cmd = Command::new("unshare");
        cmd.args(PRIVATE_MOUNTS).args(["-c", ENTER]).arg(dir);
        let daemon = Daemon::spawn("libvirtd", cmd, &dir.join("libvirtd.out"))?;
        let l = Libvirtd {
            daemon: Some(daemon),
            dir: dir.to_path_buf(),
        };
        wait_for_socket(&l.socket(), Duration::from_secs(30))?;
        Ok(l)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("sock/libvirt-sock")
    }

    fn uri(&self) -> String {
        format!("qemu+unix:///system?socket={}", self.socket().display())
    }

    /// Its log, for an error.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("libvirtd.log")).unwrap_or_default()
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        // The domains first: qemu outlives a libvirtd that ends.
        let uri = self.uri();
        let running = Command::new("virsh")
            .args(["-q", "-c", &uri, "list", "--name"])
            .output();
        if let Ok(o) = running {
            for name in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("virsh")
                    .args(["-q", "-c", &uri, "destroy", name])
                    .output();
            }
        }
        if let Some(mut d) = self.daemon.take() {
            d.terminate();
        }
        // virtlogd, by the pid it wrote.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("virtlogd.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Ours: the hermetic stack (xend under TCG) with virtd; the side that
/// drives it as alice (virt_manage by group alone).
fn ours(guest: &LinuxGuest) -> Result<(Stack, Daemon, Side), Error> {
    let stack = Stack::start(
        "virsh-bench",
        IDS,
        &xend::testguest::image(),
        &["--accel", "tcg"],
    )?;
    let virtd = start_virtd(&stack, "virtd.log", &[])?;
    let images = stack.root().join("var/lib/xend/storage");
    let g = copy_guest(guest, &images, IDS.xvm)?;
    let base = stack.tree.base();
    let side = Side {
        name: "virtd",
        user: IDS.alice(),
        uri: xvm_tests::virsh::uri(&xvm_tests::virsh::socket(stack.root())),
        home: base.join("alice-home"),
        accounts: (base.join("passwd"), base.join("group")),
        xvm_root: Some(stack.root().to_path_buf()),
        serial: Serial::XendDomains(stack.root().join("run/xend/domains")),
        took: Default::default(),
    };
    let serial = "    <serial type='pty'><target port='0'/></serial>\n    \
                  <console type='pty'><target type='serial' port='0'/></console>\n";
    let r = side.define_all(|n| domain_xml("xen", n, &g, serial));
    if let Err(e) = r {
        return Err(Error::Check(format!(
            "{e}\nvirtd's log:\n{}\nxend's log:\n{}",
            virtd.log_text(),
            stack.xend_log()
        )));
    }
    Ok((stack, virtd, side))
}

/// libvirtd's side, driven as root.
fn theirs(guest: &LinuxGuest, dir: &Path) -> Result<(Libvirtd, Side), Error> {
    let l = Libvirtd::start(dir)?;
    let g = copy_guest(guest, &dir.join("guest"), 0)?;
    let side = Side {
        name: "libvirtd",
        user: User::root(),
        uri: l.uri(),
        home: dir.join("root-home"),
        accounts: ("/etc/passwd".into(), "/etc/group".into()),
        xvm_root: None,
        serial: Serial::Named(dir.join("serial")),
        took: Default::default(),
    };
    let sdir = dir.join("serial");
    let r = side.define_all(|n| {
        let serial = format!(
            "    <serial type='unix'><source mode='bind' path='{}'/>\
             <target port='0'/></serial>\n",
            sdir.join(n).display()
        );
        domain_xml("qemu", n, &g, &serial)
    });
    if let Err(e) = r {
        return Err(Error::Check(format!("{e}\nlibvirtd's log:\n{}", l.log())));
    }
    Ok((l, side))
}

fn run() -> Result<(), Error> {
    let rounds = env_num("XVM_BENCH_ROUNDS", 5).max(1);
    let lists = env_num("XVM_BENCH_LISTS", 10).max(1);
    let guest = linux()?;
    let dir = std::env::temp_dir().join(format!("xvm-virsh-bench-libvirtd-{}", std::process::id()));
    let (_libvirtd, mut theirs) = theirs(&guest, &dir)?;
    let (_stack, _virtd, mut ours) = ours(&guest)?;
    // Warm both (virsh's own files, the daemons' first connection).
    theirs.run(&["list", "--all"])?;
    ours.run(&["list", "--all"])?;
    for r in 0..rounds {
        let name = domain(r % DOMAINS);
        let (a, b) = if r % 2 == 0 {
            (&mut theirs, &mut ours)
        } else {
            (&mut ours, &mut theirs)
        };
        a.round(lists, &name)?;
        b.round(lists, &name)?;
        eprintln!(
            "round {}: start to first byte: libvirtd {:.3} s, virtd {:.3} s",
            r + 1,
            theirs.took[FIRST_BYTE][r],
            ours.took[FIRST_BYTE][r]
        );
    }
    println!(
        "virsh: {DOMAINS} defined domains, {rounds} rounds ({lists} lists each), \
         Linux guest under TCG on both sides"
    );
    println!(
        "{:<38} {:>11} {:>11} {:>8}",
        "median", "libvirtd", "virtd", "ratio"
    );
    for (i, (what, unit)) in MEASURES.iter().enumerate() {
        let (t, o) = (median(&mut theirs.took[i]), median(&mut ours.took[i]));
        println!(
            "{what:<38} {t:>8.3} {unit:<2} {o:>8.3} {unit:<2} {:>8.3}   (target <= 1.0)",
            o / t
        );
    }
    Ok(())
}

fn main() {
    if !privlib::testing::is_root() {
        eprintln!("virsh bench: skipped: needs root");
        return;
    }
    for p in ["/usr/bin/virsh", "/usr/sbin/libvirtd", "/usr/sbin/virtlogd"] {
        if !Path::new(p).is_file() {
            eprintln!(
                "virsh bench: skipped: no {p} (libvirt-clients, libvirt-daemon-system, \
                 libvirt-daemon-driver-qemu: scripts/deps)"
            );
            return;
        }
    }
    // Each binary's crate and the workspace crates it links.
    let (ps, xs, xd) = ("privlib/src", "daemons/xenstored/src", "daemons/xend/src");
    let fresh: [(&str, &[&str]); 3] = [
        ("xenstored", &[ps, xs]),
        ("xend", &[ps, xs, xd]),
        ("virtd", &[ps, xs, xd, "daemons/virtd/src"]),
    ];
    for (b, sources) in fresh {
        if let Err(e) = fresh_bin(b, sources) {
            eprintln!("virsh bench: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = run() {
        eprintln!("virsh bench: {e}");
        std::process::exit(1);
    }
}
