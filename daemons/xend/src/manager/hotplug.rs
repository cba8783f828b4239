//! Hot-plug: disks and network cards attached to and detached from a
//! running domain (`xm block-attach`, `block-detach`, `network-attach`,
//! `network-detach`), over its QMP socket.
//!
//! # Model
//! Each operation is three steps, as a start is ([`Manager::reserve`],
//! [`crate::launch::launch`], [`Manager::finish`]): under the manager's
//! lock the request is checked against what the domain has (a vdev or
//! device number in use, one not attached, the bounds) and the device is
//! marked pending, so two requests never race for one name; without the
//! lock xend opens what the device needs with the same checks as at start
//! ([`crate::disk::open_for_hotplug`], [`crate::net::open_backend`]) and
//! drives qemu; under the lock again the result is recorded, in the
//! domain's [`Hot`] and in its `state.json` ([`record_attached`]), so a
//! restarted xend adopts it knowing what is attached and can detach it.
//!
//! qemu opens no path: each file of a disk's chain goes to qemu over the
//! QMP socket into an fd set of its own (`add-fd`, [`HotDisk::fdset`]),
//! the block nodes are H2's graph ([`OpenDisk::blockdev_nodes`], the same
//! JSON `-blockdev` takes at start) on `/dev/fdset/N`, then a
//! `virtio-blk-pci` device (IDE does not hot-plug). A card's backend fd
//! goes by `getfd` to `netdev_add` (type tap), then its device. A step
//! that fails undoes the steps before it, and its error names the step,
//! the domain and the device ([`HotplugError`]). Detaching waits, bounded
//! ([`RELEASE_WAIT`]), for the guest to let the device go
//! (`DEVICE_DELETED`), then removes what qemu holds for it, only what it
//! still holds (so a detach cut short can be done again).

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{BlockDevice, NetDevice};
use crate::config::{self, DiskSpecError, Mac, NicModel, Vif};
use crate::disk::{DiskError, OpenDisk};
use crate::domain::{DState, Settings};
use crate::error::DomainError;
use crate::manager::Manager;
use crate::qmp::{Qmp, QmpError};
use crate::saved::{
    Attached, FDSETS_PER_DISK, HotDisk, HotNic, MAX_HOT_DISKS, StateError, record_attached,
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

/// A disk being attached ([`Manager::begin_block_attach`]).
#[derive(Debug)]
pub struct DiskJob {
    /// The domain.
    pub at: Target,
    /// The disk (its `files` filled in once opened).
    pub hot: HotDisk,
    /// As checked.
    pub disk: config::Disk,
}

/// A network card being attached ([`Manager::begin_nic_attach`]).
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

/// The disk `block-attach TARGET VDEV MODE` names: the spec a config
/// would have, read as a config's is ([`config::parse_disk`]): a target
/// with a prefix (`phy:`, `file:`, `tap:aio:`) in the xm-era positional
/// form `TARGET,VDEV,MODE`, a plain path as `target=` (which may hold
/// commas). The vdev and mode are words: nothing of the spec's syntax
/// can come in through them.
pub fn disk_of(
    domid: u32,
    target: &str,
    vdev: &str,
    mode: &str,
) -> Result<config::Disk, HotplugError> {
    let field = |what, value: &str, why| HotplugError::Field {
        domid,
        what,
        value: value.to_string(),
        why,
    };
    let word = |what, v: &str, ok: fn(char) -> bool| {
        if v.is_empty() || v.len() > 32 || !v.chars().all(ok) {
            return Err(field(what, v, "a word of letters and digits"));
        }
        Ok(())
    };
    word("vdev", vdev, |c| c.is_ascii_alphanumeric() || c == ':')?;
    word("mode", mode, |c| c.is_ascii_lowercase() || c == '!')?;
    if target.len() > MAX_TARGET {
        return Err(field(
            "target",
            &target.chars().take(64).collect::<String>(),
            "longer than a path may be (4096 bytes)",
        ));
    }
    let spec = if target.starts_with('/') {
        format!("vdev={vdev},access={mode},target={target}")
    } else if target.contains(',') {
        return Err(field(
            "target",
            target,
            "a prefixed target (phy:, file:) has no comma; give a plain absolute path",
        ));
    } else {
        format!("{target},{vdev},{mode}")
    };
    config::parse_disk(&spec).map_err(|source| HotplugError::Spec { domid, source })
}

/// The card `network-attach DOMAIN SPEC` names, read as a config's
/// `vif` entry is ([`config::vif::parse_vif`]); a key the stack does not
/// act on is refused here (there is no place to report it).
pub fn vif_of(domid: u32, spec: &str) -> Result<Vif, HotplugError> {
    let bad = |why: String| HotplugError::VifSpec {
        domid,
        spec: spec.to_string(),
        why,
    };
    if spec.len() > MAX_VIF_SPEC {
        return Err(HotplugError::VifSpec {
            domid,
            spec: spec.chars().take(64).collect(),
            why: format!("longer than {MAX_VIF_SPEC} bytes"),
        });
    }
    let v = config::vif::parse_vif(spec).map_err(|e| bad(e.to_string()))?;
    if let Some(k) = v.not_acted_on.first() {
        return Err(bad(format!("{k} is not acted on here")));
    }
    Ok(v.vif)
}

/// The card number `network-detach DOMAIN DEVID` names.
pub fn devid_of(domid: u32, devid: &str) -> Result<u32, HotplugError> {
    devid.parse().map_err(|_| HotplugError::NotAttached {
        domid,
        what: "network card",
        device: devid.to_string(),
    })
}

/// Two vdevs name the same guest disk: the same name, or the same IDE
/// slot (`hdb`, `sdb` and `xvdb` are one disk, as in Xen).
fn same_vdev(a: &str, b: &str) -> bool {
    a == b || config::ide_index(a).is_some_and(|i| config::ide_index(b) == Some(i))
}

impl Manager {
    /// The running domain `which` names, and its hot-plug record (made
    /// when it has none, or one of an earlier domain of that id).
    fn hot_of(
        &mut self,
        which: &str,
    ) -> Result<(Target, &mut Hot, &crate::domain::Domain), HotplugError> {
        let id = self.find(which)?;
        let d = &self.domains[&id];
        // A device model that ended is Crashed (kept) or taken out.
        if d.state == DState::Crashed {
            return Err(HotplugError::NotRunning { domid: id });
        }
        let at = Target {
            domid: id,
            uuid: d.uuid.clone(),
            dir: d.dir.clone(),
        };
        let hot = self.hot.entry(id).or_default();
        if hot.uuid != at.uuid {
            *hot = Hot {
                uuid: at.uuid.clone(),
                ..Hot::default()
            };
        }
        Ok((at, hot, &self.domains[&id]))
    }

    /// Checks that `disk` may be attached to `which` and marks it
    /// pending: the vdev is nobody's (config disks, attached ones, those
    /// being attached), fewer than [`MAX_HOT_DISKS`] are attached.
    pub fn begin_block_attach(
        &mut self,
        which: &str,
        disk: config::Disk,
    ) -> Result<DiskJob, HotplugError> {
        let (at, hot, d) = self.hot_of(which)?;
        let domid = at.domid;
        let taken = |by: &str| HotplugError::VdevInUse {
            domid,
            vdev: disk.vdev.clone(),
            by: by.to_string(),
        };
        if let Some(c) = d
            .config
            .disks
            .iter()
            .find(|c| same_vdev(&c.vdev, &disk.vdev))
        {
            return Err(taken(&format!("{} of its config", c.vdev)));
        }
        if let Some(h) = hot
            .attached
            .disks
            .iter()
            .find(|h| same_vdev(&h.vdev, &disk.vdev))
        {
            if hot.pending.contains(&h.device()) {
                return Err(HotplugError::Pending {
                    domid,
                    device: h.device(),
                });
            }
            return Err(taken(&format!("{}, attached", h.vdev)));
        }
        if hot.attached.disks.len() >= MAX_HOT_DISKS {
            return Err(HotplugError::TooMany {
                domid,
                what: "hot-plugged disks",
                max: MAX_HOT_DISKS,
                verb: "block",
            });
        }
        let n = hot.attached.next;
        // Recorded (and saved) before qemu is asked, with every fd set it
        // may take: a new xend, after a crash between qemu's answer and
        // the record, knows it and can detach it (a detach removes only
        // what qemu holds), and its number is never used again.
        let h = HotDisk {
            vdev: disk.vdev.clone(),
            spec: disk.to_spec(),
            n,
            files: FDSETS_PER_DISK,
        };
        let mut next = hot.attached.clone();
        next.next = n.saturating_add(1);
        next.disks.push(h.clone());
        save(&at, &next, &h.device())?;
        hot.attached = next;
        hot.pending.push(h.device());
        Ok(DiskJob { at, hot: h, disk })
    }

    /// Records the end of a [`DiskJob`]: attached (and saved) when `done`
    /// says so, forgotten otherwise.
    pub fn end_block_attach(
        &mut self,
        job: DiskJob,
        done: Result<u32, HotplugError>,
    ) -> Result<HotDisk, HotplugError> {
        let device = job.hot.device();
        let Some(hot) = self.settle(&job.at, &device) else {
            done?;
            return Err(DomainError::NoDomain(job.at.domid.to_string()).into());
        };
        let n = job.hot.n;
        let files = match done {
            Ok(files) => files,
            Err(e) => {
                hot.attached.disks.retain(|d| d.n != n);
                // Forgotten; a failure to save that is only logged: the
                // record left says attached, and detaching it is harmless.
                if let Err(s) = save(&job.at, &hot.attached, &device) {
                    tracing::warn!(domid = job.at.domid, "{s}");
                }
                return Err(e);
            }
        };
        let h = HotDisk { files, ..job.hot };
        if let Some(d) = hot.attached.disks.iter_mut().find(|d| d.n == n) {
            *d = h.clone();
        }
        save(&job.at, &hot.attached, &device)?;
        Ok(h)
    }

    /// Takes `device` off the pending list of the domain `at` names; its
    /// record, when the same domain still runs.
    fn settle(&mut self, at: &Target, device: &str) -> Option<&mut Hot> {
        let same = self
            .domains
            .get(&at.domid)
            .is_some_and(|d| d.uuid == at.uuid);
        let hot = self.hot.get_mut(&at.domid).filter(|h| h.uuid == at.uuid)?;
        hot.pending.retain(|p| p != device);
        same.then_some(hot)
    }

    /// Checks that `vdev` is a disk hot-plugged into `which`, and marks it
    /// pending.
    pub fn begin_block_detach(
        &mut self,
        which: &str,
        vdev: &str,
    ) -> Result<(Target, HotDisk), HotplugError> {
        let (at, hot, d) = self.hot_of(which)?;
        let domid = at.domid;
        // A paused guest cannot answer the unplug request: it would be
        // waited for in vain.
        if d.state == DState::Paused {
            return Err(HotplugError::Paused { domid });
        }
        let Some(h) = hot
            .attached
            .disks
            .iter()
            .find(|h| same_vdev(&h.vdev, vdev))
            .cloned()
        else {
            if d.config.disks.iter().any(|c| same_vdev(&c.vdev, vdev)) {
                return Err(HotplugError::ConfigDisk {
                    domid,
                    vdev: vdev.to_string(),
                });
            }
            return Err(HotplugError::NotAttached {
                domid,
                what: "disk",
                device: vdev.to_string(),
            });
        };
        if hot.pending.contains(&h.device()) {
            return Err(HotplugError::Pending {
                domid,
                device: h.device(),
            });
        }
        hot.pending.push(h.device());
        Ok((at, h))
    }

    /// Records the end of a block detach: the disk is gone (and saved as
    /// gone) when `done` says so, still attached otherwise.
    pub fn end_block_detach(
        &mut self,
        at: &Target,
        h: &HotDisk,
        done: Result<(), HotplugError>,
    ) -> Result<(), HotplugError> {
        let device = h.device();
        let hot = self.settle(at, &device);
        done?;
        let Some(hot) = hot else { return Ok(()) };
        hot.attached.disks.retain(|d| d.n != h.n);
        save(at, &hot.attached, &device)
    }

    /// Checks that `vif` may be attached to `which` and marks it pending:
    /// its devid is the lowest after the config's cards that no card
    /// has, and fewer than [`crate::net::MAX_NICS`] cards there are.
    pub fn begin_nic_attach(&mut self, which: &str, vif: Vif) -> Result<NicJob, HotplugError> {
        let dm_range = self.s.dm_range;
        let (at, hot, d) = self.hot_of(which)?;
        let domid = at.domid;
        let config_nics = d.config.vifs.len();
        let pending: Vec<u32> = hot
            .pending
            .iter()
            .filter_map(|p| p.strip_prefix("hotnic")?.parse().ok())
            .collect();
        let used = |i: u32| hot.attached.nics.iter().any(|n| n.devid == i) || pending.contains(&i);
        let max = crate::net::MAX_NICS;
        let first = u32::try_from(config_nics).unwrap_or(u32::MAX);
        let too_many = HotplugError::TooMany {
            domid,
            what: "network cards",
            max,
            verb: "network",
        };
        let end = u32::try_from(max).unwrap_or(u32::MAX);
        let devid = (first..end).find(|i| !used(*i)).ok_or(too_many)?;
        // The MAC is chosen here, distinct from the domain's other cards'
        // (those of its config that have one, those attached).
        let macs: Vec<Mac> = d
            .config
            .vifs
            .iter()
            .filter_map(|v| v.mac)
            .chain(
                hot.attached
                    .nics
                    .iter()
                    .filter_map(|n| config::vif::parse_vif(&n.spec).ok()?.vif.mac),
            )
            .collect();
        let mac = match vif.mac {
            Some(m) if macs.contains(&m) => {
                return Err(HotplugError::VifSpec {
                    domid,
                    spec: vif.to_spec(),
                    why: format!("mac {m} is another card's of the domain"),
                });
            }
            Some(m) => m,
            None => loop {
                let m = random_mac().map_err(|source| HotplugError::Mac {
                    domid,
                    devid,
                    source,
                })?;
                if !macs.contains(&m) {
                    break m;
                }
            },
        };
        let vif = Vif {
            mac: Some(mac),
            ..vif
        };
        let h = HotNic {
            devid,
            spec: vif.to_spec(),
        };
        let uid = d.uid;
        let gid = if dm_range {
            uid
        } else {
            privlib::procfs::read_cred(std::path::Path::new("/proc"), "self")
                .map_err(DomainError::Proc)?
                .gid[1]
        };
        // Recorded before qemu is asked, as a disk is.
        let mut next = hot.attached.clone();
        next.nics.push(h.clone());
        save(&at, &next, &h.device())?;
        hot.attached = next;
        hot.pending.push(h.device());
        Ok(NicJob {
            at,
            hot: h,
            vif,
            uid,
            gid,
        })
    }

    /// Records the end of a [`NicJob`]: the card attached (and saved), or
    /// forgotten. (Nothing of its backend is kept: the tap lives as long
    /// as qemu holds it, passt as long as its socket.)
    pub fn end_nic_attach(
        &mut self,
        job: NicJob,
        done: Result<(), HotplugError>,
    ) -> Result<HotNic, HotplugError> {
        let device = job.hot.device();
        let Some(hot) = self.settle(&job.at, &device) else {
            done?;
            return Err(DomainError::NoDomain(job.at.domid.to_string()).into());
        };
        if let Err(e) = done {
            hot.attached.nics.retain(|n| n.devid != job.hot.devid);
            if let Err(s) = save(&job.at, &hot.attached, &device) {
                tracing::warn!(domid = job.at.domid, "{s}");
            }
            return Err(e);
        }
        Ok(job.hot)
    }

    /// Checks that card `devid` is hot-plugged into `which`, and marks it
    /// pending.
    pub fn begin_nic_detach(
        &mut self,
        which: &str,
        devid: u32,
    ) -> Result<(Target, HotNic), HotplugError> {
        let (at, hot, d) = self.hot_of(which)?;
        let domid = at.domid;
        // A paused guest cannot answer the unplug request: it would be
        // waited for in vain.
        if d.state == DState::Paused {
            return Err(HotplugError::Paused { domid });
        }
        let Some(h) = hot.attached.nics.iter().find(|n| n.devid == devid).cloned() else {
            if usize::try_from(devid).is_ok_and(|i| i < d.config.vifs.len()) {
                return Err(HotplugError::ConfigNic { domid, devid });
            }
            return Err(HotplugError::NotAttached {
                domid,
                what: "network card",
                device: devid.to_string(),
            });
        };
        if hot.pending.contains(&h.device()) {
            return Err(HotplugError::Pending {
                domid,
                device: h.device(),
            });
        }
        hot.pending.push(h.device());
        Ok((at, h))
    }

    /// Records the end of a network detach: the card and its backend
    /// gone (and saved as gone), or still attached.
    pub fn end_nic_detach(
        &mut self,
        at: &Target,
        h: &HotNic,
        done: Result<(), HotplugError>,
    ) -> Result<(), HotplugError> {
        let device = h.device();
        let hot = self.settle(at, &device);
        done?;
        let Some(hot) = hot else { return Ok(()) };
        hot.attached.nics.retain(|n| n.devid != h.devid);
        save(at, &hot.attached, &device)
    }

    /// What is attached to `which` (empty when nothing is).
    pub fn attached(&self, which: &str) -> Result<(u32, Attached), DomainError> {
        let id = self.find(which)?;
        let uuid = &self.domains[&id].uuid;
        let a = self
            .hot
            .get(&id)
            .filter(|h| h.uuid == *uuid)
            .map(|h| h.attached.clone())
            .unwrap_or_default();
        Ok((id, a))
    }

    /// The disks of `which`: its config's, then those attached.
    pub fn block_list(&self, which: &str) -> Result<Vec<BlockDevice>, DomainError> {
        let (id, a) = self.attached(which)?;
        let row = |d: &config::Disk, hotplugged| BlockDevice {
            vdev: d.vdev.clone(),
            target: d.target.clone(),
            mode: if d.read_only { "r" } else { "w" }.to_string(),
            hotplugged,
        };
        let mut v: Vec<BlockDevice> = self.domains[&id]
            .config
            .disks
            .iter()
            .map(|d| row(d, false))
            .collect();
        v.extend(
            a.disks
                .iter()
                .filter_map(|h| config::parse_disk(&h.spec).ok())
                .map(|d| row(&d, true)),
        );
        Ok(v)
    }

    /// The network cards of `which`: its config's, then those attached.
    pub fn network_list(&self, which: &str) -> Result<Vec<NetDevice>, DomainError> {
        let (id, a) = self.attached(which)?;
        let row = |devid: u32, v: &Vif, hotplugged| NetDevice {
            devid,
            mac: v.mac.map(|m| m.to_string()),
            bridge: v.bridge.clone(),
            model: v.model.name().to_string(),
            hotplugged,
        };
        let mut out: Vec<NetDevice> = self.domains[&id]
            .config
            .vifs
            .iter()
            .zip(0u32..)
            .map(|(v, i)| row(i, v, false))
            .collect();
        out.extend(a.nics.iter().filter_map(|n| {
            let v = config::vif::parse_vif(&n.spec).ok()?;
            Some(row(n.devid, &v.vif, true))
        }));
        Ok(out)
    }
}

fn save(at: &Target, a: &Attached, device: &str) -> Result<(), HotplugError> {
    record_attached(&at.dir, a).map_err(|source| HotplugError::Save {
        domid: at.domid,
        device: device.to_string(),
        source,
    })
}

/// A MAC from Xen's prefix, 00:16:3e, the rest at random.
fn random_mac() -> std::io::Result<Mac> {
    use std::io::Read;
    let mut b = [0u8; 3];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(Mac([0x00, 0x16, 0x3e, b[0] & 0x7f, b[1], b[2]]))
}

/// Opens the disk of `job` as at start and plugs it into qemu; the files
/// of its chain.
pub fn plug_disk(s: &Settings, job: &DiskJob) -> Result<u32, HotplugError> {
    let domid = job.at.domid;
    let open =
        crate::disk::open_for_hotplug(s, &job.disk).map_err(|source| HotplugError::Open {
            domid,
            vdev: job.disk.vdev.clone(),
            source,
        })?;
    let mut q = connect(&job.at, &job.hot.device())?;
    attach_disk(&mut q, domid, &job.hot, &open)?;
    Ok(u32::try_from(open.files().len()).unwrap_or(u32::MAX))
}

/// Unplugs the disk `h` from qemu ([`detach_disk`]).
pub fn unplug_disk(at: &Target, h: &HotDisk) -> Result<(), HotplugError> {
    let mut q = connect(at, &h.device())?;
    detach_disk(&mut q, at.domid, h, RELEASE_WAIT)
}

/// A network card's backend as hot-plug hands it to qemu: the fd, and
/// the `netdev_add` arguments that use it under a `getfd` name.
pub trait NicBackend {
    /// What qemu gets.
    fn fd(&self) -> BorrowedFd<'_>;
    /// `netdev_add`'s arguments for backend `id` on the fd named `fdname`.
    fn netdev_add(&self, id: &str, fdname: &str) -> Value;
}

impl NicBackend for crate::net::Backend {
    fn fd(&self) -> BorrowedFd<'_> {
        crate::net::Backend::fd(self)
    }

    fn netdev_add(&self, id: &str, fdname: &str) -> Value {
        crate::net::Backend::netdev_add(self, id, fdname)
    }
}

/// Checks the card of `job` and opens its backend as at start
/// ([`crate::net::plan_one`]: the networking feature in system mode, the
/// bridge; [`crate::net::open_backend`]: the tap `vif<domid>.<devid>` on
/// it, or passt as the device model's uid), and plugs it into qemu. The
/// backend is dropped after: qemu holds the tap (which goes with
/// `netdev_del` or qemu's end), passt ends with qemu's end of its socket.
pub fn plug_nic(s: &Settings, job: &NicJob) -> Result<(), HotplugError> {
    let domid = job.at.domid;
    let devid = job.hot.devid;
    let backend_err = |source| HotplugError::Backend {
        domid,
        devid,
        source,
    };
    let index = usize::try_from(devid).unwrap_or(usize::MAX);
    let plan = crate::net::plan_one(s, index, &job.vif).map_err(backend_err)?;
    let backend =
        crate::net::open_backend(s, domid, job.uid, job.gid, &plan).map_err(backend_err)?;
    let mut q = connect(&job.at, &job.hot.device())?;
    attach_nic(&mut q, domid, &job.hot, &backend, plan.mac, job.vif.model)
}

/// Unplugs the card `h` from qemu ([`detach_nic`]).
pub fn unplug_nic(at: &Target, h: &HotNic) -> Result<(), HotplugError> {
    let mut q = connect(at, &h.device())?;
    detach_nic(&mut q, at.domid, h, RELEASE_WAIT)
}

fn connect(at: &Target, device: &str) -> Result<Qmp, HotplugError> {
    Qmp::connect(&at.qmp()).map_err(|source| HotplugError::Connect {
        domid: at.domid,
        device: device.to_string(),
        source,
    })
}

/// A QMP step's error, naming the domain and the device.
type Step = fn(u32, String, QmpError) -> HotplugError;

macro_rules! step {
    ($v:ident) => {
        |domid, device, source| HotplugError::$v {
            domid,
            device,
            source,
        }
    };
}

const ADD_FD: Step = step!(AddFd);
const BLOCKDEV_ADD: Step = step!(BlockdevAdd);
const DEVICE_ADD: Step = step!(DeviceAdd);
const GET_FD: Step = step!(GetFd);
const NETDEV_ADD: Step = step!(NetdevAdd);
const DEVICE_DEL: Step = step!(DeviceDel);
const RELEASED: Step = step!(Released);
const QUERY: Step = step!(Query);
const BLOCKDEV_DEL: Step = step!(BlockdevDel);
const REMOVE_FD: Step = step!(RemoveFd);
const NETDEV_DEL: Step = step!(NetdevDel);

/// Plugs the opened disk `open` into qemu as `h`: each file's fds into
/// its fd set, the nodes, the device. A failed step undoes the ones
/// before it (what qemu took is removed), and is the error.
pub fn attach_disk(
    q: &mut Qmp,
    domid: u32,
    h: &HotDisk,
    open: &OpenDisk,
) -> Result<(), HotplugError> {
    let device = h.device();
    let err = |f: Step| {
        let device = device.clone();
        move |e| f(domid, device, e)
    };
    let files = open.files();
    let sets: Vec<u32> = (0..files.len())
        .map(|i| h.fdset(u32::try_from(i).unwrap_or(FDSETS_PER_DISK)))
        .collect();
    let mut added_sets = Vec::new();
    let mut added_nodes = Vec::new();
    let r = (|| {
        if files.len() > FDSETS_PER_DISK as usize {
            return Err(err(ADD_FD)(QmpError::Unexpected {
                command: "add-fd".into(),
                answer: json!(format!("{} files in the chain", files.len())),
            }));
        }
        for (f, set) in files.iter().zip(&sets) {
            added_sets.push(*set);
            for fd in f.fds() {
                q.add_fd(*set, fd, &device).map_err(err(ADD_FD))?;
            }
        }
        for node in open.blockdev_nodes(&h.prefix(), &sets) {
            q.call("blockdev-add", node.clone())
                .map_err(err(BLOCKDEV_ADD))?;
            if let Some(name) = node.get("node-name").and_then(Value::as_str) {
                added_nodes.push(name.to_string());
            }
        }
        q.call(
            "device_add",
            json!({"driver": HOT_DISK_DEVICE, "id": device, "drive": OpenDisk::top(&h.prefix())}),
        )
        .map_err(err(DEVICE_ADD))
        .map(drop)
    })();
    if r.is_err() {
        // The newest node first: a node's users go before it.
        for n in added_nodes.iter().rev() {
            let _ = q.call("blockdev-del", json!({"node-name": n}));
        }
        for s in &added_sets {
            let _ = q.remove_fdset(*s);
        }
    }
    r
}

/// The node names of disk `h` in the order they are removed (a node
/// before those below it).
fn node_names(h: &HotDisk) -> Vec<String> {
    let p = h.prefix();
    (0..h.files)
        .flat_map(|i| [format!("{p}-{i}"), format!("{p}-{i}f")])
        .collect()
}

/// Unplugs the disk `h`: `device_del`, then (once the guest let it go:
/// `DEVICE_DELETED`, waited for at most `wait`) its nodes and fd sets,
/// those qemu still has. A device already gone is not an error: a detach
/// cut short can be done again.
pub fn detach_disk(
    q: &mut Qmp,
    domid: u32,
    h: &HotDisk,
    wait: Duration,
) -> Result<(), HotplugError> {
    let device = h.device();
    unplug(q, domid, &device, wait)?;
    let err = |f: Step| {
        let device = device.clone();
        move |e| f(domid, device, e)
    };
    let nodes = q
        .call("query-named-block-nodes", json!({"flat": true}))
        .map_err(err(QUERY))?;
    let has = |n: &str| {
        nodes.as_array().is_some_and(|a| {
            a.iter()
                .any(|v| v.get("node-name").and_then(Value::as_str) == Some(n))
        })
    };
    for n in node_names(h) {
        if has(&n) {
            q.call("blockdev-del", json!({"node-name": n}))
                .map_err(err(BLOCKDEV_DEL))?;
        }
    }
    let sets = q.execute("query-fdsets").map_err(err(QUERY))?;
    let held = |s: u32| {
        sets.as_array().is_some_and(|a| {
            a.iter()
                .any(|v| v.get("fdset-id").and_then(Value::as_u64) == Some(u64::from(s)))
        })
    };
    for i in 0..h.files {
        let s = h.fdset(i);
        if held(s) {
            q.remove_fdset(s).map_err(err(REMOVE_FD))?;
        }
    }
    Ok(())
}

/// `device_del` of `device`, and the wait for the guest to let it go. A
/// device qemu does not know (gone already) is done.
fn unplug(q: &mut Qmp, domid: u32, device: &str, wait: Duration) -> Result<(), HotplugError> {
    match q.call("device_del", json!({"id": device})) {
        Ok(_) => {}
        Err(QmpError::Command { error, .. })
            if error.get("class").and_then(Value::as_str) == Some("DeviceNotFound") =>
        {
            return Ok(());
        }
        Err(e) => return Err(DEVICE_DEL(domid, device.to_string(), e)),
    }
    q.wait_event("DEVICE_DELETED", wait, |v| {
        v.pointer("/data/device").and_then(Value::as_str) == Some(device)
    })
    .map(drop)
    .map_err(|e| RELEASED(domid, device.to_string(), e))
}

/// Plugs a network card into qemu as `h`: its backend's fd by `getfd`
/// (named as its netdev), `netdev_add` on it, the device with `mac`. A failed step undoes the ones before it.
pub fn attach_nic(
    q: &mut Qmp,
    domid: u32,
    h: &HotNic,
    backend: &dyn NicBackend,
    mac: Mac,
    model: NicModel,
) -> Result<(), HotplugError> {
    let device = h.device();
    let netdev = h.netdev();
    let err = |f: Step| {
        let device = device.clone();
        move |e| f(domid, device, e)
    };
    q.get_fd(&netdev, backend.fd()).map_err(err(GET_FD))?;
    if let Err(e) = q.call("netdev_add", backend.netdev_add(&netdev, &netdev)) {
        let _ = q.call("closefd", json!({"fdname": netdev}));
        return Err(err(NETDEV_ADD)(e));
    }
    let added = q.call(
        "device_add",
        json!({"driver": model.qemu_device(), "id": device, "netdev": netdev, "mac": mac.to_string()}),
    );
    if let Err(e) = added {
        let _ = q.call("netdev_del", json!({"id": netdev}));
        return Err(err(DEVICE_ADD)(e));
    }
    Ok(())
}

/// Unplugs the card `h`: `device_del`, the wait for the guest, then
/// `netdev_del` (unless qemu has no such backend any more).
pub fn detach_nic(q: &mut Qmp, domid: u32, h: &HotNic, wait: Duration) -> Result<(), HotplugError> {
    let device = h.device();
    unplug(q, domid, &device, wait)?;
    match q.call("netdev_del", json!({"id": h.netdev()})) {
        Ok(_) => Ok(()),
        Err(QmpError::Command { error, .. })
            if error.get("class").and_then(Value::as_str) == Some("DeviceNotFound") =>
        {
            Ok(())
        }
        Err(e) => Err(NETDEV_DEL(domid, device, e)),
    }
}

#[cfg(test)]
#[path = "hotplug_tests.rs"]
mod tests;
