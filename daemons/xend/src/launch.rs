//! Starting a reserved domain (its directory, sockets, log, device model
//! and xenstore entries) and ending one.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::time::SystemTime;

use xenstored::client::Client as XsClient;

use crate::disk::open_disk;
use crate::dm::kill::kill;
use crate::dm::log::{QEMU_LOG_MAX, pump_log};
use crate::dm::{self, DmSpec};
use crate::error::DomainError;
use crate::manager::{DState, Domain, Reservation, Settings, save_state};

/// Starts a reserved domain: opens its disks, makes its directory and
/// sockets, starts its device model and registers it in the store.
/// Needs only the settings, so it runs without the manager's lock.
pub fn launch(s: &Settings, r: &Reservation) -> Result<Domain, DomainError> {
    let (domid, uid, gid, cfg) = (r.domid, r.uid, r.gid, &r.cfg);
    // Validate and open everything before anything starts.
    let disks = cfg
        .disks
        .iter()
        .map(|d| open_disk(&s.image_dirs, d).map_err(DomainError::Disk))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = s.run.join("domains").join(domid.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(DomainError::io(&dir))?;
    }
    let listen = |name: &str| {
        UnixListener::bind(dir.join(name))
            .map(OwnedFd::from)
            .map_err(DomainError::io(dir.join(name)))
    };
    let (qmp, serial) = (listen("qmp")?, listen("serial")?);
    let vnc = if cfg.vnc {
        let l = UnixListener::bind(dir.join("vnc")).map_err(DomainError::io(dir.join("vnc")))?;
        l.set_nonblocking(true)
            .map_err(DomainError::io(dir.join("vnc")))?;
        Some(l)
    } else {
        None
    };
    // qemu's stdout and stderr: a pipe that xend copies into qemu.log (for
    // xend alone), up to QEMU_LOG_MAX bytes ([`pump_log`]). Not a file
    // with RLIMIT_FSIZE: that limit bounds the write *offset* in every
    // regular file the process writes, so it would also stop the guest
    // writing its disk image past that size.
    let log_file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join("qemu.log"))
    }
    .map_err(DomainError::io(dir.join("qemu.log")))?;
    let (log_read, log) = privlib::os::fd::pipe().map_err(|source| DomainError::System {
        what: "a pipe for qemu's log",
        source,
    })?;
    let spec = DmSpec {
        domid,
        config: cfg,
        uid,
        gid,
        kvm: s.kvm,
        groups: s.dm_range.then(|| s.kvm_gid.into_iter().collect()),
        qmp: &qmp,
        serial: &serial,
        disks: &disks,
        log: &log,
        qemu: s.qemu.clone(),
    };
    // proc_setid is raised for this one step only (system mode).
    let child = {
        let _on = s.dm_range.then(crate::privs::Bracket::on);
        dm::launch(&spec)?
    };
    drop(spec);
    drop(log);
    let pump = std::thread::Builder::new()
        .name(format!("qemu-log-{domid}"))
        .spawn(move || pump_log(log_read, log_file, QEMU_LOG_MAX));
    if let Err(e) = pump {
        tracing::warn!(domid, "qemu's log is not kept: {e}");
    }
    let mut d = Domain {
        domid,
        config: cfg.clone(),
        uuid: r.uuid.clone(),
        state: DState::Running,
        child: Some(child),
        started: SystemTime::now(),
        dir,
        uid,
        vnc,
    };
    // Recorded before anything else, so a new xend finds this qemu
    // whatever happens to this one from here on.
    if let Err(e) = save_state(&d, uid, &r.source, &r.text) {
        kill(&mut d, s.dm_range);
        let _ = std::fs::remove_dir_all(&d.dir);
        return Err(DomainError::State(e));
    }
    if let Err(e) = register(s, &d) {
        kill(&mut d, s.dm_range);
        let _ = std::fs::remove_dir_all(&d.dir);
        return Err(e);
    }
    Ok(d)
}

fn xs(s: &Settings) -> Result<XsClient, DomainError> {
    XsClient::connect(&s.xenstore).map_err(|source| DomainError::StoreConnect {
        path: s.xenstore.clone(),
        source,
    })
}

/// Writes the domain's nodes and introduces it (`@introduceDomain`).
fn register(s: &Settings, d: &Domain) -> Result<(), DomainError> {
    let mut xs = xs(s)?;
    let base = format!("/local/domain/{}", d.domid);
    let vm = format!("/vm/{}", d.uuid);
    let kib = (d.config.memory_mib * 1024).to_string();
    let id = d.domid.to_string();
    let writes: [(String, &[u8]); 8] = [
        (format!("{base}/name"), d.config.name.as_bytes()),
        (format!("{base}/domid"), id.as_bytes()),
        (format!("{base}/vm"), vm.as_bytes()),
        (format!("{base}/memory/target"), kib.as_bytes()),
        (format!("{base}/console/type"), b"xenconsoled"),
        (format!("{vm}/name"), d.config.name.as_bytes()),
        (format!("{vm}/uuid"), d.uuid.as_bytes()),
        (format!("{vm}/domid"), id.as_bytes()),
    ];
    let e = DomainError::Store;
    xs.transaction(5, |c, tx| {
        for (p, v) in &writes {
            c.write(tx, p, v)?;
        }
        Ok(())
    })
    .map_err(e)?;
    // The domain owns its directory, as on Xen; dom0 reads it.
    xs.set_perms(0, &base, &[&format!("n{}", d.domid), "r0"])
        .map_err(e)?;
    xs.introduce(d.domid, 0, 1).map_err(e)
}

pub(crate) fn unregister(s: &Settings, d: &Domain) {
    match xs(s) {
        Ok(mut xs) => {
            let _ = xs.rm(0, &format!("/local/domain/{}", d.domid));
            let _ = xs.rm(0, &format!("/vm/{}", d.uuid));
            if let Err(e) = xs.release(d.domid) {
                tracing::warn!(domid = d.domid, "xenstore release: {e}");
            }
        }
        Err(e) => tracing::warn!(domid = d.domid, "{e}"),
    }
}

/// Ends a domain taken out by [`Manager::take`]: its qemu killed (this
/// may wait seconds), its store entries and run directory gone. Needs no
/// lock; returns the domid for [`Manager::release`].
pub fn end(s: &Settings, mut d: Domain) -> u32 {
    kill(&mut d, s.dm_range);
    unregister(s, &d);
    let _ = std::fs::remove_dir_all(&d.dir);
    tracing::info!(domid = d.domid, "domain destroyed");
    d.domid
}
