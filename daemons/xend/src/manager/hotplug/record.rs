//! The checks and records of hot-plug, under the manager's lock: a
//! request is checked against what the domain has and marked pending
//! (`begin_*`), its outcome recorded in the domain's [`Hot`] and its
//! `state.json` (`end_*`); and what is attached, listed.

use super::spec::same_vdev;
use super::{DiskJob, Hot, HotplugError, NicJob, Target};
use crate::api::{BlockDevice, NetDevice};
use crate::config::{self, Mac, Vif};
use crate::domain::DState;
use crate::error::DomainError;
use crate::manager::Manager;
use crate::saved::{Attached, FDSETS_PER_DISK, HotDisk, HotNic, MAX_HOT_DISKS, record_attached};

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

    /// The pid of the device model of the running domain `which`: taken
    /// under the lock with the request's checks, and compared with the
    /// QMP socket's once connected without it ([`crate::qmp::Qmp::connect_to`]),
    /// so that a domain ended and replaced under the same id meanwhile is
    /// not the one given the device.
    pub fn device_model_of(&self, which: &str) -> Result<i32, HotplugError> {
        let domid = self.find(which)?;
        let d = &self.domains[&domid];
        match &d.child {
            Some(c) if d.state != DState::Crashed => Ok(c.pid()),
            _ => Err(HotplugError::NotRunning { domid }),
        }
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
        self.begin_detach(
            which,
            |a| a.disks.iter().find(|h| same_vdev(&h.vdev, vdev)).cloned(),
            |domid, config| {
                if config.disks.iter().any(|c| same_vdev(&c.vdev, vdev)) {
                    return HotplugError::ConfigDisk {
                        domid,
                        vdev: vdev.to_string(),
                    };
                }
                HotplugError::NotAttached {
                    domid,
                    what: "disk",
                    device: vdev.to_string(),
                }
            },
            HotDisk::device,
        )
    }

    /// Checks that `which` runs and is not paused (a paused guest cannot
    /// answer the unplug request: it would be waited for in vain), that
    /// `find` picks a hot-plugged device from its record (else the error
    /// `missing` makes from its domid and config) and that the device
    /// (its qemu id by `device`) is not pending, and marks it pending.
    fn begin_detach<H>(
        &mut self,
        which: &str,
        find: impl FnOnce(&Attached) -> Option<H>,
        missing: impl FnOnce(u32, &config::DomainConfig) -> HotplugError,
        device: impl Fn(&H) -> String,
    ) -> Result<(Target, H), HotplugError> {
        let (at, hot, d) = self.hot_of(which)?;
        let domid = at.domid;
        if d.state == DState::Paused {
            return Err(HotplugError::Paused { domid });
        }
        let Some(h) = find(&hot.attached) else {
            return Err(missing(domid, &d.config));
        };
        if hot.pending.contains(&device(&h)) {
            return Err(HotplugError::Pending {
                domid,
                device: device(&h),
            });
        }
        hot.pending.push(device(&h));
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
        self.end_detach(at, &h.device(), done, |a| a.disks.retain(|d| d.n != h.n))
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
                let m = crate::net::xen_mac().map_err(|source| HotplugError::Mac {
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
        self.begin_detach(
            which,
            |a| a.nics.iter().find(|n| n.devid == devid).cloned(),
            |domid, config| {
                if usize::try_from(devid).is_ok_and(|i| i < config.vifs.len()) {
                    return HotplugError::ConfigNic { domid, devid };
                }
                HotplugError::NotAttached {
                    domid,
                    what: "network card",
                    device: devid.to_string(),
                }
            },
            HotNic::device,
        )
    }

    /// Records the end of a network detach: the card and its backend
    /// gone (and saved as gone), or still attached.
    pub fn end_nic_detach(
        &mut self,
        at: &Target,
        h: &HotNic,
        done: Result<(), HotplugError>,
    ) -> Result<(), HotplugError> {
        self.end_detach(at, &h.device(), done, |a| {
            a.nics.retain(|n| n.devid != h.devid);
        })
    }

    /// The end of a detach: no longer pending; when `done`, `remove`
    /// takes the device out of what is attached and that is saved.
    fn end_detach(
        &mut self,
        at: &Target,
        device: &str,
        done: Result<(), HotplugError>,
        remove: impl FnOnce(&mut Attached),
    ) -> Result<(), HotplugError> {
        let hot = self.settle(at, device);
        done?;
        let Some(hot) = hot else { return Ok(()) };
        remove(&mut hot.attached);
        save(at, &hot.attached, device)
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
