//! The QMP steps of hot-plug, without the manager's lock: what qemu is
//! given and in which order, each step's failure undoing the ones before
//! it ([`attach_disk`], [`attach_nic`]); what is taken away, only what
//! qemu still holds ([`detach_disk`], [`detach_nic`]); and opening what
//! a device needs first, as a start does ([`plug_disk`], [`plug_nic`]).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use serde_json::{Value, json};

use super::{DiskJob, HOT_DISK_DEVICE, HotplugError, NicJob, RELEASE_WAIT, Target};
use crate::config::{Mac, NicModel};
use crate::disk::OpenDisk;
use crate::domain::Settings;
use crate::qmp::{Qmp, QmpError};
use crate::saved::{FDSETS_PER_DISK, HotDisk, HotNic};

/// Opens the disk of `job` as at start and plugs it into qemu, the device
/// model `qemu` (its pid as recorded under the lock, [`connect`]); the
/// files of its chain.
pub fn plug_disk(s: &Settings, job: &DiskJob, qemu: i32) -> Result<u32, HotplugError> {
    let domid = job.at.domid;
    let open =
        crate::disk::open_for_hotplug(s, &job.disk).map_err(|source| HotplugError::Open {
            domid,
            vdev: job.disk.vdev.clone(),
            source,
        })?;
    let mut q = connect(&job.at, qemu, &job.hot.device())?;
    attach_disk(&mut q, domid, &job.hot, &open)?;
    Ok(u32::try_from(open.files().len()).unwrap_or(u32::MAX))
}

/// Unplugs the disk `h` from qemu, the device model `qemu`
/// ([`detach_disk`]).
pub fn unplug_disk(at: &Target, h: &HotDisk, qemu: i32) -> Result<(), HotplugError> {
    let mut q = connect(at, qemu, &h.device())?;
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
/// it, or passt as the device model's uid), and plugs it into qemu, the
/// device model `qemu` ([`connect`]). The
/// backend is dropped after: qemu holds the tap (which goes with
/// `netdev_del` or qemu's end), passt ends with qemu's end of its socket.
pub fn plug_nic(s: &Settings, job: &NicJob, qemu: i32) -> Result<(), HotplugError> {
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
    let mut q = connect(&job.at, qemu, &job.hot.device())?;
    attach_nic(&mut q, domid, &job.hot, &backend, plan.mac, job.vif.model)
}

/// Unplugs the card `h` from qemu, the device model `qemu`
/// ([`detach_nic`]).
pub fn unplug_nic(at: &Target, h: &HotNic, qemu: i32) -> Result<(), HotplugError> {
    let mut q = connect(at, qemu, &h.device())?;
    detach_nic(&mut q, at.domid, h, RELEASE_WAIT)
}

/// The QMP session of `at`, whose socket must be served by `qemu`, the
/// pid of its device model as recorded under the lock
/// ([`crate::manager::Manager::device_model_of`]): the path names the
/// domain by id only, and the id may have gone to another domain since.
fn connect(at: &Target, qemu: i32, device: &str) -> Result<Qmp, HotplugError> {
    Qmp::connect_to(&at.qmp(), qemu).map_err(|source| HotplugError::Connect {
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
