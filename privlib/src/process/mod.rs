//! The calling process's privileges, as illumos privlib has them:
//! [`init_daemon_priv`], [`fini_daemon_priv`], [`priv_bracket`],
//! [`init_suid_priv`] + [`relinquish`], [`getppriv`] and [`setppriv`].
//!
//! Linux keeps capabilities per thread; these calls act on the calling
//! thread, and [`init_daemon_priv`] refuses a process that already has more
//! than one, so that no thread is left behind with the old credentials.
//! Basic, shim and unenforced privileges are not kernel state: privlib
//! records them per process, and enforces removed basic privileges with
//! seccomp and Landlock (see [`crate::basic`]), which cannot be undone.
//! A daemon's own file confinement is [`crate::basic::landlock::confine_fs`].
//!
//! Each call is a thin wrapper here over its `_with` form, which takes the
//! `Sys` and the process record, so the recording fake can pin what it
//! does: `daemon` (`init_daemon_priv`, `fini_daemon_priv`), `sets`
//! (`setppriv` and the one path every set change takes), `bracket`
//! (bracketing and the set-uid calls).

mod bracket;
mod daemon;
mod sets;

use std::io;
use std::sync::Mutex;

pub use bracket::{
    init_suid_priv_with, priv_bracket_init_with, priv_bracket_with, relinquish_with,
};
pub use daemon::{DAEMON_UMASK, fini_daemon_priv_with, init_daemon_priv_with};
pub use sets::setppriv_with;

use crate::basic::landlock::LandlockError;
use crate::caps::{CapMask, num};
use crate::names::Backing;
use crate::set::{PrivSet, PrivSets, Which};
use crate::sys::{CapState, CredOp, Linux, Sys};

/// Flags of [`init_daemon_priv`] and [`init_suid_priv`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InitFlags(u32);

impl InitFlags {
    /// No flag.
    pub const NONE: InitFlags = InitFlags(0);
    /// Drop every supplementary group.
    pub const RESETGROUPS: InitFlags = InitFlags(1);
    /// L := the privileges kept.
    pub const LIMITPRIVS: InitFlags = InitFlags(2);
    /// L := {}.
    pub const CLEARLIMITSET: InitFlags = InitFlags(4);
    /// I := the privileges kept (else I := {}).
    pub const INHERITPRIVS: InitFlags = InitFlags(8);

    /// The bounding set L these flags leave, from `bounding` and the
    /// capabilities kept (`kept`): {} with CLEARLIMITSET, `kept` with
    /// LIMITPRIVS, else unchanged.
    pub fn limit(self, kept: CapMask, bounding: CapMask) -> CapMask {
        if self.has(InitFlags::CLEARLIMITSET) {
            CapMask::EMPTY
        } else if self.has(InitFlags::LIMITPRIVS) {
            kept
        } else {
            bounding
        }
    }

    /// Whether every flag of `other` is set.
    pub fn has(self, other: InitFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for InitFlags {
    type Output = InitFlags;
    fn bitor(self, rhs: InitFlags) -> InitFlags {
        InitFlags(self.0 | rhs.0)
    }
}

/// `priv_bracket` and `setppriv` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivOp {
    /// Add to the set.
    On,
    /// Remove from the set.
    Off,
    /// Replace the set.
    Set,
}

/// Why a credential change failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    /// Credentials are per thread on Linux.
    #[error("{0} threads are running; change credentials before any runtime starts threads")]
    MultiThreaded(usize),
    /// Asked to keep or raise what P does not hold.
    #[error("privileges not held, so they cannot be kept or raised: {0}")]
    NotHeld(String),
    /// A basic privilege, once taken away, stays away.
    #[error("basic privileges cannot be restored once removed: {0}")]
    CannotRestore(String),
    /// A root process without CAP_SETPCAP cannot lock the securebits.
    #[error(
        "cannot lock securebits (NOROOT, NO_SETUID_FIXUP): CAP_SETPCAP is not held by this uid-0 process"
    )]
    NoSetpcap,
    /// The limit set can only shrink.
    #[error("the limit set cannot grow: {0}")]
    LimitGrow(String),
    /// Narrowing the limit set needs CAP_SETPCAP.
    #[error("cannot narrow the limit set without proc_setid (CAP_SETPCAP)")]
    LimitNeedsSetpcap,
    /// Landlock could not take away file_read, file_write or proc_session.
    #[error(transparent)]
    Landlock(#[from] LandlockError),
    /// `init_suid_priv` runs once.
    #[error("init_suid_priv was already called")]
    SuidTwice,
    /// One kernel step failed; says which.
    #[error("{step} failed: {source}")]
    Step {
        /// The step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// Reading the process state failed.
    #[error("reading process credentials: {0}")]
    Io(#[from] io::Error),
}

/// What privlib remembers about the calling process.
#[derive(Debug, Default, Clone)]
pub struct ProcState {
    /// Non-capability privileges per set (`None`: untouched so far).
    pub soft: Option<PrivSets>,
    /// The bracketed privileges.
    pub bracket: Option<PrivSet>,
}

static STATE: Mutex<ProcState> = Mutex::new(ProcState {
    soft: None,
    bracket: None,
});

fn with_state<T>(f: impl FnOnce(&mut ProcState) -> T) -> T {
    let mut guard = STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}

pub(crate) fn non_cap(s: &PrivSet) -> PrivSet {
    s.filter(|b| !matches!(b, Backing::Caps(_)))
}

/// The non-capability part of a process privlib has not touched: basic
/// privileges in E, P and I; unenforced ones too for a fully privileged
/// process (see [`fully_privileged`]); everything in L.
pub fn default_soft(fully_privileged: bool) -> PrivSets {
    let everything = non_cap(&PrivSet::all(crate::caps::MAX_CAP));
    let shims = everything.filter(|b| *b == Backing::Shim);
    let basic = PrivSet::basic();
    let ep = if fully_privileged {
        everything.minus(&shims)
    } else {
        basic
    };
    PrivSets {
        effective: ep,
        permitted: ep,
        inheritable: basic,
        limit: everything,
    }
}

/// Whether a process counts as holding the privileges Linux does not
/// enforce: effective uid 0 with sys_admin, the way Solaris root holds all.
pub fn fully_privileged(euid: u32, permitted: CapMask) -> bool {
    euid == 0 && permitted.has(num::SYS_ADMIN)
}

/// A process's sets from its capabilities and the non-capability part.
pub fn sets_from(caps: &CapState, bounding: CapMask, soft: &PrivSets) -> PrivSets {
    PrivSets {
        effective: PrivSet::from_caps(caps.effective).union(&soft.effective),
        inheritable: PrivSet::from_caps(caps.inheritable).union(&soft.inheritable),
        permitted: PrivSet::from_caps(caps.permitted).union(&soft.permitted),
        limit: PrivSet::from_caps(bounding).union(&soft.limit),
    }
}

fn current(sys: &impl Sys, st: &ProcState) -> Result<(CapState, PrivSets), PrivError> {
    let caps = sys.caps()?;
    let bounding = sys.bounding();
    Ok((caps, current_from(sys, st, &caps, bounding)))
}

fn current_from(sys: &impl Sys, st: &ProcState, caps: &CapState, bounding: CapMask) -> PrivSets {
    let full = fully_privileged(sys.ids().uid[1], caps.permitted);
    let soft = st.soft.unwrap_or_else(|| default_soft(full));
    sets_from(caps, bounding, &soft)
}

pub(crate) fn run(sys: &mut impl Sys, ops: &[CredOp]) -> Result<(), PrivError> {
    for op in ops {
        sys.apply(op).map_err(|e| PrivError::Step {
            step: op.step(),
            source: io::Error::from_raw_os_error(e),
        })?;
    }
    Ok(())
}

pub(crate) fn not_held(caps: CapMask) -> PrivError {
    let named = PrivSet::from_caps(caps);
    PrivError::NotHeld(if named.is_empty() {
        caps.to_string()
    } else {
        named.to_literal()
    })
}

// The calls on the calling process: each runs its `_with` form on the
// real kernel and this process's record.

/// `init_daemon_priv` on the calling process; see [`daemon::init_daemon_priv_with`].
pub fn init_daemon_priv(
    flags: InitFlags,
    uid: Option<u32>,
    gid: Option<u32>,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    with_state(|st| init_daemon_priv_with(&mut Linux, st, flags, uid, gid, privs))
}

/// Removes `privs` from P (and so from E and I) for good.
pub fn fini_daemon_priv(privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| fini_daemon_priv_with(&mut Linux, st, privs))
}

/// The four sets from capability state already read through `sys`, with
/// privlib's record of this process.
pub fn getppriv_from(sys: &impl Sys, caps: &CapState, bounding: CapMask) -> PrivSets {
    with_state(|st| current_from(sys, st, caps, bounding))
}

/// Reads the calling thread's four sets.
pub fn getppriv() -> Result<PrivSets, PrivError> {
    with_state(|st| current(&Linux, st).map(|(_, s)| s))
}

/// Changes one set of the calling process (on Linux: of the calling thread
/// for capabilities). P and L only shrink; E stays within P; a basic
/// privilege removed from E or P is removed from both for good.
pub fn setppriv(op: PrivOp, which: Which, privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| setppriv_with(&mut Linux, st, op, which, privs))
}

/// Sets the bracketed privileges (they must be in P) and turns them off in
/// E; [`priv_bracket`] then raises and lowers them around the one operation
/// that needs them.
pub fn priv_bracket_init(privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| priv_bracket_init_with(&mut Linux, st, privs))
}

/// Raises (`On`) or lowers (`Off`) the bracketed privileges in E of the
/// calling thread. Without bracketed privileges it does nothing, as on
/// illumos (the process runs fully privileged or never asked for any).
pub fn priv_bracket(op: PrivOp) -> Result<(), PrivError> {
    with_state(|st| priv_bracket_with(&mut Linux, st, op))
}

/// For set-uid programs: keep only `privs` (bracketed, off in E), switch
/// every uid and gid to the real ones, lock the securebits, set
/// no_new_privs. A program run by root (real uid 0) keeps everything.
pub fn init_suid_priv(flags: InitFlags, privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| init_suid_priv_with(&mut Linux, st, flags, privs))
}

/// Removes the bracketed privileges from E and P for good.
pub fn relinquish() -> Result<(), PrivError> {
    with_state(|st| relinquish_with(&mut Linux, st))
}

#[cfg(test)]
mod tests_common;
