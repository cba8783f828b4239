//! Hot-plug: disks and network cards attached to and detached from a
//! running domain (`xm block-attach`, `block-detach`, `network-attach`,
//! `network-detach`), over its QMP socket.
//!
//! # Model
//! Each operation is three steps, as a start is ([`crate::manager::Manager::reserve`],
//! [`crate::launch::launch`], [`crate::manager::Manager::finish`]): under the manager's
//! lock the request is checked against what the domain has (a vdev or
//! device number in use, one not attached, the bounds) and the device is
//! marked pending, so two requests never race for one name; without the
//! lock xend opens what the device needs with the same checks as at start
//! ([`crate::disk::open_for_hotplug`], [`crate::net::open_backend`]) and
//! drives qemu; under the lock again the result is recorded, in the
//! domain's [`Hot`] and in its `state.json` ([`crate::saved::record_attached`]), so a
//! restarted xend adopts it knowing what is attached and can detach it.
//!
//! qemu opens no path: each file of a disk's chain goes to qemu over the
//! QMP socket into an fd set of its own (`add-fd`, [`HotDisk::fdset`]),
//! the block nodes are H2's graph ([`crate::disk::OpenDisk::blockdev_nodes`], the same
//! JSON `-blockdev` takes at start) on `/dev/fdset/N`, then a
//! `virtio-blk-pci` device (IDE does not hot-plug). A card's backend fd
//! goes by `getfd` to `netdev_add` (type tap), then its device. A step
//! that fails undoes the steps before it, and its error names the step,
//! the domain and the device ([`HotplugError`]). Detaching waits, bounded
//! ([`RELEASE_WAIT`]), for the guest to let the device go
//! (`DEVICE_DELETED`), then removes what qemu holds for it, only what it
//! still holds (so a detach cut short can be done again).

//!
//! Its parts: the errors ([`error`]), reading a request's target, vdev
//! and card spec ([`spec`]), the checks and records under the lock
//! ([`record`], methods of [`crate::manager::Manager`]), the QMP steps ([`steps`]).

pub mod error;
pub mod record;
pub mod spec;
pub mod steps;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{self, Vif};
use crate::saved::{Attached, HotDisk, HotNic};

pub use error::HotplugError;
pub use spec::{devid_of, disk_of, vif_of};
pub use steps::{
    NicBackend, attach_disk, attach_nic, detach_disk, detach_nic, plug_disk, plug_nic, unplug_disk,
    unplug_nic,
};

/// How long the guest has to let a device go when it is detached.
pub const RELEASE_WAIT: Duration = Duration::from_secs(30);

/// The longest target `block-attach` takes (Linux's PATH_MAX): what is
/// recorded in `state.json` stays within [`crate::saved::STATE_MAX`].
pub const MAX_TARGET: usize = 4096;

/// The longest card spec `network-attach` takes.
pub const MAX_VIF_SPEC: usize = 1024;

/// The qemu device of every hot-plugged disk.
pub const HOT_DISK_DEVICE: &str = "virtio-blk-pci";

/// What is hot-plugged into one running domain, and what is being.
#[derive(Debug, Default)]
pub struct Hot {
    /// The domain's UUID (a record of an ended domain is never taken for
    /// a new domain of the same id).
    uuid: String,
    /// What is attached (as `state.json` has it).
    pub attached: Attached,
    /// The qemu ids of the devices being attached or detached now.
    pending: Vec<String>,
}

impl Hot {
    /// The record of an adopted domain: what its `state.json` says.
    pub fn adopted(uuid: &str, attached: Attached) -> Hot {
        Hot {
            uuid: uuid.to_string(),
            attached,
            ..Hot::default()
        }
    }
}

/// Where a domain's QMP and state are, for the steps done without the
/// lock.
#[derive(Clone, Debug)]
pub struct Target {
    /// The domain.
    pub domid: u32,
    /// Its UUID.
    pub uuid: String,
    /// Its run directory (`state.json`, `qmp`).
    pub dir: PathBuf,
}

impl Target {
    fn qmp(&self) -> PathBuf {
        self.dir.join("qmp")
    }
}

/// A disk being attached ([`crate::manager::Manager::begin_block_attach`]).
#[derive(Debug)]
pub struct DiskJob {
    /// The domain.
    pub at: Target,
    /// The disk (its `files` filled in once opened).
    pub hot: HotDisk,
    /// As checked.
    pub disk: config::Disk,
}

/// A network card being attached ([`crate::manager::Manager::begin_nic_attach`]).
#[derive(Debug)]
pub struct NicJob {
    /// The domain.
    pub at: Target,
    /// The card.
    pub hot: HotNic,
    /// As checked (the MAC chosen).
    pub vif: Vif,
    /// The uid and gid the domain's device model runs as (passt, in
    /// session mode, runs as them).
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
}

#[cfg(test)]
#[path = "hotplug_tests.rs"]
mod tests;
