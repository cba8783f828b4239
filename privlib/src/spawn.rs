//! Starting a program with a credential.
//!
//! [`Spawn`] validates everything first, then forks; the child applies a
//! fixed list of [`CredOp`]s and execs, so it is least-privileged *before*
//! the new program runs a single instruction. The order (see
//! [`Spawn::plan`]) is part of the security design and is unit-tested
//! against the recording fake.
//!
//! After exec a Linux program holds, in E and P, exactly its ambient set;
//! privlib puts the credential's privileges there, which gives the Solaris
//! rule: the new program's E = P = I ∩ L.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use crate::basic;
use crate::caps::num;
use crate::process::PrivError;
use crate::set::PrivSet;
use crate::sys::child::{self, ExecImage, MAX_PASSED_FDS};
use crate::sys::landlock::{Ruleset, fs};
use crate::sys::{self, CapState, CredOp, HeldFd, Linux, Sys, bpf, secbit};

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

/// Why a spawn failed; a failure in the child names the step.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The request itself is wrong; nothing was started.
    #[error("spawn {program}: {why}")]
    Invalid {
        /// The program.
        program: String,
        /// What is wrong.
        #[source]
        why: Invalid,
    },
    /// The credential asks for privileges the caller cannot give.
    #[error("spawn {program}: {source}")]
    Privileges {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: PrivError,
    },
    /// A step in the parent (pipe, fork, ...) failed.
    #[error("spawn {program}: {step}: {source}")]
    Setup {
        /// The program.
        program: String,
        /// The step.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A step in the child failed; the program never ran.
    #[error("spawn {program}: child step \"{step}\" failed: {source}")]
    Child {
        /// The program.
        program: String,
        /// The step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

/// What is wrong with a spawn request (found before anything starts).
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A string the kernel takes NUL-terminated holds a NUL byte.
    #[error("{0} holds a NUL byte")]
    Nul(&'static str),
    /// No program was named.
    #[error("no command given")]
    NoCommand,
    /// The program path names no executable file.
    #[error("not an executable file")]
    NotExecutable,
    /// No directory of PATH holds the program.
    #[error("not found in PATH")]
    NotInPath,
    /// An environment name that is empty or holds `=`.
    #[error("bad environment name {0:?}")]
    EnvName(OsString),
    /// More fds to pass than the child can move.
    #[error("more than {MAX_PASSED_FDS} fds to pass")]
    TooManyFds,
    /// A target fd that is negative or given twice.
    #[error("fd target {0} is negative or given twice")]
    FdTarget(RawFd),
    /// An fd to pass that is not open.
    #[error("fd {from} to pass as {to} is not open")]
    FdNotOpen {
        /// The caller's fd.
        from: RawFd,
        /// Its number in the child.
        to: RawFd,
    },
    /// No file_read and nothing allowed: not even the libraries would load.
    #[error(
        "file_read is not among the program's privileges and no fs_allow rule lets it \
         read anything, not even the libraries a dynamically linked program loads: \
         add fs_allow rules or keep file_read"
    )]
    NoFileRead,
    /// /dev/null, for the standard fds not passed, could not be opened.
    #[error("/dev/null: {0}")]
    DevNull(#[source] io::Error),
    /// More private /dev nodes than a private /dev holds.
    #[error("more than {} /dev nodes", sys::MAX_DEV_NODES)]
    TooManyNodes,
    /// A /dev node name that is empty, holds `/` or starts with a dot.
    #[error("bad /dev node name {0:?}")]
    NodeName(String),
    /// A /dev node that cannot be opened (or is a symlink).
    #[error("{}: {source}", .path.display())]
    Node {
        /// The node.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The seccomp rules do not fit one filter.
    #[error("seccomp filter: {0}")]
    Seccomp(#[source] bpf::RuleTooLong),
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

/// The checked plan of a spawn: what the child will do, in order.
#[derive(Debug)]
pub struct Plan {
    /// The child's steps before exec.
    pub ops: Vec<CredOp>,
    /// The program image.
    pub image: ExecImage,
    /// The Landlock ruleset the child enforces (kept open until the fork).
    pub ruleset: Option<Ruleset>,
    /// /dev/null, for standard fds that are not passed (kept open until the fork).
    pub devnull: Option<HeldFd>,
    /// Whether exec is let through once by a seccomp listener.
    pub exec_once: bool,
}

/// A started child.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

impl Child {
    /// Its pid.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// A pidfd for it (for polling, adoption checks and signals).
    pub fn pidfd(&self) -> &OwnedFd {
        &self.pidfd
    }

    /// Waits for it to end and reaps it.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        child::wait_pidfd(&self.pidfd).map(ExitStatus::from_raw)
    }

    /// Sends it a signal (through the pidfd: never hits a recycled pid).
    pub fn kill(&self, sig: i32) -> io::Result<()> {
        child::pidfd_kill(&self.pidfd, sig)
    }

    /// Takes over a running process that is not our child (one a previous
    /// instance of a daemon started): its pidfd polls readable when it
    /// ends and signals it safely; [`Child::wait`] fails with ECHILD, as
    /// its parent reaps it. Check that `pid` is still the process meant
    /// (its start time, say) after this, not before: the pidfd pins it.
    pub fn adopt(pid: libc::pid_t) -> io::Result<Child> {
        Ok(Child {
            pid,
            pidfd: child::pidfd_open(pid)?,
        })
    }
}

fn cstring(what: &'static str, s: &OsStr) -> Result<CString, Invalid> {
    CString::new(s.as_bytes()).map_err(|_| Invalid::Nul(what))
}

/// Finds `program` like execvp would, once, in the parent: the child then
/// makes exactly one execve (which matters when exec is let through once).
fn resolve(sys: &impl Sys, program: &OsStr) -> Result<PathBuf, Invalid> {
    let p = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        return if sys.is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(Invalid::NotExecutable)
        };
    }
    let path_var = sys
        .path_var()
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path_var)
        .map(|d| d.join(p))
        .find(|c| sys.is_executable(c))
        .ok_or(Invalid::NotInPath)
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

    /// Validates the request and works out the child's steps, in order:
    ///
    /// 1. signals reset (the Rust runtime ignores SIGPIPE);
    /// 2. namespaces and rlimits, while still privileged (raising a hard
    ///    limit needs sys_resource);
    /// 3. fds moved into place, all others close-on-exec; cwd;
    /// 4. securebits locked and bounding set narrowed: both need
    ///    CAP_SETPCAP, which the uid change may cost;
    /// 5. groups, gid, uid;
    /// 6. capsets and ambient set: the privileges the program will hold;
    /// 7. no_new_privs, Landlock, and seccomp last, so that no earlier step
    ///    is filtered.
    pub fn plan(&self, sys: &impl Sys) -> Result<Plan, SpawnError> {
        let name = self.program.to_string_lossy().into_owned();
        let privs_err = |source| SpawnError::Privileges {
            program: name.clone(),
            source,
        };

        // Validate.
        let path = resolve(sys, &self.program).map_err(|w| self.invalid(w))?;
        let c_path = cstring("program path", path.as_os_str()).map_err(|w| self.invalid(w))?;
        let args = self
            .args
            .iter()
            .map(|a| cstring("an argument", a))
            .collect::<Result<Vec<_>, _>>();
        let args = args.map_err(|w| self.invalid(w))?;
        let mut env = Vec::with_capacity(self.env.len());
        for (k, v) in &self.env {
            if k.is_empty() || k.as_bytes().contains(&b'=') {
                return Err(self.invalid(Invalid::EnvName(k.clone())));
            }
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            env.push(cstring("the environment", &kv).map_err(|w| self.invalid(w))?);
        }
        if self.fds.len() > MAX_PASSED_FDS {
            return Err(self.invalid(Invalid::TooManyFds));
        }
        for (i, (from, to)) in self.fds.iter().enumerate() {
            if *to < 0 || self.fds[..i].iter().any(|(_, t)| t == to) {
                return Err(self.invalid(Invalid::FdTarget(*to)));
            }
            if !sys.fd_is_open(*from) {
                return Err(self.invalid(Invalid::FdNotOpen {
                    from: *from,
                    to: *to,
                }));
            }
        }
        let cwd = match &self.cwd {
            Some(d) => Some(cstring("cwd", d.as_os_str()).map_err(|w| self.invalid(w))?),
            None => None,
        };

        let last = sys.last_cap();
        let caps = sys.caps().map_err(|e| privs_err(e.into()))?;
        let bounding = sys.bounding();
        let ids = sys.ids();
        let st = crate::process::getppriv_from(sys, &caps, bounding);
        let inherit = self.privileges.unwrap_or(st.inheritable);
        let limit = self.limit.unwrap_or(st.limit);
        let post = inherit.intersect(&limit);
        let post_caps = post.caps(last);
        if !caps.permitted.contains(post_caps) {
            return Err(privs_err(PrivError::NotHeld(
                PrivSet::from_caps(post_caps.minus(caps.permitted)).to_literal(),
            )));
        }
        let limit_caps = limit.caps(last);
        let setpcap = caps.permitted.has(num::SETPCAP);
        let removal = basic::removal(&post, true);
        let mut seccomp_rules = removal.rules.clone();
        seccomp_rules.extend_from_slice(&self.seccomp);
        let exec_once = seccomp_rules.iter().any(bpf::Rule::notifies);
        if removal.landlock_fs & fs::READ_FILE != 0 && self.fs_allow.is_none() {
            return Err(self.invalid(Invalid::NoFileRead));
        }

        // Landlock: rights the removed basic privileges and the caller's
        // confinement handle; the program file stays readable and executable.
        let mut handled = removal.landlock_fs;
        if self.fs_allow.is_some() {
            handled |= sys::landlock::fs_rights(sys.landlock_abi());
        }
        let ruleset = if handled != 0 || removal.landlock_scope != 0 {
            let mut allow: Vec<(&Path, u64)> = vec![(path.as_path(), fs::READ_FILE | fs::EXECUTE)];
            for (p, a) in self.fs_allow.iter().flatten() {
                allow.push((p.as_path(), a.0));
            }
            Some(
                basic::landlock::ruleset(sys, handled, removal.landlock_scope, &allow)
                    .map_err(|e| privs_err(e.into()))?,
            )
        } else {
            None
        };

        // Act: the child's steps.
        let mut ops = vec![CredOp::ResetSignals];
        if self.unshare != 0 {
            ops.push(CredOp::Unshare(self.unshare));
        }
        for (resource, soft, hard) in &self.rlimits {
            ops.push(CredOp::Rlimit {
                resource: *resource,
                soft: *soft,
                hard: *hard,
            });
        }
        // Standard fds that are not passed read and write /dev/null: a
        // closed fd 0-2 would be taken by the program's next open.
        let mut pairs = self.fds.clone();
        let mut devnull = None;
        if (0..=2).any(|t| !pairs.iter().any(|(_, to)| *to == t)) {
            let null = sys
                .open_devnull()
                .map_err(|e| self.invalid(Invalid::DevNull(e)))?;
            for t in 0..=2 {
                if !pairs.iter().any(|(_, to)| *to == t) {
                    pairs.push((null.as_raw_fd(), t));
                }
            }
            devnull = Some(null);
        }
        ops.push(CredOp::RemapFds(pairs));
        // E = P for the steps below.
        if caps.effective != caps.permitted {
            ops.push(CredOp::SetCaps(CapState {
                effective: caps.permitted,
                ..caps
            }));
        }
        let sb = sys.securebits();
        let lock = self.lock_securebits && sb & secbit::LOCKED_NOROOT != secbit::LOCKED_NOROOT;
        let child_root = self.uid.map_or(ids.uid.contains(&0), |u| u == 0);
        if lock && !setpcap && child_root {
            // A uid-0 program without NOROOT gets every capability of its
            // bounding set at exec: refuse rather than start it so.
            return Err(privs_err(PrivError::NoSetpcap));
        }
        if lock && setpcap {
            ops.push(CredOp::Securebits(sb | secbit::LOCKED_NOROOT));
        }
        let drop = bounding.minus(limit_caps);
        let narrowed_by_nnp = !drop.is_empty() && !setpcap;
        if !drop.is_empty() && setpcap {
            ops.push(CredOp::DropBounding(drop));
        }
        let uid_change = self.uid.is_some_and(|u| ids.uid != [u; 3]);
        let fixup_off = (lock && setpcap) || sb & secbit::NO_SETUID_FIXUP != 0;
        if uid_change && !fixup_off {
            // Without NO_SETUID_FIXUP, leaving uid 0 would clear P.
            ops.push(CredOp::KeepCaps(true));
        }
        // A new uid does not inherit our supplementary groups (root's
        // groups would otherwise ride along).
        match &self.groups {
            Some(g) => ops.push(CredOp::SetGroups(g.clone())),
            None if uid_change => ops.push(CredOp::SetGroups(Vec::new())),
            None => {}
        }
        if let Some(g) = self.gid.filter(|g| ids.gid != [*g; 3]) {
            ops.push(CredOp::SetGid(g));
        }
        if let Some(u) = self.uid.filter(|_| uid_change) {
            ops.push(CredOp::SetUid(u));
        }
        // As the new user: a directory it could not enter stays closed.
        if let Some(c) = cwd {
            ops.push(CredOp::Chdir(c));
        }
        // As the new user too: its own user namespace maps only it.
        if let Some(nodes) = &self.private_dev {
            if nodes.len() > sys::MAX_DEV_NODES {
                return Err(self.invalid(Invalid::TooManyNodes));
            }
            let mut paths = Vec::new();
            for n in nodes {
                if n.is_empty() || n.contains('/') || n.starts_with('.') {
                    return Err(self.invalid(Invalid::NodeName(n.clone())));
                }
                let host = Path::new("/dev").join(n);
                // Checked here for a clear error; the child opens it again.
                sys.check_node(&host).map_err(|source| {
                    self.invalid(Invalid::Node {
                        path: host.clone(),
                        source,
                    })
                })?;
                paths.push(cstring("a /dev node", host.as_os_str()).map_err(|w| self.invalid(w))?);
            }
            let uid = self.uid.unwrap_or(ids.uid[1]);
            let gid = self.gid.unwrap_or(ids.gid[1]);
            ops.push(CredOp::PrivateDev(sys::PrivateDev {
                uid_map: cstring("uid_map", OsStr::new(&format!("{uid} {uid} 1")))
                    .map_err(|w| self.invalid(w))?,
                gid_map: cstring("gid_map", OsStr::new(&format!("{gid} {gid} 1")))
                    .map_err(|w| self.invalid(w))?,
                nodes: paths,
                bounding: limit_caps,
            }));
        }
        ops.push(CredOp::SetCaps(CapState {
            effective: post_caps,
            permitted: post_caps,
            inheritable: inherit.caps(last).intersect(limit_caps),
        }));
        ops.push(CredOp::ClearAmbient);
        if !post_caps.is_empty() {
            ops.push(CredOp::RaiseAmbient(post_caps));
        }
        if self.no_new_privs
            || narrowed_by_nnp
            || !removal.is_empty()
            || ruleset.is_some()
            || !seccomp_rules.is_empty()
        {
            ops.push(CredOp::NoNewPrivs);
        }
        if let Some(rs) = &ruleset {
            ops.push(CredOp::LandlockRestrict(rs.fd()));
        }
        if !seccomp_rules.is_empty() {
            let prog =
                bpf::assemble(&seccomp_rules).map_err(|e| self.invalid(Invalid::Seccomp(e)))?;
            let flags = if exec_once {
                sys::SECCOMP_FILTER_FLAG_NEW_LISTENER
            } else {
                0
            };
            // The listener socket is filled in by `spawn`.
            ops.push(CredOp::Seccomp {
                prog,
                flags,
                listener_to: exec_once.then_some(-1),
            });
        }
        Ok(Plan {
            ops,
            image: ExecImage::new(c_path, args, env),
            ruleset,
            devnull,
            exec_once,
        })
    }

    /// Starts the program. Returns once it runs: the exec happened, so any
    /// error after this is the program's own.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        let name = self.program.to_string_lossy().into_owned();
        let setup = |step: &'static str| {
            let name = name.clone();
            move |source| SpawnError::Setup {
                program: name,
                step,
                source,
            }
        };
        let mut plan = self.plan(&Linux)?;
        // Our own fds in the child (error pipe, listener socket, Landlock
        // ruleset) must sit above every target, so that moving fds into
        // place never overwrites them.
        let floor = self
            .fds
            .iter()
            .map(|(f, t)| (*f).max(*t))
            .max()
            .unwrap_or(2)
            + 1;
        if let Some(rs) = &mut plan.ruleset {
            rs.move_above(floor).map_err(setup("dup"))?;
            let fd = rs.fd();
            for op in &mut plan.ops {
                if let CredOp::LandlockRestrict(old) = op {
                    *old = fd;
                }
            }
        }
        let (err_r, err_w_low) = child::pipe().map_err(setup("pipe"))?;
        let err_w = child::dup_above(err_w_low.as_raw_fd(), floor).map_err(setup("dup"))?;
        // Only the high copy may stay open: EOF on the pipe is the signal
        // that the exec happened.
        drop(err_w_low);
        let mut listener_pair = None;
        if plan.exec_once {
            let (ours, theirs_low) = child::socketpair().map_err(setup("socketpair"))?;
            let theirs = child::dup_above(theirs_low.as_raw_fd(), floor).map_err(setup("dup"))?;
            drop(theirs_low);
            for op in &mut plan.ops {
                if let CredOp::Seccomp {
                    listener_to: Some(fd),
                    ..
                } = op
                {
                    *fd = theirs.as_raw_fd();
                }
            }
            listener_pair = Some((ours, theirs));
        }
        // The one-shot exec needs the parent awake while the child waits in
        // execve for its answer, and a new user namespace needs a child
        // that shares no memory; every other spawn uses the cheaper vfork.
        let private_dev = plan.ops.iter().any(|o| matches!(o, CredOp::PrivateDev(_)));
        let kind = if plan.exec_once || private_dev {
            child::ChildKind::Fork
        } else {
            child::ChildKind::Vfork
        };
        let pid = child::fork_exec(&plan.ops, &plan.image, err_w.as_raw_fd(), kind)
            .map_err(setup("fork"))?;
        drop(err_w);
        drop(plan.ruleset.take());
        drop(plan.devnull.take());
        if let Some((ours, theirs)) = listener_pair {
            drop(theirs);
            let let_through = child::recv_fd(ours.as_raw_fd())
                .map_err(setup("receive seccomp listener"))
                .and_then(|listener| match listener {
                    Some(l) => child::allow_first_exec(l, pid, Duration::from_secs(30))
                        .map_err(setup("let exec through")),
                    None => Ok(()),
                });
            if let Err(e) = let_through {
                // Never leave a half-started child behind.
                child::kill_and_reap(pid);
                return Err(e);
            }
        }
        let report = child::read_child_error(&err_r).map_err(setup("read child status"))?;
        if let Some((step, errno)) = report {
            child::reap(pid);
            let step = plan.ops.get(step).map_or("execve", CredOp::step);
            return Err(SpawnError::Child {
                program: name,
                step,
                source: io::Error::from_raw_os_error(errno),
            });
        }
        let pidfd = child::pidfd_open(pid).map_err(setup("pidfd_open"))?;
        Ok(Child { pid, pidfd })
    }
}

#[cfg(test)]
#[path = "spawn_tests.rs"]
mod tests;
