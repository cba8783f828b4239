//! The hot-plug methods as xend serves them ([`crate::manager::hotplug`]
//! does the work): each is checked and marked pending under the lock,
//! done on qemu without it, and recorded under it again.

use crate::api::{BlockAttachParams, DeviceAck};
use crate::manager::hotplug::{self, HotplugError};
use crate::server::Xend;

impl Xend {
    /// Attaches a disk to a running domain ([`crate::manager::hotplug`]):
    /// checked and marked pending under the lock, opened and plugged
    /// into qemu without it, recorded under it.
    pub fn block_attach(&self, p: &BlockAttachParams) -> Result<DeviceAck, HotplugError> {
        let (job, s, qemu) = {
            let mut m = self.lock();
            let domid = m.find(&p.domain)?;
            let disk = hotplug::disk_of(domid, &p.target, &p.vdev, &p.mode)?;
            let qemu = m.device_model_of(&p.domain)?;
            (m.begin_block_attach(&p.domain, disk)?, m.s.clone(), qemu)
        };
        let done = hotplug::plug_disk(&s, &job, qemu);
        let domid = job.at.domid;
        let h = self.lock().end_block_attach(job, done)?;
        Ok(DeviceAck {
            domid,
            device: h.vdev,
        })
    }

    /// Detaches a hot-plugged disk (the guest is given
    /// [`hotplug::RELEASE_WAIT`] to let it go).
    pub fn block_detach(&self, which: &str, vdev: &str) -> Result<DeviceAck, HotplugError> {
        let mut m = self.lock();
        let qemu = m.device_model_of(which)?;
        let (at, h) = m.begin_block_detach(which, vdev)?;
        drop(m);
        let done = hotplug::unplug_disk(&at, &h, qemu);
        self.lock().end_block_detach(&at, &h, done)?;
        Ok(DeviceAck {
            domid: at.domid,
            device: h.vdev,
        })
    }

    /// Attaches a network card to a running domain.
    pub fn network_attach(&self, which: &str, spec: &str) -> Result<DeviceAck, HotplugError> {
        let (job, s, qemu) = {
            let mut m = self.lock();
            let domid = m.find(which)?;
            let vif = hotplug::vif_of(domid, spec)?;
            let qemu = m.device_model_of(which)?;
            (m.begin_nic_attach(which, vif)?, m.s.clone(), qemu)
        };
        let done = hotplug::plug_nic(&s, &job, qemu);
        let domid = job.at.domid;
        let h = self.lock().end_nic_attach(job, done)?;
        Ok(DeviceAck {
            domid,
            device: h.devid.to_string(),
        })
    }

    /// Detaches a hot-plugged network card.
    pub fn network_detach(&self, which: &str, devid: &str) -> Result<DeviceAck, HotplugError> {
        let (qemu, (at, h)) = {
            let mut m = self.lock();
            let domid = m.find(which)?;
            let devid = hotplug::devid_of(domid, devid)?;
            (m.device_model_of(which)?, m.begin_nic_detach(which, devid)?)
        };
        let done = hotplug::unplug_nic(&at, &h, qemu);
        self.lock().end_nic_detach(&at, &h, done)?;
        Ok(DeviceAck {
            domid: at.domid,
            device: h.devid.to_string(),
        })
    }
}
