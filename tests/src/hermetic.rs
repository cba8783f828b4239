//! A hermetic system-mode tree: an `XVM_ROOT` in a fresh directory, its
//! own `/etc/passwd` and `/etc/group` (the xvm account and the test
//! users), the policy, and the daemons started in a private mount
//! namespace where those files are bind-mounted over the host's.
//!
//! Each daemon gets its namespace from util-linux `unshare` (no fork of
//! the test process), so a tree can be shared by every test of a binary
//! and its daemons started from any test thread. What the tree holds is
//! removed, and what runs under its ids killed, when it is dropped, or,
//! for a tree that lives until the test binary exits, by a reaper process
//! that acts when the binary's end closes its stdin.

use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Error;

/// The accounts of a hermetic stack, numbered from one base so that the
/// stacks of one test binary do not share ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accounts {
    /// The daemons' account and group, `xvm`.
    pub xvm: u32,
    /// `alice`: holds `virt_manage` by membership of `virt` alone.
    pub alice: u32,
    /// `bob`: holds nothing.
    pub bob: u32,
    /// The group `virt`, which the policy grants `virt_manage`.
    pub virt: u32,
    /// The first device-model uid (xend's `--dm-uid-base`): domain N
    /// runs as `dm_base + N`.
    pub dm_base: u32,
}

impl Accounts {
    /// The accounts numbered from `base`: xvm `base`, alice `base + 1`,
    /// bob `base + 2`, virt `base + 10`, device models from `base + 900`.
    pub const fn from_base(base: u32) -> Accounts {
        Accounts {
            xvm: base,
            alice: base + 1,
            bob: base + 2,
            virt: base + 10,
            dm_base: base + 900,
        }
    }

    /// alice, with her groups.
    pub fn alice(&self) -> User {
        User {
            uid: self.alice,
            groups: vec![self.alice, self.virt],
        }
    }

    /// bob, with his group.
    pub fn bob(&self) -> User {
        User {
            uid: self.bob,
            groups: vec![self.bob],
        }
    }

    /// A user with no passwd entry and no group at all.
    pub fn nobody(&self) -> User {
        User {
            uid: self.bob + 100,
            groups: Vec::new(),
        }
    }

    fn passwd(&self) -> String {
        let mut text = String::from("root:x:0:0:root:/root:/bin/sh\n");
        for (name, id) in [("xvm", self.xvm), ("alice", self.alice), ("bob", self.bob)] {
            text.push_str(&format!(
                "{name}:x:{id}:{id}::/nonexistent:/usr/sbin/nologin\n"
            ));
        }
        text
    }

    fn group(&self) -> String {
        format!(
            "root:x:0:\nxvm:x:{}:\nalice:x:{}:\nbob:x:{}:\nvirt:x:{}:alice\n",
            self.xvm, self.alice, self.bob, self.virt
        )
    }
}

/// A uid and its supplementary groups, as a test runs a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The uid (and gid).
    pub uid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl User {
    /// root, with group 0.
    pub fn root() -> User {
        User {
            uid: 0,
            groups: vec![0],
        }
    }
}

/// The shipped default policy, with the test group `virt` as the
/// management group.
pub const POLICY: &str =
    "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n";

/// Binds the passwd and group files ($0, $1) over the host's, then runs
/// the daemon ("$@" after the shift) in their place (same pid).
const ENTER: &str =
    "mount --bind \"$0\" /etc/passwd && mount --bind \"$1\" /etc/group && shift && exec \"$@\"";

/// Kills what it was told of and removes the tree once its stdin closes.
const REAPER: &str = r#"
while read -r kind v; do
	case $kind in
	pid) pids="$pids $v" ;;
	uids) uids=$v ;;
	esac
done
[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
[ -n "$uids" ] && pkill -KILL -U "$uids" 2>/dev/null
rm -rf -- "$0"
"#;

/// A hermetic tree (see the module's text). Root only.
#[derive(Debug)]
pub struct Hermetic {
    base: PathBuf,
    root: PathBuf,
    accounts: Accounts,
    reaper: Mutex<Option<(Child, ChildStdin)>>,
    /// The network namespace its daemons run in (`None`: the test's).
    netns: Option<PathBuf>,
}

impl Hermetic {
    /// A fresh tree for the test `name`: `base` (0755) holds the passwd
    /// and group files and `root`, the `XVM_ROOT`, with the policy in
    /// `root/etc/xvm/privileges.toml`. Nothing else is laid out: what
    /// the daemons and the restarter make is theirs to make.
    pub fn new(name: &str, accounts: Accounts) -> Result<Hermetic, Error> {
        let base = std::env::temp_dir().join(format!("xvm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).map_err(Error::io("create", &base))?;
        set_mode(&base, 0o755)?;
        let mut reaper = Command::new("sh")
            .args(["-c", REAPER])
            .arg(&base)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "sh (the reaper)".into(),
                source,
            })?;
        let mut stdin = reaper
            .stdin
            .take()
            .ok_or_else(|| Error::Check("no reaper stdin".into()))?;
        // Everything that runs as the tree's xvm or device-model uids is
        // the tree's, whoever started it (the restarter's services too).
        let uids: Vec<String> = std::iter::once(accounts.xvm)
            .chain((0..64).map(|n| accounts.dm_base + n))
            .map(|u| u.to_string())
            .collect();
        let _ = writeln!(stdin, "uids {}", uids.join(","));
        let h = Hermetic {
            root: base.join("root"),
            base,
            accounts,
            reaper: Mutex::new(Some((reaper, stdin))),
            netns: None,
        };
        for (file, text) in [("passwd", accounts.passwd()), ("group", accounts.group())] {
            let p = h.base.join(file);
            std::fs::write(&p, text).map_err(Error::io("write", &p))?;
        }
        std::fs::create_dir_all(&h.root).map_err(Error::io("create", &h.root))?;
        set_mode(&h.root, 0o755)?;
        privlib::testing::write_policy(&h.root, POLICY)?;
        Ok(h)
    }

    /// The directory holding the tree and the logs.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The `XVM_ROOT`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its accounts.
    pub fn accounts(&self) -> Accounts {
        self.accounts
    }

    /// Lays out the xVM directories as a system-mode daemon expects them
    /// when started directly (not by the restarter): `run/xenstored`
    /// 0755 and `var/lib/xend/{storage,domains}` 0700, all xvm's.
    pub fn lay_out_xvm_dirs(&self) -> Result<(), Error> {
        for (d, mode) in [
            ("run/xenstored", 0o755),
            ("var/lib/xend/storage", 0o700),
            ("var/lib/xend/domains", 0o700),
        ] {
            let p = self.root.join(d);
            std::fs::create_dir_all(&p).map_err(Error::io("create", &p))?;
            self.give_xvm(&p)?;
            set_mode(&p, mode)?;
        }
        Ok(())
    }

    /// Makes `path` xvm's.
    pub fn give_xvm(&self, path: &Path) -> Result<(), Error> {
        let id = self.accounts.xvm;
        chown(path, Some(id), Some(id)).map_err(Error::io("chown", path))
    }

    /// A command running `program` in a private mount namespace that sees
    /// this tree's accounts, with `XVM_ROOT` set; its pid is the
    /// program's. The caller adds the arguments.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = match &self.netns {
            // A host of its own: the daemon enters that network namespace
            // first (nsenter execs, so the pid stays the program's).
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .args(["--", "unshare"]);
                c
            }
            None => Command::new("unshare"),
        };
        c.args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            ENTER,
        ])
        .arg(self.base.join("passwd"))
        .arg(self.base.join("group"))
        .arg(program)
        .env("XVM_ROOT", &self.root)
        .env_remove("XDG_RUNTIME_DIR");
        c
    }

    /// Runs this tree's daemons (every [`Hermetic::command`] from now on)
    /// in the network namespace `ns` (`/run/netns/NAME`): a host of its
    /// own.
    pub fn set_netns(&mut self, ns: &Path) {
        self.netns = Some(ns.to_path_buf());
    }

    /// Tells the reaper of `pid`, to be killed when the tree goes even if
    /// nothing else stops it.
    pub fn reap_at_end(&self, pid: i32) {
        let mut r = self.reaper.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, stdin)) = r.as_mut() {
            let _ = writeln!(stdin, "pid {pid}");
        }
    }

    /// Writes the test guest's disk `image` as `root/<dir>/test.img`
    /// (xvm's) and `base/test.cfg` naming it (a 32 MiB HVM domain
    /// `testguest` with a pty serial and VNC); the config's path.
    pub fn test_guest(&self, dir: &str, image: &[u8]) -> Result<PathBuf, Error> {
        let d = self.root.join(dir);
        std::fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
        let img = d.join("test.img");
        std::fs::write(&img, image).map_err(Error::io("write", &img))?;
        self.give_xvm(&img)?;
        let cfg = self.base.join("test.cfg");
        let text = format!(
            "name = \"testguest\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\n\
             disk = [ '{},raw,hda,rw' ]\nserial = \"pty\"\nvnc = 1\n",
            img.display()
        );
        std::fs::write(&cfg, text).map_err(Error::io("write", &cfg))?;
        set_mode(&cfg, 0o644)?;
        Ok(cfg)
    }
}

impl Drop for Hermetic {
    fn drop(&mut self) {
        let r = self
            .reaper
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((mut child, stdin)) = r {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// `chmod mode path`.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("chmod", path))
}

/// Copies the system binary `src` to `dir/name`, root's, with `mode`
/// (0o4755: a setuid-root copy), for tests of what a dropped process may
/// no longer exec.
pub fn copy_binary(src: &str, dir: &Path, name: &str, mode: u32) -> Result<PathBuf, Error> {
    let dst = dir.join(name);
    std::fs::copy(src, &dst).map_err(Error::io("copy to", &dst))?;
    chown(&dst, Some(0), Some(0)).map_err(Error::io("chown", &dst))?;
    set_mode(&dst, mode)?;
    Ok(dst)
}

/// A fresh, empty directory under the system temp dir, for tests that
/// need no root.
pub fn scratch(name: &str) -> Result<PathBuf, Error> {
    let d = std::env::temp_dir().join(format!("xvm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
    Ok(d)
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of one binary that fork or share a stack: a fork
/// while another test thread holds a lock (privlib's process record, the
/// allocator's) would copy it held.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}
