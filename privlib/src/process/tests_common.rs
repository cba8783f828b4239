//! What the process tests share: set expressions read against 40
//! capabilities, and a root daemon's drop to xvm (60:60).

use super::{InitFlags, PrivError, ProcState, init_daemon_priv_with};
use crate::caps::CapMask;
use crate::set::PrivSet;
use crate::sys::fake::Recording;

/// A set expression, against a kernel whose last capability is 40.
pub(crate) fn set(s: &str) -> PrivSet {
    PrivSet::parse(s, 40).expect(s)
}

/// The capabilities of a set expression.
pub(crate) fn caps(s: &str) -> CapMask {
    set(s).caps(40)
}

/// `init_daemon_priv` to uid and gid 60 keeping `privs`, on the fake.
pub(crate) fn drop_to_xvm(
    sys: &mut Recording,
    st: &mut ProcState,
    flags: InitFlags,
    privs: &str,
) -> Result<(), PrivError> {
    init_daemon_priv_with(sys, st, flags, Some(60), Some(60), &set(privs))
}
