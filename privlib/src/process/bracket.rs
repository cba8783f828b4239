//! Bracketing (`priv_bracket_init`, `priv_bracket`) and the set-uid calls
//! (`init_suid_priv`, `relinquish`).

use super::{InitFlags, PrivError, PrivOp, ProcState, default_soft, non_cap, not_held, run};
use crate::caps::{CapMask, num};
use crate::set::{PrivSet, PrivSets};
use crate::sys::{CapState, CredOp, Sys, secbit};

/// [`priv_bracket_init`](super::priv_bracket_init) through a given `Sys`.
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

/// [`priv_bracket`](super::priv_bracket) through a given `Sys`.
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

/// [`init_suid_priv`](super::init_suid_priv) through a given `Sys`.
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
        let limit = flags.limit(want, bounding);
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

/// [`relinquish`](super::relinquish) through a given `Sys`.
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
#[path = "bracket_tests.rs"]
mod tests;
