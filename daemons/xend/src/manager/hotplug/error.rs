//! Why a device could not be attached or detached: [`HotplugError`],
//! one variant per check and per QMP step, each naming the domain and
//! the device. How each is answered: [`HotplugError::kind`].

use crate::api::ErrorKind;
use crate::config::DiskSpecError;
use crate::disk::DiskError;
use crate::error::DomainError;
use crate::qmp::QmpError;
use crate::saved::StateError;

/// Why a device could not be attached or detached. Each variant names
/// the domain and the device; a QMP step's variant names the step.
#[derive(Debug, thiserror::Error)]
pub enum HotplugError {
    /// No such domain, or another failure of the domain table.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The target, vdev and mode do not make a disk.
    #[error("domain {domid}: block-attach: {source}")]
    Spec {
        /// The domain.
        domid: u32,
        /// Why.
        #[source]
        source: DiskSpecError,
    },
    /// A target, vdev or mode that cannot be a part of a disk spec.
    #[error("domain {domid}: block-attach: {what} {value:?}: {why}")]
    Field {
        /// The domain.
        domid: u32,
        /// `target`, `vdev` or `mode`.
        what: &'static str,
        /// What was given.
        value: String,
        /// What it must be.
        why: &'static str,
    },
    /// The card spec is not one.
    #[error("domain {domid}: network-attach {spec:?}: {why}")]
    VifSpec {
        /// The domain.
        domid: u32,
        /// The spec.
        spec: String,
        /// Why.
        why: String,
    },
    /// The domain's device model is not running (it crashed).
    #[error("domain {domid}: its device model is not running; nothing can be attached or detached")]
    NotRunning {
        /// The domain.
        domid: u32,
    },
    /// The domain is paused: its guest cannot let a device go.
    #[error("domain {domid} is paused: its guest cannot release a device (xm unpause it first)")]
    Paused {
        /// The domain.
        domid: u32,
    },
    /// The vdev is the domain's already (from its config, or attached).
    #[error("domain {domid}: vdev {vdev} is in use (by {by})")]
    VdevInUse {
        /// The domain.
        domid: u32,
        /// The vdev asked for.
        vdev: String,
        /// The disk that has it.
        by: String,
    },
    /// The device is being attached or detached by another request.
    #[error("domain {domid}: {device} is being attached or detached already")]
    Pending {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
    },
    /// A disk of the domain's config: IDE does not hot-unplug.
    #[error(
        "domain {domid}: {vdev} is a disk of its config, not hot-plugged (IDE disks cannot be detached from a running domain)"
    )]
    ConfigDisk {
        /// The domain.
        domid: u32,
        /// The vdev.
        vdev: String,
    },
    /// A card of the domain's config.
    #[error(
        "domain {domid}: network card {devid} is from its config, not hot-plugged; it stays until the domain ends"
    )]
    ConfigNic {
        /// The domain.
        domid: u32,
        /// The card.
        devid: u32,
    },
    /// Nothing of that name is attached.
    #[error("domain {domid}: no {what} {device} is attached")]
    NotAttached {
        /// The domain.
        domid: u32,
        /// `disk` or `network card`.
        what: &'static str,
        /// The vdev or devid.
        device: String,
    },
    /// The bound on attached devices.
    #[error("domain {domid}: {what}: at most {max} (xm {verb}-detach one first)")]
    TooMany {
        /// The domain.
        domid: u32,
        /// What the bound is on.
        what: &'static str,
        /// The bound.
        max: usize,
        /// `block` or `network`.
        verb: &'static str,
    },
    /// The disk was refused, or could not be opened (the checks of a start).
    #[error("domain {domid}: block-attach {vdev}: {source}")]
    Open {
        /// The domain.
        domid: u32,
        /// The vdev.
        vdev: String,
        /// Why.
        #[source]
        source: DiskError,
    },
    /// The card's backend could not be made.
    #[error("domain {domid}: network-attach {devid}: {source}")]
    Backend {
        /// The domain.
        domid: u32,
        /// The card.
        devid: u32,
        /// Why.
        #[source]
        source: crate::net::NetError,
    },
    /// No MAC could be chosen.
    #[error("domain {domid}: network-attach {devid}: choosing a MAC: /dev/urandom: {source}")]
    Mac {
        /// The domain.
        domid: u32,
        /// The card.
        devid: u32,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// QMP could not be reached.
    #[error("domain {domid}: {device}: {source}")]
    Connect {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// An fd did not reach qemu's fd set.
    #[error("domain {domid}: {device}: add-fd: {source}")]
    AddFd {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// A block node was refused.
    #[error("domain {domid}: {device}: blockdev-add: {source}")]
    BlockdevAdd {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The device was refused.
    #[error("domain {domid}: {device}: device_add: {source}")]
    DeviceAdd {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The backend fd did not reach qemu.
    #[error("domain {domid}: {device}: getfd: {source}")]
    GetFd {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The network backend was refused.
    #[error("domain {domid}: {device}: netdev_add: {source}")]
    NetdevAdd {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The unplug request was refused.
    #[error("domain {domid}: {device}: device_del: {source}")]
    DeviceDel {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The guest did not let the device go in time (it may still: detach
    /// again later).
    #[error(
        "domain {domid}: {device}: the guest did not release it ({source}); it stays attached: try again later"
    )]
    Released {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// What qemu holds could not be listed.
    #[error("domain {domid}: {device}: listing qemu's nodes and fd sets: {source}")]
    Query {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// A block node could not be removed.
    #[error("domain {domid}: {device}: blockdev-del: {source}")]
    BlockdevDel {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// An fd set could not be removed.
    #[error("domain {domid}: {device}: remove-fd: {source}")]
    RemoveFd {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// The network backend could not be removed.
    #[error("domain {domid}: {device}: netdev_del: {source}")]
    NetdevDel {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: QmpError,
    },
    /// Done in qemu, but not recorded in `state.json`: a restarted xend
    /// would not know it.
    #[error("domain {domid}: {device}: done, but not recorded: {source}")]
    Save {
        /// The domain.
        domid: u32,
        /// The device.
        device: String,
        /// Why.
        #[source]
        source: StateError,
    },
}

impl HotplugError {
    /// How it is answered on the wire: one kind per variant, one
    /// exhaustive match (as `DomainError::kind`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            HotplugError::Domain(d) => d.kind(),
            HotplugError::Spec { .. }
            | HotplugError::Field { .. }
            | HotplugError::VifSpec { .. } => ErrorKind::BadConfig,
            // A disk the checks of a start refuse is the request's fault; one
            // that could not be opened or read is not.
            HotplugError::Open { source, .. } => match source {
                DiskError::Open { .. } | DiskError::ImageDir { .. } => ErrorKind::Failed,
                _ => ErrorKind::BadConfig,
            },
            HotplugError::VdevInUse { .. }
            | HotplugError::Pending { .. }
            | HotplugError::NotRunning { .. }
            | HotplugError::Paused { .. }
            | HotplugError::ConfigDisk { .. }
            | HotplugError::ConfigNic { .. } => ErrorKind::Busy,
            HotplugError::NotAttached { .. } => ErrorKind::NoDevice,
            HotplugError::TooMany { .. } => ErrorKind::Limit,
            HotplugError::Backend { .. }
            | HotplugError::Mac { .. }
            | HotplugError::Connect { .. }
            | HotplugError::AddFd { .. }
            | HotplugError::BlockdevAdd { .. }
            | HotplugError::DeviceAdd { .. }
            | HotplugError::GetFd { .. }
            | HotplugError::NetdevAdd { .. }
            | HotplugError::DeviceDel { .. }
            | HotplugError::Released { .. }
            | HotplugError::Query { .. }
            | HotplugError::BlockdevDel { .. }
            | HotplugError::RemoveFd { .. }
            | HotplugError::NetdevDel { .. }
            | HotplugError::Save { .. } => ErrorKind::Failed,
        }
    }
}
