//! `init_daemon_priv` and `fini_daemon_priv`: a daemon's start-up drop
//! and its later, final removals.

use super::sets::apply_sets;
use super::{InitFlags, PrivError, ProcState, current, non_cap, not_held, run};
use crate::caps::{CapMask, num};
use crate::set::{PrivSet, PrivSets, Which};
use crate::sys::{CapState, CredOp, Sys, secbit};

/// The umask [`init_daemon_priv`](super::init_daemon_priv) sets.
pub const DAEMON_UMASK: u32 = 0o077;

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
    let limit = flags.limit(want, bounding);
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

/// [`fini_daemon_priv`](super::fini_daemon_priv) through a given `Sys`.
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

#[cfg(test)]
#[path = "daemon_tests.rs"]
mod tests;
