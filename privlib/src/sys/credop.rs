//! Credential changes as data: what a plan is made of, applied by
//! [`super::Sys::apply`] or, in a forked child, by [`super::apply_raw`].

use std::ffi::CString;
use std::os::fd::RawFd;

use super::CapState;
use super::bpf;
use crate::caps::CapMask;

/// What [`CredOp::PrivateDev`] needs, prepared by the parent so the child
/// only makes system calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateDev {
    /// `"UID UID 1"` for /proc/self/uid_map.
    pub uid_map: CString,
    /// `"GID GID 1"` for /proc/self/gid_map.
    pub gid_map: CString,
    /// The nodes: `/dev/NAME` each.
    pub nodes: Vec<CString>,
    /// The bounding set to keep: a new user namespace starts with a full
    /// one, which is cut back to this.
    pub bounding: CapMask,
}

/// One credential change, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredOp {
    /// Unblock every signal and give SIGPIPE its default action back (the
    /// Rust runtime ignores it, and an ignored signal stays ignored across exec).
    ResetSignals,
    /// `unshare(flags)`.
    Unshare(i32),
    /// `setrlimit(resource, soft, hard)`.
    Rlimit {
        /// `RLIMIT_*`.
        resource: u32,
        /// Soft limit.
        soft: u64,
        /// Hard limit.
        hard: u64,
    },
    /// Move fds to their numbers in the child and mark every other fd
    /// above 2 close-on-exec; (from, to) pairs, at most [`super::fds::MAX_PASSED_FDS`].
    RemapFds(Vec<(RawFd, RawFd)>),
    /// `chdir(path)`.
    Chdir(CString),
    /// `prctl(PR_SET_SECUREBITS, bits)`.
    Securebits(u32),
    /// `prctl(PR_SET_KEEPCAPS, on)`.
    KeepCaps(bool),
    /// Drop these capabilities from the bounding set.
    DropBounding(CapMask),
    /// `setgroups(list)`.
    SetGroups(Vec<u32>),
    /// `setresgid(g, g, g)`.
    SetGid(u32),
    /// `setresuid(u, u, u)`.
    SetUid(u32),
    /// `capset` of the three sets.
    SetCaps(CapState),
    /// Lower every ambient capability.
    ClearAmbient,
    /// Raise these ambient capabilities (each must be in P and I).
    RaiseAmbient(CapMask),
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    NoNewPrivs,
    /// `prctl(PR_SET_DUMPABLE, on)`.
    Dumpable(bool),
    /// `umask(mask)`.
    Umask(u32),
    /// `landlock_restrict_self(fd)`.
    LandlockRestrict(RawFd),
    /// A user namespace mapping only the caller's own uid and gid to
    /// themselves, a private mount namespace owned by it, and in it a fresh
    /// tmpfs on `/dev` holding only bind mounts of the nodes given. Needs
    /// no capability of the caller; the capabilities it has inside the new
    /// namespace go with the next [`CredOp::SetCaps`].
    PrivateDev(PrivateDev),
    /// Install a seccomp filter with these flags.
    Seccomp {
        /// The program.
        prog: Vec<bpf::BpfInsn>,
        /// `SECCOMP_FILTER_FLAG_*`.
        flags: u64,
        /// With NEW_LISTENER: the unix socket on which to send the listener fd.
        listener_to: Option<RawFd>,
    },
}

impl CredOp {
    /// A short name for error messages: which step failed.
    pub fn step(&self) -> &'static str {
        match self {
            CredOp::ResetSignals => "reset signal mask",
            CredOp::Unshare(_) => "unshare namespaces",
            CredOp::Rlimit { .. } => "setrlimit",
            CredOp::RemapFds(_) => "pass file descriptors",
            CredOp::Chdir(_) => "chdir",
            CredOp::Securebits(_) => "set securebits",
            CredOp::KeepCaps(_) => "set keep-caps",
            CredOp::DropBounding(_) => "drop bounding set",
            CredOp::SetGroups(_) => "setgroups",
            CredOp::SetGid(_) => "setresgid",
            CredOp::SetUid(_) => "setresuid",
            CredOp::SetCaps(_) => "capset",
            CredOp::ClearAmbient => "clear ambient set",
            CredOp::RaiseAmbient(_) => "raise ambient set",
            CredOp::NoNewPrivs => "set no_new_privs",
            CredOp::Dumpable(_) => "set dumpable",
            CredOp::Umask(_) => "umask",
            CredOp::LandlockRestrict(_) => "landlock_restrict_self",
            CredOp::Seccomp { .. } => "install seccomp filter",
            CredOp::PrivateDev(_) => "private /dev in a user namespace",
        }
    }
}
