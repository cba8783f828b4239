//! What a device model may hold: its privilege policy.
//!
//! The default is `deny`: nothing beyond basic, and less
//! ([`super::dm_privileges`]: no fork, no exec, no network, files only by
//! the Landlock rules). A domain's config may allow named privileges
//! (`device_model_privileges`) from the short list xend gives,
//! [`DM_GRANTABLE`], and only while xend's feature
//! `device-model-privileges` is on (xend must hold a privilege to give
//! it, and holds these only then). The device model's limit set is then
//! exactly that list too: its bounding set holds the allowed capabilities
//! and nothing else, so a capability a newer kernel adds is never given,
//! whatever the config says.
//!
//! A limit of Linux worth knowing: the device model makes its private
//! `/dev` in a user namespace of its own ([`privlib::Spawn::private_dev`]),
//! so the capabilities it holds are that namespace's. The kernel checks
//! CAP_IPC_LOCK (mlock past RLIMIT_MEMLOCK) and CAP_SYS_NICE (raising a
//! priority) against the initial namespace, where the device model holds
//! neither: /proc shows the capability, and mlock past the limit still
//! fails. Locking a guest's memory for real takes RLIMIT_MEMLOCK (and
//! raising a priority RLIMIT_NICE) set for the device model by xend, which
//! the kernel honours in any namespace.

use privlib::{PrivSet, SetError};

use crate::config::DomainConfig;
use crate::dm::prepare::Prepared;
use crate::domain::Settings;
use crate::features::{DM_GRANTABLE, Disabled, Feature};

/// Why a config's device-model privileges were refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// xend runs without the feature `device-model-privileges`.
    #[error(transparent)]
    Disabled(#[from] Disabled),
    /// A device model started by a user's xend runs as that user, and
    /// xend holds no privilege to give.
    #[error(
        "device_model_privileges: a session-mode xend holds no privilege to give its device models"
    )]
    Session,
    /// A name privlib does not know.
    #[error("device_model_privileges: {name}: {source}")]
    Unknown {
        /// The name.
        name: String,
        /// privlib's reason.
        #[source]
        source: SetError,
    },
    /// A privilege not on the list xend gives.
    #[error(
        "device_model_privileges: {name} is not one xend gives a device model (only {DM_GRANTABLE})"
    )]
    NotGrantable {
        /// The name.
        name: String,
    },
}

/// The privileges `names` allow, each from [`DM_GRANTABLE`].
pub fn granted(names: &[String]) -> Result<PrivSet, PolicyError> {
    let grantable = privlib::parse_set(DM_GRANTABLE).map_err(|source| PolicyError::Unknown {
        name: DM_GRANTABLE.into(),
        source,
    })?;
    let mut set = PrivSet::none();
    for name in names {
        // One name each: a set expression (`all`, `basic`, `!x`) is no
        // privilege's name.
        let one = privlib::parse_set(name)
            .ok()
            .filter(|s| s.iter().count() == 1 && privlib::names::lookup(name.trim()).is_some());
        let Some(one) = one else {
            let source = privlib::parse_set(name)
                .err()
                .unwrap_or_else(|| SetError::Unknown(name.clone()));
            return Err(PolicyError::Unknown {
                name: name.clone(),
                source,
            });
        };
        if !grantable.contains(&one) {
            return Err(PolicyError::NotGrantable { name: name.clone() });
        }
        set = set.union(&one);
    }
    Ok(set)
}

/// Checks `c`'s device-model privileges against xend's settings (called
/// by [`crate::dm::prepare::prepare`]): none is always fine; any needs the
/// feature `device-model-privileges`, system mode (where xend holds them
/// while the feature is on), and names from the list only.
pub fn check(s: &Settings, c: &DomainConfig) -> Result<(), PolicyError> {
    if c.dm_privileges.is_empty() {
        return Ok(());
    }
    s.features
        .require(Feature::DeviceModelPrivileges, "device_model_privileges")?;
    if !s.system {
        return Err(PolicyError::Session);
    }
    granted(&c.dm_privileges).map(|_| ())
}

/// The privileges the device model of `c` keeps, and its limit set:
/// [`super::dm_privileges`] with what the config allows. A name that is
/// not on the list gives nothing ([`check`] has refused it already).
pub fn for_config(c: &DomainConfig) -> PrivSet {
    let base = super::dm_privileges();
    match granted(&c.dm_privileges) {
        Ok(g) => base.union(&g),
        Err(e) => {
            tracing::warn!("{e}: the device model gets none of them");
            base
        }
    }
}

/// The privileges the device model of `p` keeps (and its limit set).
pub fn privileges(p: &Prepared) -> PrivSet {
    for_config(&p.config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Features;

    fn config(privs: &[&str]) -> DomainConfig {
        let mut c = crate::config::parse(
            std::path::Path::new("t.cfg"),
            "name = \"t\"\ntype = \"hvm\"\nmemory = 16\n",
        )
        .expect("parse");
        c.dm_privileges = privs.iter().map(|p| (*p).to_string()).collect();
        c
    }

    fn settings(system: bool, on: &[Feature]) -> Settings {
        let mut s = Settings::device_model_only(std::path::Path::new("/x"), 300_000, None);
        s.system = system;
        s.features = Features::only(on);
        s
    }

    #[test]
    fn the_default_is_deny_basic_alone_and_no_capability() {
        let p = for_config(&config(&[]));
        assert_eq!(p, super::super::dm_privileges());
        assert!(p.caps(privlib::last_cap()).is_empty());
    }

    #[test]
    fn an_allowed_privilege_is_exactly_its_capability() {
        let p = for_config(&config(&["proc_lock_memory"]));
        assert_eq!(
            p.caps(privlib::last_cap()),
            privlib::caps::CapMask::of(&[privlib::caps::num::IPC_LOCK])
        );
        assert!(p.contains(&super::super::dm_privileges()));
        let on = settings(true, &[Feature::DeviceModelPrivileges]);
        check(&on, &config(&["proc_lock_memory", "proc_prioup"])).expect("allowed");
    }

    #[test]
    fn with_the_feature_off_a_config_asking_is_refused_with_the_svccfg_line() {
        let off = settings(true, &[]);
        check(&off, &config(&[])).expect("asking for nothing is fine");
        let e = check(&off, &config(&["proc_lock_memory"])).expect_err("off");
        let s = e.to_string();
        assert!(
            s.starts_with(
                "device_model_privileges needs xend's feature device-model-privileges, which is off"
            ),
            "{s}"
        );
        assert!(
            s.contains("setprop features/device-model-privileges = true"),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn a_privilege_off_the_list_or_a_set_expression_is_refused() {
        let on = settings(true, &[Feature::DeviceModelPrivileges]);
        for bad in ["sys_admin", "proc_setid", "file_dac_read", "sys_net_config"] {
            let e = check(&on, &config(&[bad])).expect_err(bad);
            assert!(matches!(e, PolicyError::NotGrantable { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
            // And whatever reached the spawn gives nothing.
            assert!(
                for_config(&config(&[bad]))
                    .caps(privlib::last_cap())
                    .is_empty()
            );
        }
        for bad in [
            "all",
            "basic",
            "proc_lock_memory,proc_prioup",
            "!proc_fork",
            "no_such",
        ] {
            let e = check(&on, &config(&[bad])).expect_err(bad);
            assert!(matches!(e, PolicyError::Unknown { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn a_users_session_gives_its_device_models_nothing() {
        let e = check(
            &settings(false, &[Feature::DeviceModelPrivileges]),
            &config(&["proc_lock_memory"]),
        )
        .expect_err("session");
        assert!(matches!(e, PolicyError::Session), "{e}");
    }
}
