//! What xend holds, and when.
//!
//! xend runs as xvm with nothing beyond basic in E. In P it keeps
//! `proc_setid` (CAP_SETUID, CAP_SETGID, CAP_SETPCAP), in system mode, to
//! give each device model its own uid, gid and kvm group and to empty its
//! bounding set. It is raised in E only around that step ([`Bracket`]).
//! In system mode P (and L) also hold the union of what its enabled
//! features declare ([`crate::features::TABLE`], [`keep_set`]), each raised
//! in E around its one call ([`Raised`]); what a disabled feature declared
//! is removed for good at start ([`removed_set`]).
//! Ending a device model takes no capability: QMP `quit`, or SIGKILL from
//! a helper running as the domain's own uid (CAP_KILL would let xend
//! signal any process). It never holds `sys_admin`: the device model's
//! private mount namespace comes from a user namespace the device model
//! makes for itself, as its own uid.

use privlib::{PrivOp, PrivSet, SetError, parse_set, priv_bracket};

use crate::features::Features;

/// The privileges xend keeps in P in system mode.
pub const KEEP: &str = "basic,!proc_info,proc_setid";

/// What xend keeps in P and L after `init_daemon_priv`: with device
/// models under their own uids (`dm_range`), [`KEEP`]; in system mode,
/// with the privileges of every feature on in `f`; else basic.
pub fn keep_set(system: bool, dm_range: bool, f: &Features) -> Result<PrivSet, SetError> {
    if !dm_range {
        return Ok(PrivSet::basic());
    }
    let mut keep = parse_set(KEEP)?;
    if system {
        keep = keep.union(&features_set(f.enabled())?);
    }
    Ok(keep)
}

/// What [`privlib::fini_daemon_priv`] takes away for good at start: every
/// privilege a feature that is off declared, except one whose capability
/// `keep` needs too (the kernel takes capabilities, not privileges).
pub fn removed_set(system: bool, keep: &PrivSet, f: &Features) -> Result<PrivSet, SetError> {
    let off = if system {
        features_set(f.disabled())?
    } else {
        features_set(crate::features::TABLE.iter())?
    };
    let last = privlib::last_cap();
    let kept = keep.caps(last);
    Ok(PrivSet::of(off.iter().filter(|p| {
        PrivSet::of([*p]).caps(last).intersect(kept).is_empty()
    })))
}

/// The privileges of every feature in `it` ([`crate::features::FeatureInfo::privileges`]), or
/// all of them.
pub fn features_set<'a>(
    it: impl Iterator<Item = &'a crate::features::FeatureInfo>,
) -> Result<PrivSet, SetError> {
    let mut set = PrivSet::none();
    for i in it {
        set = set.union(&parse_set(i.privileges)?);
    }
    Ok(set)
}

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

    /// Raises `part` of what `f` declares, and nothing more: reading an
    /// image xvm may not read takes `file_dac_read,file_dac_search`, not
    /// the write override too. A `part` outside the feature's set is
    /// refused (the table says what each feature may raise).
    pub fn part(f: crate::features::Feature, part: &str) -> Result<Raised, privlib::PrivError> {
        let bad = |e: privlib::SetError| privlib::PrivError::NotHeld(e.to_string());
        let all = privlib::parse_set(f.info().privileges).map_err(bad)?;
        let set = privlib::parse_set(part).map_err(bad)?;
        if !set.minus(&all).is_empty() {
            return Err(privlib::PrivError::NotHeld(format!(
                "{part} is not all {}'s ({})",
                f.name(),
                f.info().privileges
            )));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{DM_GRANTABLE, Feature, TABLE};

    #[test]
    fn a_part_outside_the_features_set_is_never_raised() {
        let e = Raised::part(Feature::ForeignImages, "file_dac_read,sys_net_config")
            .expect_err("not foreign-images'");
        assert!(e.to_string().contains("is not all foreign-images's"), "{e}");
    }

    fn set(t: &str) -> PrivSet {
        parse_set(t).expect(t)
    }

    #[test]
    fn system_mode_keeps_proc_setid_and_exactly_the_enabled_features() {
        let f = Features::default();
        let keep = keep_set(true, true, &f).expect("keep");
        assert_eq!(
            keep,
            set(
                "basic,!proc_info,proc_setid,sys_net_config,file_dac_read,file_dac_search,file_dac_write"
            )
        );
        let gone = removed_set(true, &keep, &f).expect("removed");
        assert_eq!(gone, set(DM_GRANTABLE));

        let mut f = Features::default();
        f.set(Feature::Networking, false);
        f.set(Feature::DeviceModelPrivileges, true);
        let keep = keep_set(true, true, &f).expect("keep");
        assert_eq!(
            keep,
            set(
                "basic,!proc_info,proc_setid,file_dac_read,file_dac_search,file_dac_write,proc_lock_memory"
            )
        );
        assert!(
            !keep
                .caps(privlib::last_cap())
                .has(privlib::caps::num::NET_ADMIN)
        );
        assert_eq!(
            removed_set(true, &keep, &f).expect("removed"),
            set("sys_net_config")
        );
    }

    #[test]
    fn with_every_feature_off_xend_keeps_what_it_kept_before_features() {
        let f = Features::only(&[]);
        let keep = keep_set(true, true, &f).expect("keep");
        assert_eq!(keep, set(KEEP));
        assert_eq!(
            removed_set(true, &keep, &f).expect("removed"),
            features_set(TABLE.iter()).expect("all")
        );
    }

    #[test]
    fn session_mode_keeps_no_feature_privilege_and_removes_them_all() {
        let f = Features::default();
        // A user's session: basic alone.
        let keep = keep_set(false, false, &f).expect("keep");
        assert_eq!(keep, PrivSet::basic());
        // Root's session (device models under their own uids): proc_setid
        // and nothing a feature declares.
        let keep = keep_set(false, true, &f).expect("keep");
        assert_eq!(keep, set(KEEP));
        let all = features_set(TABLE.iter()).expect("all");
        assert_eq!(removed_set(false, &keep, &f).expect("removed"), all);
    }

    #[test]
    fn a_removed_privilege_never_takes_a_capability_a_kept_one_needs() {
        // A kept privilege with a disabled feature's capability
        // (CAP_IPC_LOCK of proc_lock_memory): removing the feature's
        // would cost it.
        let keep = set("basic,proc_setid,proc_lock_memory");
        let gone = removed_set(true, &keep, &Features::only(&[])).expect("removed");
        assert!(
            !gone
                .caps(privlib::last_cap())
                .has(privlib::caps::num::IPC_LOCK)
        );
        assert!(
            gone.caps(privlib::last_cap())
                .has(privlib::caps::num::NET_ADMIN)
        );
    }
}
