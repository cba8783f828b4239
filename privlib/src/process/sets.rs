//! `setppriv`, and the one path every change of the sets takes, which
//! also enforces removed basic privileges (seccomp, Landlock) for good.

use std::io;

use super::{PrivError, PrivOp, ProcState, current, non_cap, not_held, run};
use crate::basic;
use crate::caps::{CapMask, num};
use crate::set::{PrivSet, PrivSets, Which};
use crate::sys::{self, CapState, CredOp, Sys, bpf};

/// [`setppriv`](super::setppriv) through a given `Sys`.
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
pub(super) fn apply_sets(
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

#[cfg(test)]
#[path = "sets_tests.rs"]
mod tests;
