//! Starting a program with a credential.
//!
//! [`Spawn`] validates everything first, then forks; the child applies a
//! fixed list of `CredOp`s and execs, so it is least-privileged *before*
//! the new program runs a single instruction. The order (see
//! [`Spawn::plan`]) is part of the security design and is unit-tested
//! against the recording fake.
//!
//! After exec a Linux program holds, in E and P, exactly its ambient set;
//! privlib puts the credential's privileges there, which gives the Solaris
//! rule: the new program's E = P = I ∩ L.
//!
//! [`Spawn`] is the request (this module: the builder), `plan` checks
//! it and works out the child's steps, `run` forks, execs and hands back
//! the [`Child`]; `error` says what went wrong and where.

mod error;
mod plan;
mod run;

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::PathBuf;

pub use error::{Invalid, SpawnError};
pub use plan::Plan;
pub use run::Child;

use crate::set::PrivSet;
use crate::sys::bpf;
use crate::sys::landlock::fs;

/// File-system access a Landlock rule allows beneath a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsAccess(u64);

impl FsAccess {
    /// Read files, list directories.
    pub const READ: FsAccess = FsAccess(fs::READ);
    /// Write, create, remove, rename, truncate.
    pub const WRITE: FsAccess = FsAccess(fs::WRITE);
    /// Execute files.
    pub const EXEC: FsAccess = FsAccess(fs::EXECUTE);
    /// Use ioctls on device nodes.
    pub const DEVICE: FsAccess = FsAccess(fs::IOCTL_DEV);
}

impl std::ops::BitOr for FsAccess {
    type Output = FsAccess;
    fn bitor(self, rhs: FsAccess) -> FsAccess {
        FsAccess(self.0 | rhs.0)
    }
}

/// A program to start, and the credential to start it with.
#[derive(Debug, Clone)]
pub struct Spawn {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    privileges: Option<PrivSet>,
    limit: Option<PrivSet>,
    rlimits: Vec<(u32, u64, u64)>,
    fds: Vec<(RawFd, RawFd)>,
    no_new_privs: bool,
    lock_securebits: bool,
    fs_allow: Option<Vec<(PathBuf, FsAccess)>>,
    seccomp: Vec<bpf::Rule>,
    unshare: i32,
    cwd: Option<PathBuf>,
    private_dev: Option<Vec<String>>,
}

impl Spawn {
    /// A spawn of `program` (looked up in the caller's PATH when it has no
    /// slash) with a clean environment, the caller's ids and privileges,
    /// fds 0-2 passed on and every other fd closed, no_new_privs set.
    pub fn new(program: impl AsRef<OsStr>) -> Spawn {
        let program = program.as_ref().to_os_string();
        Spawn {
            args: vec![program.clone()],
            program,
            env: Vec::new(),
            uid: None,
            gid: None,
            groups: None,
            privileges: None,
            limit: None,
            rlimits: Vec::new(),
            fds: vec![(0, 0), (1, 1), (2, 2)],
            no_new_privs: true,
            lock_securebits: true,
            fs_allow: None,
            seccomp: Vec::new(),
            unshare: 0,
            cwd: None,
            private_dev: None,
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Spawn {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, it: I) -> Spawn {
        self.args
            .extend(it.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets one environment variable (the environment starts empty).
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Spawn {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I: IntoIterator<Item = (K, V)>, K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        it: I,
    ) -> Spawn {
        for (k, v) in it {
            self = self.env(k, v);
        }
        self
    }

    /// The child's uid (real, effective and saved).
    pub fn uid(mut self, uid: u32) -> Spawn {
        self.uid = Some(uid);
        self
    }

    /// The child's gid (real, effective and saved).
    pub fn gid(mut self, gid: u32) -> Spawn {
        self.gid = Some(gid);
        self
    }

    /// The child's supplementary groups (default: the caller's; an empty
    /// list drops them all).
    pub fn groups(mut self, groups: &[u32]) -> Spawn {
        self.groups = Some(groups.to_vec());
        self
    }

    /// The privileges the program runs with (its I; after exec E = P = I ∩ L).
    /// Default: the caller's I.
    pub fn privileges(mut self, privs: PrivSet) -> Spawn {
        self.privileges = Some(privs);
        self
    }

    /// The program's limit set L. Default: the caller's.
    pub fn limit(mut self, privs: PrivSet) -> Spawn {
        self.limit = Some(privs);
        self
    }

    /// A resource limit (`libc::RLIMIT_*`).
    pub fn rlimit(mut self, resource: u32, soft: u64, hard: u64) -> Spawn {
        self.rlimits.push((resource, soft, hard));
        self
    }

    /// Passes the caller's `fd` as `target` in the child. The caller keeps
    /// `fd` open until [`Spawn::spawn`] returns. Passing anything as 0, 1
    /// or 2 replaces the default of passing the caller's own.
    pub fn pass_fd(mut self, fd: RawFd, target: RawFd) -> Spawn {
        self.fds.retain(|(_, t)| *t != target);
        self.fds.push((fd, target));
        self
    }

    /// Closes the child's stdin, stdout and stderr unless passed explicitly.
    pub fn no_stdio(mut self) -> Spawn {
        self.fds.retain(|(f, t)| !(*t <= 2 && f == t));
        self
    }

    /// Whether to set no_new_privs (default yes). It is set anyway when a
    /// basic privilege is removed or the limit set cannot be narrowed.
    pub fn no_new_privs(mut self, on: bool) -> Spawn {
        self.no_new_privs = on;
        self
    }

    /// Whether to lock securebits NOROOT and NO_SETUID_FIXUP in the child
    /// (default yes: uid 0 then means nothing to the program).
    pub fn lock_securebits(mut self, on: bool) -> Spawn {
        self.lock_securebits = on;
        self
    }

    /// Confines the file system with Landlock: only these paths, with
    /// these rights (the program file itself is always readable and executable).
    pub fn fs_allow(mut self, path: impl Into<PathBuf>, access: FsAccess) -> Spawn {
        self.fs_allow
            .get_or_insert_with(Vec::new)
            .push((path.into(), access));
        self
    }

    /// Adds seccomp deny rules of the caller's own.
    pub fn seccomp(mut self, rules: &[bpf::Rule]) -> Spawn {
        self.seccomp.extend_from_slice(rules);
        self
    }

    /// Unshares these namespaces (`libc::CLONE_NEW*`) before the drop.
    pub fn unshare(mut self, flags: i32) -> Spawn {
        self.unshare |= flags;
        self
    }

    /// Gives the program a private `/dev` holding only these nodes of the
    /// host's (`null`, `kvm`, ...), in a mount namespace owned by a user
    /// namespace that maps only its own uid and gid: no capability of the
    /// caller is needed for it, and the capabilities the child has inside
    /// that namespace are dropped before exec like any other.
    pub fn private_dev(mut self, nodes: &[&str]) -> Spawn {
        self.private_dev = Some(nodes.iter().map(|n| (*n).to_string()).collect());
        self
    }

    /// The child's working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Spawn {
        self.cwd = Some(dir.into());
        self
    }

    fn invalid(&self, why: Invalid) -> SpawnError {
        SpawnError::Invalid {
            program: self.program.to_string_lossy().into_owned(),
            why,
        }
    }
}
