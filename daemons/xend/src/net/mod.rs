//! A domain's network cards: what [`crate::dm::prepare`] checks of each
//! `vif` ([`plan`], making nothing), and the backends
//! [`crate::launch::run`] opens for them ([`open_backend`]), whose fds
//! qemu gets ([`crate::dm::netdev`]): qemu opens no network socket of its
//! own.
//!
//! - System mode: a tap `vifD.N` on the card's bridge (`xenbr0` unless
//!   the config names another), made by xend with `sys_net_config` raised
//!   around the tap's three ioctls only ([`crate::privs::Raised`]). It is
//!   not persistent and xend's own: the kernel removes it when the last
//!   fd on it closes, which is qemu's end (xend closes its own copy once
//!   qemu runs), so a domain that ends while xend is down leaves no tap
//!   behind. qemu cannot keep it or give it away (its seccomp filter
//!   refuses those tap requests), and one kept all the same is removed
//!   when the domain ends or its leftovers are cleaned up
//!   ([`release_left_taps`]).
//! - Session mode: `passt`, started as the domain's device-model uid
//!   (the user, in a user's session) with nothing to gain (no privilege,
//!   no_new_privs; passt adds its own sandbox), one end of a socket pair
//!   given to it and the other to qemu's `stream` netdev. passt is
//!   started one-off (`-1`): it ends when qemu's end closes, and xend
//!   reaps it then. The guest reaches the host's
//!   loopback through passt's gateway address.

mod backend;
mod release;

pub(crate) use backend::open_for;
pub use backend::{Backend, PASST, netdev_arg, open_backend};
pub use release::{is_tap_of, release_left_taps};

use std::io::Read as _;

use crate::config::{Mac, Vif};
use crate::domain::Settings;
use crate::features::Feature;

pub use crate::config::vif::MAX_NICS;

/// The bridge a card's tap joins when its `vif` names none.
pub const DEFAULT_BRIDGE: &str = "xenbr0";

/// Xen's MAC prefix (XenSource's OUI), for MACs xend chooses.
pub const XEN_OUI: [u8; 3] = [0x00, 0x16, 0x3e];

/// The host interface name of card `index` of domain `domid`, as Xen
/// names them: `vif{domid}.{index}`.
pub fn ifname(domid: u32, index: usize) -> String {
    format!("vif{domid}.{index}")
}

/// What backs a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A tap on this bridge (system mode).
    Tap {
        /// The bridge (checked to be one when planned).
        bridge: String,
    },
    /// passt, run as the domain's device-model uid (session mode).
    Passt,
}

/// One checked network card, before anything is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicPlan {
    /// Its place in `vif` (card N of domain D is `vifD.N`).
    pub index: usize,
    /// The config's card.
    pub vif: Vif,
    /// Its MAC (the config's, or one chosen from 00:16:3e).
    pub mac: Mac,
    /// What backs it.
    pub kind: BackendKind,
}

impl NicPlan {
    /// qemu's id of its backend (`-netdev ...,id=`).
    pub fn netdev_id(&self) -> String {
        format!("net{}", self.index)
    }

    /// qemu's id of its card (`-device ...,id=`).
    pub fn device_id(&self) -> String {
        format!("nic{}", self.index)
    }

    /// The card on qemu's command line or in `device_add`:
    /// `MODEL,netdev=net{index},mac=MAC,id=nic{index}`.
    pub fn device_arg(&self) -> String {
        format!(
            "{},netdev={},mac={},id={}",
            self.vif.model.qemu_device(),
            self.netdev_id(),
            self.mac,
            self.device_id()
        )
    }
}

/// Why a domain's network cards were refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The config needs a feature this xend runs without.
    #[error(transparent)]
    Disabled(#[from] crate::features::Disabled),
    /// More cards than a domain may have.
    #[error("vif: {count} network cards: more than {MAX_NICS}")]
    TooMany {
        /// Cards in the config.
        count: usize,
    },
    /// A card's MAC is a multicast address (bit 0 of the first byte).
    #[error("vif {index}: mac={mac} is a multicast address; a card needs a unicast one")]
    MulticastMac {
        /// The card.
        index: usize,
        /// Its MAC.
        mac: Mac,
    },
    /// Two cards of the domain have one MAC.
    #[error("vif {index}: mac={mac} is vif {other}'s too")]
    DuplicateMac {
        /// The card.
        index: usize,
        /// The card that has it first.
        other: usize,
        /// The MAC.
        mac: Mac,
    },
    /// The bridge's name is no interface name.
    #[error("vif {index}: bridge={bridge:?} is not a valid interface name")]
    BridgeName {
        /// The card.
        index: usize,
        /// The name.
        bridge: String,
    },
    /// The bridge does not exist.
    #[error(
        "vif {index}: bridge {bridge} does not exist (create it, e.g. `ip link add {bridge} type bridge`, or name another with bridge=)"
    )]
    NoBridge {
        /// The card.
        index: usize,
        /// The bridge.
        bridge: String,
    },
    /// A bridge this xend may not put guests on.
    #[error(
        "vif {index}: bridge {bridge} is not one xend puts guests on (config/bridges = {allowed}); allow it with: svccfg -s {FMRI} setprop config/bridges = {allowed},{bridge} (then svcadm refresh and restart xend)",
        FMRI = crate::features::FMRI
    )]
    NotAllowed {
        /// The card.
        index: usize,
        /// The bridge.
        bridge: String,
        /// The bridges it may use.
        allowed: String,
    },
    /// The interface named as the bridge is not one.
    #[error("vif {index}: {bridge} is not a bridge (its driver is {driver:?})")]
    NotBridge {
        /// The card.
        index: usize,
        /// The interface.
        bridge: String,
        /// Its driver.
        driver: String,
    },
    /// The bridge could not be asked about.
    #[error("vif {index}: checking bridge {bridge}: {source}")]
    BridgeCheck {
        /// The card.
        index: usize,
        /// The bridge.
        bridge: String,
        /// The cause.
        #[source]
        source: privlib::os::net::TapError,
    },
    /// No random bytes for a MAC.
    #[error("vif {index}: reading /dev/urandom for its MAC: {source}")]
    Random {
        /// The card.
        index: usize,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `sys_net_config` could not be raised to make the tap.
    #[error("domain {domid}: {ifname}: raising sys_net_config: {source}")]
    Raise {
        /// The domain.
        domid: u32,
        /// The tap.
        ifname: String,
        /// The cause.
        #[source]
        source: privlib::PrivError,
    },
    /// A step of making the tap failed (the error names the interface
    /// and the step).
    #[error("domain {domid}: {source}")]
    Tap {
        /// The domain.
        domid: u32,
        /// The cause.
        #[source]
        source: privlib::os::net::TapError,
    },
    /// The socket pair between passt and qemu could not be made.
    #[error("domain {domid}: vif {index}: a socket pair for passt: {source}")]
    Socketpair {
        /// The domain.
        domid: u32,
        /// The card.
        index: usize,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// passt did not start.
    #[error("domain {domid}: vif {index}: starting passt: {source}")]
    Passt {
        /// The domain.
        domid: u32,
        /// The card.
        index: usize,
        /// The cause (names privlib's step).
        #[source]
        source: privlib::SpawnError,
    },
}

/// Checks the network cards of a domain's config and makes nothing:
/// at most [`MAX_NICS`]; in system mode the networking feature on, and
/// each card's bridge an existing bridge of xend's network namespace;
/// MACs unicast and distinct, one chosen from 00:16:3e for a card with
/// none.
pub fn plan(s: &Settings, vifs: &[Vif]) -> Result<Vec<NicPlan>, NetError> {
    if vifs.is_empty() {
        return Ok(Vec::new());
    }
    if vifs.len() > MAX_NICS {
        return Err(NetError::TooMany { count: vifs.len() });
    }
    let mut plans: Vec<NicPlan> = Vec::with_capacity(vifs.len());
    // The configured MACs first, so that a chosen one avoids them all.
    let taken: Vec<(usize, Mac)> = vifs
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.mac.map(|m| (i, m)))
        .collect();
    for (i, m) in &taken {
        if let Some((other, _)) = taken.iter().find(|(j, n)| n == m && j < i) {
            return Err(NetError::DuplicateMac {
                index: *i,
                other: *other,
                mac: *m,
            });
        }
    }
    for (index, vif) in vifs.iter().enumerate() {
        let mut p = plan_one(s, index, vif)?;
        while vif.mac.is_none()
            && (taken.iter().any(|(_, m)| *m == p.mac) || plans.iter().any(|q| q.mac == p.mac))
        {
            p.mac = random_mac(index)?;
        }
        plans.push(p);
    }
    Ok(plans)
}

/// The checks of [`plan`] for card `index` alone (a hot-plugged card:
/// its index is the lowest one the domain does not use): the feature,
/// the bridge, the MAC (unicast; chosen when the config gives none).
pub fn plan_one(s: &Settings, index: usize, vif: &Vif) -> Result<NicPlan, NetError> {
    let kind = if s.system {
        s.features.require(Feature::Networking, "vif")?;
        let bridge = vif.bridge.as_deref().unwrap_or(DEFAULT_BRIDGE);
        check_bridge(index, bridge)?;
        if !s.bridges.allows(bridge) {
            return Err(NetError::NotAllowed {
                index,
                bridge: bridge.into(),
                allowed: s.bridges.to_string(),
            });
        }
        BackendKind::Tap {
            bridge: bridge.to_string(),
        }
    } else {
        if let Some(b) = &vif.bridge {
            tracing::info!(
                index,
                bridge = %b,
                "vif: session mode networks through passt; bridge= is not used"
            );
        }
        BackendKind::Passt
    };
    let mac = match vif.mac {
        Some(m) if m.0[0] & 1 != 0 => return Err(NetError::MulticastMac { index, mac: m }),
        Some(m) => m,
        None => random_mac(index)?,
    };
    Ok(NicPlan {
        index,
        vif: vif.clone(),
        mac,
        kind,
    })
}

/// Checks that `bridge` is a bridge in xend's network namespace.
fn check_bridge(index: usize, bridge: &str) -> Result<(), NetError> {
    if !privlib::os::net::valid_name(bridge) {
        return Err(NetError::BridgeName {
            index,
            bridge: bridge.into(),
        });
    }
    let fail = |source: privlib::os::net::TapError| {
        if source.raw_os_error() == Some(libc::ENODEV) {
            NetError::NoBridge {
                index,
                bridge: bridge.into(),
            }
        } else {
            NetError::BridgeCheck {
                index,
                bridge: bridge.into(),
                source,
            }
        }
    };
    if privlib::os::net::is_bridge(bridge).map_err(fail)? {
        return Ok(());
    }
    Err(NetError::NotBridge {
        index,
        bridge: bridge.into(),
        driver: privlib::os::net::driver_of(bridge).unwrap_or_default(),
    })
}

/// A MAC from Xen's prefix: 00:16:3e, then three random bytes, the
/// first below 0x80 (the half of the range Xen's tools choose from).
fn random_mac(index: usize) -> Result<Mac, NetError> {
    xen_mac().map_err(|source| NetError::Random { index, source })
}

/// A MAC from Xen's prefix, 00:16:3e, the rest at random (unicast,
/// locally unique by chance: callers redraw one a domain already has).
pub fn xen_mac() -> std::io::Result<Mac> {
    let mut r = [0u8; 3];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut r))?;
    Ok(mac_from(r))
}

fn mac_from(r: [u8; 3]) -> Mac {
    Mac([XEN_OUI[0], XEN_OUI[1], XEN_OUI[2], r[0] & 0x7f, r[1], r[2]])
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
