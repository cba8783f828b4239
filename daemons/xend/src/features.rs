//! xend's features, and the privileges each one needs: the one table
//! ([`TABLE`]).
//!
//! An administrator turns a feature off in xend's manifest (property
//! group `features`); xend then keeps none of the privileges only that
//! feature declared: at start it keeps basic, `proc_setid` (system mode)
//! and the union of what its enabled features declare, and gives up the
//! rest for good ([`privlib::fini_daemon_priv`]). A domain config that
//! needs a disabled feature is refused with one line naming the feature
//! and the `svccfg` command that turns it on ([`Disabled`]).

/// A feature of xend that needs privileges of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Guests' network cards on the host's bridges (`vif`, system mode):
    /// xend makes each tap, puts it on its bridge and brings it up.
    Networking,
    /// Images not owned by xvm (root-owned, mode 0600, as
    /// `/var/lib/xen/images` usually keeps them): xend opens them, and
    /// nothing else, with the DAC override raised around that open.
    ForeignImages,
    /// Named privileges a domain's config may allow its device model
    /// (`device_model_privileges`): xend can give only what it holds.
    DeviceModelPrivileges,
    /// Migrating domains to and from other hosts (`xm migrate`), through
    /// the relocation server, which faces the network instead of xend.
    Relocation,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct FeatureInfo {
    /// The feature.
    pub feature: Feature,
    /// Its property in the manifest's `features` group, and its flag
    /// (`--feature-NAME on|off`).
    pub name: &'static str,
    /// The privileges it needs (a privlib set expression).
    pub privileges: &'static str,
    /// What it is on by default.
    pub default_on: bool,
    /// Why it needs them (shown by `xend --features` and logged at
    /// start).
    pub why: &'static str,
}

/// The privileges, in the device-model policy's list, that an
/// administrator may allow a domain's device model (see
/// `crate::config`'s `device_model_privileges`): xend must hold them to
/// give them. Only what takes effect: `proc_lock_memory`, made real by
/// the device model's RLIMIT_MEMLOCK (see `crate::dm::policy`). Not
/// `proc_prioup`: a device model's capabilities are its own user
/// namespace's, and raising a priority would take an RLIMIT_NICE that
/// xend cannot raise without sys_resource.
pub const DM_GRANTABLE: &str = "proc_lock_memory";

/// Every feature, and what it needs.
pub const TABLE: &[FeatureInfo] = &[
    FeatureInfo {
        feature: Feature::Networking,
        name: "networking",
        privileges: "sys_net_config",
        default_on: true,
        why: "making each guest's tap (vifD.N), putting it on its bridge and bringing it up, raised around those calls only",
    },
    FeatureInfo {
        feature: Feature::ForeignImages,
        name: "foreign-images",
        privileges: "file_dac_read,file_dac_search,file_dac_write",
        default_on: true,
        why: "opening disk images, kernels and ramdisks xvm may not read or write (root-owned, mode 0600), raised around that open alone; the file is never changed",
    },
    FeatureInfo {
        feature: Feature::DeviceModelPrivileges,
        name: "device-model-privileges",
        privileges: DM_GRANTABLE,
        default_on: false,
        why: "giving a device model the privileges its domain's config allows (device_model_privileges), from this short list only: proc_lock_memory, with a locked-memory limit of its guest's memory and qemu's within xend's own hard limit",
    },
    FeatureInfo {
        feature: Feature::Relocation,
        name: "relocation",
        privileges: "none",
        default_on: false,
        why: "migrating domains to and from other hosts (xm migrate) through xvm-relocd, which holds the network and the TLS keys; xend needs no privilege for it: it hands each device model's migration stream to xvm-relocd as one end of a pipe",
    },
];

impl Feature {
    /// Its row of [`TABLE`].
    pub fn info(self) -> &'static FeatureInfo {
        TABLE
            .iter()
            .find(|i| i.feature == self)
            .unwrap_or(&TABLE[0])
    }

    /// Its manifest property and flag name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The feature `name` names.
    pub fn from_name(name: &str) -> Option<Feature> {
        TABLE.iter().find(|i| i.name == name).map(|i| i.feature)
    }
}

/// The SMF service whose `features` property group holds them.
pub const FMRI: &str = "svc:/system/xvm/xend:default";

/// Which features this xend runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    on: Vec<Feature>,
}

impl Default for Features {
    /// Each feature as [`TABLE`] has it by default.
    fn default() -> Features {
        Features {
            on: TABLE
                .iter()
                .filter(|i| i.default_on)
                .map(|i| i.feature)
                .collect(),
        }
    }
}

impl Features {
    /// Exactly these features on.
    pub fn only(on: &[Feature]) -> Features {
        Features {
            on: TABLE
                .iter()
                .map(|i| i.feature)
                .filter(|f| on.contains(f))
                .collect(),
        }
    }

    /// Turns `f` on or off (the set stays in [`TABLE`]'s order, so two
    /// with the same features on are equal).
    pub fn set(&mut self, f: Feature, on: bool) {
        let mut now = self.on.clone();
        now.retain(|x| *x != f);
        if on {
            now.push(f);
        }
        *self = Features::only(&now);
    }

    /// Whether `f` is on.
    pub fn is_on(&self, f: Feature) -> bool {
        self.on.contains(&f)
    }

    /// `Ok` when `f` is on, else the one-line refusal for `needed_by`
    /// (what in the config needs it, e.g. `vif`).
    pub fn require(&self, f: Feature, needed_by: &str) -> Result<(), Disabled> {
        if self.is_on(f) {
            Ok(())
        } else {
            Err(Disabled {
                feature: f,
                needed_by: needed_by.to_string(),
            })
        }
    }
}

impl Features {
    /// The features on, in [`TABLE`]'s order.
    pub fn enabled(&self) -> impl Iterator<Item = &'static FeatureInfo> + '_ {
        TABLE.iter().filter(|i| self.is_on(i.feature))
    }

    /// The features off, in [`TABLE`]'s order.
    pub fn disabled(&self) -> impl Iterator<Item = &'static FeatureInfo> + '_ {
        TABLE.iter().filter(|i| !self.is_on(i.feature))
    }

    /// One line per feature, as xend logs them at start and `xend
    /// --features` prints them: name, on or off, its privileges and why.
    pub fn describe(&self) -> Vec<String> {
        TABLE
            .iter()
            .map(|i| {
                let caps = privlib::parse_set(i.privileges)
                    .map(|s| s.caps(privlib::last_cap()).to_string())
                    .unwrap_or_default();
                format!(
                    "feature {}: {}; privileges {} ({caps}): {}",
                    i.name,
                    if self.is_on(i.feature) { "on" } else { "off" },
                    i.privileges,
                    i.why
                )
            })
            .collect()
    }
}

/// A feature flag's value that is neither on/off nor true/false.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: a feature is on, off, true or false")]
pub struct BadSwitch(pub String);

/// Reads a feature's value: `on`/`true` or `off`/`false` (the manifest's
/// booleans reach the exec line as `true`/`false`).
pub fn parse_switch(text: &str) -> Result<bool, BadSwitch> {
    match text {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(BadSwitch(text.to_string())),
    }
}

/// A config needs a feature this xend runs without.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{needed_by} needs xend's feature {}, which is off; turn it on with: svccfg -s {FMRI} setprop features/{} = true (then svcadm refresh and restart xend)",
    feature.name(), feature.name()
)]
pub struct Disabled {
    /// The feature.
    pub feature: Feature,
    /// What needs it.
    pub needed_by: String,
}

/// The bridges xend may put guests on (`--bridges`, the manifest's
/// `config/bridges`): a user who may create domains names a card's
/// bridge, and a host has bridges that are not the guests' (a
/// management network, a container engine's), so only those the
/// administrator listed are used; `any` allows every bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bridges {
    /// Every bridge of xend's network namespace.
    Any,
    /// These alone.
    Only(Vec<String>),
}

impl Default for Bridges {
    /// Xen's default bridge alone.
    fn default() -> Bridges {
        Bridges::Only(vec!["xenbr0".to_string()])
    }
}

impl Bridges {
    /// Whether a card may join `bridge`.
    pub fn allows(&self, bridge: &str) -> bool {
        match self {
            Bridges::Any => true,
            Bridges::Only(l) => l.iter().any(|b| b == bridge),
        }
    }
}

impl std::fmt::Display for Bridges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bridges::Any => f.write_str("any"),
            Bridges::Only(l) if l.is_empty() => f.write_str("none"),
            Bridges::Only(l) => f.write_str(&l.join(",")),
        }
    }
}

/// A `--bridges` word that cannot name an interface.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--bridges: {0:?} is not an interface name (at most 15 bytes, no '/', ':', space or NUL)")]
pub struct BridgeName(pub String);

impl std::str::FromStr for Bridges {
    type Err = BridgeName;

    /// `any`, `none`, or interface names separated by commas.
    fn from_str(t: &str) -> Result<Bridges, BridgeName> {
        match t.trim() {
            "any" => Ok(Bridges::Any),
            "none" | "" => Ok(Bridges::Only(Vec::new())),
            l => l
                .split(',')
                .map(str::trim)
                .map(|b| {
                    if privlib::os::net::valid_name(b) {
                        Ok(b.to_string())
                    } else {
                        Err(BridgeName(b.into()))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Bridges::Only),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_names_a_set_privlib_reads_and_a_reason() {
        for i in TABLE {
            privlib::parse_set(i.privileges).expect(i.name);
            assert_eq!(Feature::from_name(i.name), Some(i.feature));
            assert!(!i.why.is_empty());
        }
    }

    #[test]
    fn a_disabled_feature_is_one_line_naming_it_and_its_svccfg() {
        let f = Features::only(&[]);
        let e = f.require(Feature::Networking, "vif").expect_err("off");
        let s = e.to_string();
        assert!(!s.contains('\n'));
        assert!(
            s.starts_with("vif needs xend's feature networking, which is off"),
            "{s}"
        );
        assert!(
            s.contains("svccfg -s svc:/system/xvm/xend:default setprop features/networking = true"),
            "{s}"
        );
        assert!(
            Features::default()
                .require(Feature::Networking, "vif")
                .is_ok()
        );
    }

    #[test]
    fn a_switch_is_on_off_true_or_false_and_nothing_else() {
        assert_eq!(parse_switch("on"), Ok(true));
        assert_eq!(parse_switch("true"), Ok(true));
        assert_eq!(parse_switch("off"), Ok(false));
        assert_eq!(parse_switch("false"), Ok(false));
        for bad in ["", "yes", "ON", "1", "true "] {
            assert_eq!(parse_switch(bad), Err(BadSwitch(bad.into())));
        }
    }

    #[test]
    fn each_feature_is_described_on_one_line_with_its_privileges_and_why() {
        let lines = Features::default().describe();
        assert_eq!(lines.len(), TABLE.len());
        assert!(
            lines[0].starts_with(
                "feature networking: on; privileges sys_net_config (cap_net_admin): making"
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[2].starts_with("feature device-model-privileges: off;"),
            "{}",
            lines[2]
        );
        assert!(lines.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn bridges_are_a_list_any_or_none_and_a_bad_name_is_refused() {
        let only: Bridges = "xenbr0, br1".parse().expect("list");
        assert!(only.allows("br1") && !only.allows("docker0"));
        assert_eq!(only.to_string(), "xenbr0,br1");
        assert!("any".parse::<Bridges>().expect("any").allows("docker0"));
        let none: Bridges = "none".parse().expect("none");
        assert!(!none.allows("xenbr0") && none.to_string() == "none");
        assert_eq!(Bridges::default().to_string(), "xenbr0");
        let e = "xenbr0,a/b".parse::<Bridges>().expect_err("slash");
        assert!(
            e.to_string().contains("\"a/b\" is not an interface name"),
            "{e}"
        );
    }
}
