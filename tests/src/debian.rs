//! A fresh Debian 12 root for the package test: `scripts/debian-root`'s
//! tarball (mmdebstrap's minbase plus the package's dependencies, cached
//! in `target/xvm-debian/`) extracted into a directory of its own, and
//! commands run in it as on a host of its own.
//!
//! The root gets its own mount, network and pid namespaces, held by a
//! small reaper (perl, which minbase has) as its pid 1: `/proc` of that pid
//! namespace, `/sys`, a `/run` and a `/dev` of its own (null, zero, full,
//! random, urandom, tty, fd, a private devpts; no `/dev/kvm`, so xend's
//! `auto` accelerator is TCG here whatever the host has), loopback up and
//! nothing else on the network. Commands enter it with nsenter; dropping
//! the root kills its pid 1, which ends every process in it, then removes
//! the directory.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::daemon::wait_until;
use crate::error::{Error, check};
use crate::stack::Xm;

/// The tarball, made by `scripts/debian-root` the first time (then cached).
pub fn tarball() -> Result<PathBuf, Error> {
    let (program, stdout) = crate::guest::run_script("debian-root")?;
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("root="))
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            Error::Check(format!(
                "{} printed no root=FILE: {stdout:?}",
                program.display()
            ))
        })
}

/// The holder's script: mounts, then the reaper as pid 1 in the root,
/// made the mount namespace's own root with pivot_root (not chroot: the
/// kernel refuses a new user namespace, which each device model makes
/// for its private /dev, to a chrooted process).
const HOLD: &str = r#"set -e
r=$1
mount --bind "$r" "$r"
mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
mount -t tmpfs -o mode=0755,nosuid,nodev run "$r/run"
mount -t tmpfs -o mode=0755,nosuid dev "$r/dev"
for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
	set -- $n
	mknod -m 0666 "$r/dev/$1" c "$2" "$3"
done
mkdir -m 0755 "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
ln -s /proc/self/fd "$r/dev/fd"
ln -s /proc/self/fd/0 "$r/dev/stdin"
ln -s /proc/self/fd/1 "$r/dev/stdout"
ln -s /proc/self/fd/2 "$r/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$r/dev/shm"
ip link set lo up
cd "$r"
pivot_root . mnt
/usr/bin/umount -l /mnt
exec /usr/bin/perl -e '$SIG{TERM} = sub { exit 0 }; while (1) { sleep 1 if wait() < 0 }'
"#;

/// A Debian root with its namespaces, removed when dropped.
#[derive(Debug)]
pub struct DebianRoot {
    /// The root's parent, root's alone (0700): host users cannot reach
    /// the root's set-id programs while it exists.
    base: PathBuf,
    dir: PathBuf,
    holder: Option<Child>,
    /// The reaper: pid 1 in the root's pid namespace (a host pid).
    init: i32,
}

impl DebianRoot {
    /// Extracts a fresh root at `/tmp/xvm-debian-NAME-PID/root` (root's,
    /// 0755, as a host's `/` is, in a 0700 directory) and starts its
    /// namespaces. Whatever fails on the way, what was made is removed.
    pub fn new(name: &str) -> Result<DebianRoot, Error> {
        let tar = tarball()?;
        let base = PathBuf::from(format!("/tmp/xvm-debian-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).map_err(Error::io("create", &base))?;
        let mut root = DebianRoot {
            dir: base.join("root"),
            base,
            holder: None,
            init: 0,
        };
        crate::hermetic::set_mode(&root.base, 0o700)?;
        std::fs::create_dir(&root.dir).map_err(Error::io("create", &root.dir))?;
        crate::hermetic::set_mode(&root.dir, 0o755)?;
        let x = Command::new("tar")
            .args(["--numeric-owner", "-xf"])
            .arg(&tar)
            .arg("-C")
            .arg(&root.dir)
            .status()
            .map_err(|source| Error::Spawn {
                program: "tar".into(),
                source,
            })?;
        check(
            x.success(),
            format!("tar -xf {} -C {}: {x}", tar.display(), root.dir.display()),
        )?;
        let holder = Command::new("unshare")
            .args([
                "--mount",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", HOLD, "sh"])
            .arg(&root.dir)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "unshare".into(),
                source,
            })?;
        let upid = i32::try_from(holder.id()).unwrap_or(0);
        let holder = root.holder.insert(holder);
        let mut init = 0;
        wait_until(Duration::from_secs(20), "the Debian root's pid 1", || {
            if let Ok(Some(st)) = holder.try_wait() {
                return Err(Error::Check(format!("the root's holder ended: {st}")));
            }
            let children = std::fs::read_to_string(format!("/proc/{upid}/task/{upid}/children"))
                .unwrap_or_default();
            init = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            Ok(init > 0
                && std::fs::read_to_string(format!("/proc/{init}/comm"))
                    .is_ok_and(|c| c.trim() == "perl"))
        })?;
        root.init = init;
        Ok(root)
    }

    /// The root directory (on the host).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `p` (a path inside the root) as the host sees it.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p.trim_start_matches('/'))
    }

    /// `args` run inside the root, as root, with a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.init))
            .args(["--mount", "--net", "--pid", "--root", "--wd", "--"])
            .args(["/usr/bin/env", "-i"])
            .args([
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "LANG=C",
                "DEBIAN_FRONTEND=noninteractive",
            ])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `args` run inside the root to the end: what they printed, and how
    /// they ended.
    pub fn run(&self, args: &[&str]) -> Result<Xm, Error> {
        let out = self.command(args).output().map_err(|source| Error::Spawn {
            program: args.join(" "),
            source,
        })?;
        Ok(Xm {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// The host pids of the root's processes named `comm` (its pid
    /// namespace's, found by that namespace).
    pub fn pids_named(&self, comm: &str) -> Vec<i32> {
        let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/pid", self.init)) else {
            return Vec::new();
        };
        let mut out: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns)
                    && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim() == comm)
                    && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                        s.rsplit(')')
                            .next()
                            .is_some_and(|r| r.trim_start().starts_with('Z'))
                    })
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Owner, group and mode of a path inside the root (not following a
    /// symlink).
    pub fn owner_mode(&self, p: &str) -> Result<(u32, u32, u32), Error> {
        let path = self.path(p);
        let m = std::fs::symlink_metadata(&path).map_err(Error::io("stat", &path))?;
        Ok((m.uid(), m.gid(), m.mode() & 0o7777))
    }

    /// The uid (or gid, with `group`) of an account in the root's own
    /// passwd (group) file.
    pub fn id_of(&self, name: &str, group: bool) -> Result<u32, Error> {
        let f = self.path(if group { "/etc/group" } else { "/etc/passwd" });
        let text = std::fs::read_to_string(&f).map_err(Error::io("read", &f))?;
        text.lines()
            .find_map(|l| {
                let mut it = l.split(':');
                (it.next() == Some(name))
                    .then(|| it.nth(1).and_then(|id| id.parse().ok()))
                    .flatten()
            })
            .ok_or_else(|| Error::Check(format!("no account {name} in {}", f.display())))
    }
}

impl Drop for DebianRoot {
    fn drop(&mut self) {
        // SIGKILL to unshare: --kill-child kills pid 1, and with it the
        // whole pid namespace; the mounts go with the last of its processes.
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        if self.init > 0 {
            let _ = wait_until(
                Duration::from_secs(10),
                "the root's processes to end",
                || Ok(!Path::new(&format!("/proc/{}", self.init)).exists()),
            );
        }
        if std::env::var_os("XVM_KEEP_DEBIAN_ROOT").is_none() {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}
