//! The hot-plug methods' parameters and answers (`domain.block-*`,
//! `domain.network-*`; the table is [`super`]'s).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Parameters of `domain.block-attach`, as `xm block-attach DOMAIN
/// TARGET VDEV MODE` has them: `{"domain", "target", "vdev", "mode"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockAttachParams {
    /// A name, or a domid in decimal.
    pub domain: String,
    /// The image as a config names it (`/path`, `phy:/dev/..`, `file:/..`).
    pub target: String,
    /// The guest's name for it (`xvdb`).
    pub vdev: String,
    /// `w` (read-write) or `r` (read-only), as in a disk spec.
    pub mode: String,
}

/// Parameters of `domain.network-attach`: `{"domain", "spec"}`, the
/// card as a `vif` entry (`bridge=..,mac=..,model=..`; `""` for every
/// default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAttachParams {
    /// A name, or a domid in decimal.
    pub domain: String,
    /// The card's spec.
    pub spec: String,
}

/// Parameters naming a device of a domain: `{"domain", "device"}` (a
/// vdev for `block-detach`, a devid in decimal for `network-detach`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceParams {
    /// A name, or a domid in decimal.
    pub domain: String,
    /// The device.
    pub device: String,
}

/// The answer to a device attached or detached: the domain and the
/// device (the vdev, or the card's devid in decimal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAck {
    /// The domain acted on.
    pub domid: u32,
    /// The device.
    pub device: String,
}

/// One disk of a running domain (`domain.block-list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// The guest's name for it.
    pub vdev: String,
    /// The image.
    pub target: PathBuf,
    /// `w` or `r`.
    pub mode: String,
    /// Hot-plugged (`block-attach`), else from the config.
    pub hotplugged: bool,
}

/// One network card of a running domain (`domain.network-list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDevice {
    /// Its device number.
    pub devid: u32,
    /// Its MAC, when known (a config's card without `mac=` gets its own
    /// at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Its bridge (`None`: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Its model.
    pub model: String,
    /// Hot-plugged (`network-attach`), else from the config.
    pub hotplugged: bool,
}
