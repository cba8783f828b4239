//! What xend holds, and when.
//!
//! xend runs as xvm with nothing beyond basic in E. In P it keeps only
//! `proc_setid` (CAP_SETUID, CAP_SETGID, CAP_SETPCAP), in system mode, to
//! give each device model its own uid, gid and kvm group and to empty its
//! bounding set. It is raised in E only around that step ([`Bracket`]).
//! Ending a device model takes no capability: QMP `quit`, or SIGKILL from
//! a helper running as the domain's own uid (CAP_KILL would let xend
//! signal any process). It never holds `sys_admin`: the device model's
//! private mount namespace comes from a user namespace the device model
//! makes for itself, as its own uid.

use privlib::{PrivOp, priv_bracket};

/// The privileges xend keeps in P in system mode.
pub const KEEP: &str = "basic,!proc_info,proc_setid";

/// The privileges raised only around their step.
pub const BRACKETED: &str = "proc_setid";

/// The bracketed privilege (`proc_setid`) in E while alive;
/// nothing when no bracket was set up (session mode).
#[derive(Debug)]
pub struct Bracket(());

impl Bracket {
    /// Raises the bracketed privileges.
    pub fn on() -> Bracket {
        if let Err(e) = priv_bracket(PrivOp::On) {
            tracing::warn!("raising proc_setid: {e}");
        }
        Bracket(())
    }
}

impl Drop for Bracket {
    fn drop(&mut self) {
        if let Err(e) = priv_bracket(PrivOp::Off) {
            tracing::error!("lowering proc_setid: {e}");
        }
    }
}

/// A feature's privileges ([`crate::features::TABLE`]) in E while alive,
/// raised around one call (making a tap, opening an image xvm may not
/// open): never proc_setid with them, and nothing else.
#[derive(Debug)]
pub struct Raised {
    set: privlib::PrivSet,
}

impl Raised {
    /// Raises what `f` declares. Fails when xend does not hold it in P
    /// (the feature is off, or session mode, where xend holds nothing).
    pub fn on(f: crate::features::Feature) -> Result<Raised, privlib::PrivError> {
        let set = privlib::parse_set(f.info().privileges)
            .map_err(|e| privlib::PrivError::NotHeld(e.to_string()))?;
        privlib::setppriv(PrivOp::On, privlib::Which::Effective, &set)?;
        Ok(Raised { set })
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        if let Err(e) = privlib::setppriv(PrivOp::Off, privlib::Which::Effective, &self.set) {
            tracing::error!("lowering {}: {e}", self.set);
        }
    }
}
