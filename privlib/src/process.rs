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

use std::io;
use std::sync::Mutex;

use crate::basic::{self, landlock::LandlockError};
use crate::caps::{CapMask, num};
use crate::names::Backing;
use crate::set::{PrivSet, PrivSets, Which};
use crate::sys::{self, CapState, CredOp, Linux, Sys, bpf, secbit};

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

fn non_cap(s: &PrivSet) -> PrivSet {
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

fn run(sys: &mut impl Sys, ops: &[CredOp]) -> Result<(), PrivError> {
    for op in ops {
        sys.apply(op).map_err(|e| PrivError::Step {
            step: op.step(),
            source: io::Error::from_raw_os_error(e),
        })?;
    }
    Ok(())
}

fn not_held(caps: CapMask) -> PrivError {
    let named = PrivSet::from_caps(caps);
    PrivError::NotHeld(if named.is_empty() {
        caps.to_string()
    } else {
        named.to_literal()
    })
}

/// The umask [`init_daemon_priv`] sets.
pub const DAEMON_UMASK: u32 = 0o077;

/// `init_daemon_priv` on the calling process; see [`init_daemon_priv_with`].
pub fn init_daemon_priv(
    flags: InitFlags,
    uid: Option<u32>,
    gid: Option<u32>,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    with_state(|st| init_daemon_priv_with(&mut Linux, st, flags, uid, gid, privs))
}

/// Switches to `uid`:`gid` (when given) and keeps `privs` plus basic:
/// E = P = privs+basic afterwards, I and L as `flags` say. Securebits
/// NOROOT and NO_SETUID_FIXUP are set and locked (when the process may:
/// always when it runs as root), no_new_privs is set, and the process is
/// made non-dumpable. Works when started as root and when a service manager
/// started it as the target user with ambient capabilities (it then trims).
pub fn init_daemon_priv_with(
    sys: &mut impl Sys,
    st: &mut ProcState,
    flags: InitFlags,
    uid: Option<u32>,
    gid: Option<u32>,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    // Validate everything first.
    let threads = sys.thread_count()?;
    if threads != 1 {
        return Err(PrivError::MultiThreaded(threads));
    }
    let last = sys.last_cap();
    let nset = privs.union(&PrivSet::basic());
    let want = nset.caps(last);
    let cur = sys.caps()?;
    if !cur.permitted.contains(want) {
        return Err(not_held(want.minus(cur.permitted)));
    }
    let ids = sys.ids();
    let setpcap = cur.permitted.has(num::SETPCAP);
    let sb = sys.securebits();
    if sb & secbit::LOCKED_NOROOT != secbit::LOCKED_NOROOT && !setpcap && ids.uid.contains(&0) {
        return Err(PrivError::NoSetpcap);
    }
    let (_, before) = current(sys, st)?;

    // Then act, in this order.
    let mut ops = Vec::new();
    // 1. E = P, so the steps below may use whatever P holds (illumos does
    //    the same before it changes ids).
    if cur.effective != cur.permitted {
        ops.push(CredOp::SetCaps(CapState {
            effective: cur.permitted,
            ..cur
        }));
    }
    // 2. Securebits before any id change: with NO_SETUID_FIXUP the switch
    //    away from uid 0 leaves capabilities alone (we trim them ourselves
    //    in step 6), and NOROOT means uid 0 never again implies every
    //    capability on exec. Both locked. A process without CAP_SETPCAP and
    //    without uid 0 has no root semantics to lose; no_new_privs covers exec.
    if sb & secbit::LOCKED_NOROOT != secbit::LOCKED_NOROOT && setpcap {
        ops.push(CredOp::Securebits(sb | secbit::LOCKED_NOROOT));
    }
    // 3. Groups, then gid, then uid: each later step needs the one before
    //    to still have its privilege.
    if flags.has(InitFlags::RESETGROUPS) && cur.permitted.has(num::SETGID) {
        ops.push(CredOp::SetGroups(Vec::new()));
    }
    if let Some(g) = gid.filter(|g| ids.gid != [*g; 3]) {
        ops.push(CredOp::SetGid(g));
    }
    if let Some(u) = uid.filter(|u| ids.uid != [*u; 3]) {
        ops.push(CredOp::SetUid(u));
    }
    // 4. L. Narrowing the bounding set needs CAP_SETPCAP; without it,
    //    no_new_privs (step 7) keeps exec from adding anything, which is
    //    what L guarantees.
    let bounding = sys.bounding();
    let limit = if flags.has(InitFlags::CLEARLIMITSET) {
        CapMask::EMPTY
    } else if flags.has(InitFlags::LIMITPRIVS) {
        want
    } else {
        bounding
    };
    let drop = bounding.minus(limit);
    if !drop.is_empty() && setpcap {
        ops.push(CredOp::DropBounding(drop));
    }
    // 5. E = P = privs; I = privs only with INHERITPRIVS.
    let inherit = if flags.has(InitFlags::INHERITPRIVS) {
        want.intersect(limit)
    } else {
        CapMask::EMPTY
    };
    ops.push(CredOp::SetCaps(CapState {
        effective: want,
        permitted: want,
        inheritable: inherit,
    }));
    // 6. Ambient: what a service manager raised goes; with INHERITPRIVS the
    //    kept capabilities pass to programs we exec.
    ops.push(CredOp::ClearAmbient);
    if !inherit.is_empty() {
        ops.push(CredOp::RaiseAmbient(inherit));
    }
    // 7. no_new_privs: set-id bits and file capabilities never add
    //    privileges to anything this process execs.
    ops.push(CredOp::NoNewPrivs);
    // 8. Non-dumpable: no core file with our secrets, no ptrace or /proc
    //    access by other processes of the same uid.
    ops.push(CredOp::Dumpable(false));
    // 9. umask 077: whatever the daemon creates is its account's alone
    //    unless it asks for more with an explicit mode (the 0666 sockets
    //    and the directories that hold them).
    ops.push(CredOp::Umask(DAEMON_UMASK));
    run(sys, &ops)?;

    let soft = non_cap(&nset);
    st.soft = Some(PrivSets {
        effective: soft,
        permitted: soft,
        inheritable: if flags.has(InitFlags::INHERITPRIVS) {
            soft
        } else {
            PrivSet::none()
        },
        limit: if flags.has(InitFlags::CLEARLIMITSET) {
            PrivSet::none()
        } else if flags.has(InitFlags::LIMITPRIVS) {
            soft
        } else {
            non_cap(&before.limit)
        },
    });
    Ok(())
}

/// Removes `privs` from P (and so from E and I) for good.
pub fn fini_daemon_priv(privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| fini_daemon_priv_with(&mut Linux, st, privs))
}

/// [`fini_daemon_priv`] through a given [`Sys`].
pub fn fini_daemon_priv_with(
    sys: &mut impl Sys,
    st: &mut ProcState,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    let (caps, cur) = current(sys, st)?;
    let mut new = cur;
    for w in [Which::Effective, Which::Permitted, Which::Inheritable] {
        *new.get_mut(w) = new.get(w).minus(privs);
    }
    // Capabilities are taken away as such: a privilege that shares its
    // capability with another (sys_mount and ipc_owner are both
    // CAP_SYS_ADMIN) takes the capability with it.
    let gone = privs.caps(sys.last_cap());
    let new_caps = CapState {
        effective: caps.effective.minus(gone),
        permitted: caps.permitted.minus(gone),
        inheritable: caps.inheritable.minus(gone),
    };
    let bounding = sys.bounding();
    apply_sets(sys, st, &cur, &new, new_caps, bounding)
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

/// [`setppriv`] through a given [`Sys`].
pub fn setppriv_with(
    sys: &mut impl Sys,
    st: &mut ProcState,
    op: PrivOp,
    which: Which,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    let (caps, cur) = current(sys, st)?;
    let mut new = cur;
    let s = new.get_mut(which);
    *s = match op {
        PrivOp::On => s.union(privs),
        PrivOp::Off => s.minus(privs),
        PrivOp::Set => *privs,
    };
    if which == Which::Permitted {
        new.effective = new.effective.intersect(&new.permitted);
    }
    // Capabilities change as such (see fini_daemon_priv_with).
    let pc = privs.caps(sys.last_cap());
    let change = |m: CapMask| match op {
        PrivOp::On => m.union(pc),
        PrivOp::Off => m.minus(pc),
        PrivOp::Set => pc,
    };
    let mut new_caps = caps;
    let mut bounding = sys.bounding();
    match which {
        Which::Effective => new_caps.effective = change(caps.effective),
        Which::Inheritable => new_caps.inheritable = change(caps.inheritable),
        Which::Permitted => {
            new_caps.permitted = change(caps.permitted);
            new_caps.effective = caps.effective.intersect(new_caps.permitted);
        }
        Which::Limit => bounding = change(bounding),
    }
    apply_sets(sys, st, &cur, &new, new_caps, bounding)
}

/// Moves the calling process from `cur` to `new` (the non-capability
/// part) and to `want` and `limit` (capabilities and bounding set).
fn apply_sets(
    sys: &mut impl Sys,
    st: &mut ProcState,
    cur: &PrivSets,
    new: &PrivSets,
    want: CapState,
    limit: CapMask,
) -> Result<(), PrivError> {
    let caps = sys.caps()?;
    let (ne, np, ni, nl) = (want.effective, want.permitted, want.inheritable, limit);
    // P, I and L are per thread on Linux: a change to them that leaves
    // other threads behind would be a lie. (E alone is bracketing, per
    // thread by design.)
    let threads = sys.thread_count()?;
    if (np != caps.permitted || ni != caps.inheritable || nl != sys.bounding()) && threads != 1 {
        return Err(PrivError::MultiThreaded(threads));
    }
    if !caps.permitted.contains(np) {
        return Err(not_held(np.minus(caps.permitted)));
    }
    if !np.contains(ne) {
        return Err(not_held(ne.minus(np)));
    }
    // Non-capability privileges: P cannot grow, and E stays within P.
    let grown = non_cap(&new.permitted)
        .minus(&non_cap(&cur.permitted))
        .union(&non_cap(&new.effective).minus(&non_cap(&new.permitted)));
    let basic = PrivSet::basic();
    if !grown.is_empty() {
        let restore = grown.intersect(&basic);
        return Err(if restore.is_empty() {
            PrivError::NotHeld(grown.to_literal())
        } else {
            PrivError::CannotRestore(restore.to_literal())
        });
    }
    let bounding = sys.bounding();
    if !bounding.contains(nl) {
        return Err(PrivError::LimitGrow(
            PrivSet::from_caps(nl.minus(bounding)).to_literal(),
        ));
    }
    let mut ops = Vec::new();
    let drop = bounding.minus(nl);
    if !drop.is_empty() {
        if !caps.permitted.has(num::SETPCAP) {
            return Err(PrivError::LimitNeedsSetpcap);
        }
        let with_setpcap = caps.effective.union(CapMask::of(&[num::SETPCAP]));
        ops.push(CredOp::SetCaps(CapState {
            effective: with_setpcap,
            ..caps
        }));
        ops.push(CredOp::DropBounding(drop));
    }
    ops.push(CredOp::SetCaps(CapState {
        effective: ne,
        permitted: np,
        inheritable: ni,
    }));

    // Basic privileges gone from E or P are enforced now, and for good.
    let had = cur.permitted.intersect(&cur.effective).intersect(&basic);
    let keep = new.permitted.intersect(&new.effective).intersect(&basic);
    let gone = had.minus(&keep);
    let held = basic.minus(&gone).union(&basic.minus(&had));
    let removal = basic::removal(&held, false);
    let mut _ruleset = None;
    if !removal.is_empty() {
        if !sys.no_new_privs() {
            ops.push(CredOp::NoNewPrivs);
        }
        if removal.landlock_fs != 0 || removal.landlock_scope != 0 {
            let threads = sys.thread_count()?;
            if threads != 1 {
                return Err(PrivError::MultiThreaded(threads));
            }
            let rs =
                basic::landlock::ruleset(sys, removal.landlock_fs, removal.landlock_scope, &[])?;
            ops.push(CredOp::LandlockRestrict(rs.fd()));
            _ruleset = Some(rs);
        }
        if !removal.rules.is_empty() {
            let prog = bpf::assemble(&removal.rules).map_err(|e| PrivError::Step {
                step: "assemble seccomp filter",
                source: io::Error::other(e),
            })?;
            ops.push(CredOp::Seccomp {
                prog,
                flags: sys::SECCOMP_FILTER_FLAG_TSYNC,
                listener_to: None,
            });
        }
    }
    run(sys, &ops)?;
    st.soft = Some(PrivSets {
        effective: non_cap(&new.effective).minus(&gone),
        permitted: non_cap(&new.permitted).minus(&gone),
        inheritable: non_cap(&new.inheritable),
        limit: non_cap(&new.limit),
    });
    Ok(())
}

/// Sets the bracketed privileges (they must be in P) and turns them off in
/// E; [`priv_bracket`] then raises and lowers them around the one operation
/// that needs them.
pub fn priv_bracket_init(privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| priv_bracket_init_with(&mut Linux, st, privs))
}

/// [`priv_bracket_init`] through a given [`Sys`].
pub fn priv_bracket_init_with(
    sys: &mut impl Sys,
    st: &mut ProcState,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    let caps = sys.caps()?;
    let b = privs.caps(sys.last_cap());
    if !caps.permitted.contains(b) {
        return Err(not_held(b.minus(caps.permitted)));
    }
    run(
        sys,
        &[CredOp::SetCaps(CapState {
            effective: caps.effective.minus(b),
            ..caps
        })],
    )?;
    st.bracket = Some(*privs);
    Ok(())
}

/// Raises (`On`) or lowers (`Off`) the bracketed privileges in E of the
/// calling thread. Without bracketed privileges it does nothing, as on
/// illumos (the process runs fully privileged or never asked for any).
pub fn priv_bracket(op: PrivOp) -> Result<(), PrivError> {
    with_state(|st| priv_bracket_with(&mut Linux, st, op))
}

/// [`priv_bracket`] through a given [`Sys`].
pub fn priv_bracket_with(
    sys: &mut impl Sys,
    st: &mut ProcState,
    op: PrivOp,
) -> Result<(), PrivError> {
    let Some(bracket) = st.bracket else {
        return Ok(());
    };
    let caps = sys.caps()?;
    let b = bracket.caps(sys.last_cap());
    let effective = match op {
        PrivOp::On => caps.effective.union(b),
        PrivOp::Off => caps.effective.minus(b),
        PrivOp::Set => return Err(PrivError::NotHeld("priv_bracket takes On or Off".into())),
    };
    run(sys, &[CredOp::SetCaps(CapState { effective, ..caps })])
}

/// For set-uid programs: keep only `privs` (bracketed, off in E), switch
/// every uid and gid to the real ones, lock the securebits, set
/// no_new_privs. A program run by root (real uid 0) keeps everything.
pub fn init_suid_priv(flags: InitFlags, privs: &PrivSet) -> Result<(), PrivError> {
    with_state(|st| init_suid_priv_with(&mut Linux, st, flags, privs))
}

/// [`init_suid_priv`] through a given [`Sys`].
pub fn init_suid_priv_with(
    sys: &mut impl Sys,
    st: &mut ProcState,
    flags: InitFlags,
    privs: &PrivSet,
) -> Result<(), PrivError> {
    let ids = sys.ids();
    if ids.uid[0] == 0 && ids.uid[1] == 0 {
        return Ok(());
    }
    if st.bracket.is_some() {
        return Err(PrivError::SuidTwice);
    }
    let threads = sys.thread_count()?;
    if threads != 1 {
        return Err(PrivError::MultiThreaded(threads));
    }
    let caps = sys.caps()?;
    let want = privs.caps(sys.last_cap());
    if !caps.permitted.contains(want) {
        return Err(not_held(want.minus(caps.permitted)));
    }
    let setpcap = caps.effective.has(num::SETPCAP);
    let mut ops = Vec::new();
    // Lock the securebits first so that the switch to the real uid keeps
    // the capabilities we trim below, and uid 0 means nothing afterwards.
    if setpcap {
        ops.push(CredOp::Securebits(sys.securebits() | secbit::LOCKED_NOROOT));
        let bounding = sys.bounding();
        let limit = if flags.has(InitFlags::CLEARLIMITSET) {
            CapMask::EMPTY
        } else if flags.has(InitFlags::LIMITPRIVS) {
            want
        } else {
            bounding
        };
        if !bounding.minus(limit).is_empty() {
            ops.push(CredOp::DropBounding(bounding.minus(limit)));
        }
    } else if ids.uid[1] == 0 {
        return Err(PrivError::NoSetpcap);
    }
    if ids.gid[1] != ids.gid[0] || ids.gid[2] != ids.gid[0] {
        ops.push(CredOp::SetGid(ids.gid[0]));
    }
    if ids.uid[1] != ids.uid[0] || ids.uid[2] != ids.uid[0] {
        ops.push(CredOp::SetUid(ids.uid[0]));
    }
    ops.push(CredOp::SetCaps(CapState {
        effective: CapMask::EMPTY,
        permitted: want,
        inheritable: caps.inheritable.intersect(want),
    }));
    ops.push(CredOp::ClearAmbient);
    ops.push(CredOp::NoNewPrivs);
    ops.push(CredOp::Dumpable(false));
    run(sys, &ops)?;
    let basic = PrivSet::basic();
    st.soft = Some(PrivSets {
        effective: basic,
        permitted: basic.union(&non_cap(privs)),
        inheritable: basic,
        limit: if flags.has(InitFlags::CLEARLIMITSET) {
            PrivSet::none()
        } else {
            default_soft(false).limit
        },
    });
    st.bracket = Some(*privs);
    Ok(())
}

/// Removes the bracketed privileges from E and P for good.
pub fn relinquish() -> Result<(), PrivError> {
    with_state(|st| relinquish_with(&mut Linux, st))
}

/// [`relinquish`] through a given [`Sys`].
pub fn relinquish_with(sys: &mut impl Sys, st: &mut ProcState) -> Result<(), PrivError> {
    let Some(bracket) = st.bracket.take() else {
        return Ok(());
    };
    let caps = sys.caps()?;
    let b = bracket.caps(sys.last_cap());
    run(
        sys,
        &[CredOp::SetCaps(CapState {
            effective: caps.effective.minus(b),
            permitted: caps.permitted.minus(b),
            inheritable: caps.inheritable.minus(b),
        })],
    )
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
