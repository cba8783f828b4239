//! The domain table: every domain xend runs, starts or ends
//! ([`Manager`]), and the bookkeeping that lets the slow steps run without
//! the lock ([`Busy`], [`Ending`]; a [`Reservation`] is made here). What a
//! domain is ([`Domain`], [`DState`], [`Settings`]) is [`crate::domain`],
//! re-exported here.
//!
//! Beside it: adopting what a previous xend left running ([`adopt`], from
//! [`crate::saved`]), managed domains' config files ([`managed`]), the
//! host's size for Domain-0's row ([`host`]), looking after running
//! domains ([`watch`]), and the devices hot-plugged into them
//! ([`hotplug`]). Starting and ending a domain's device model is
//! [`crate::launch`]; its failures come up as [`crate::launch::LaunchError`]
//! and leave here as [`DomainError`].

pub mod adopt;
pub mod host;
pub mod hotplug;
pub mod managed;
#[cfg(test)]
mod tests;
pub mod watch;

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::api::{DomainInfo, DomainState};
use crate::config::{self, DomainConfig};
pub use crate::domain::{DState, Domain, MAX_MANAGED, Reservation, Settings};
use crate::error::DomainError;
use crate::launch::{LaunchError, RunError};
pub use crate::launch::{end, launch};
use crate::procstat::processes_of;
use crate::saved::StateError;
use crate::vnc::{self, VncListen};
use host::host_size;
pub use managed::{managed_config, managed_configs, managed_path, store_managed};
pub use watch::{qmp_command, vnc_hand_over};

/// A domain being started or ended without the manager's lock: its id,
/// name and UUID stay taken until it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// Its name.
    pub name: String,
    /// Its UUID.
    pub uuid: String,
    /// Its memory (MiB) and vcpus, for `xm list`.
    pub memory_mib: u64,
    /// Its vcpus.
    pub vcpus: u32,
    /// Being ended (Xen's dying, `d`), not started.
    pub ending: bool,
}

impl Busy {
    fn of(c: &DomainConfig, uuid: &str, ending: bool) -> Busy {
        Busy {
            name: c.name.clone(),
            uuid: uuid.to_string(),
            memory_mib: c.memory_mib,
            vcpus: c.vcpus,
            ending,
        }
    }
}

/// Every domain.
#[derive(Debug)]
pub struct Manager {
    /// The settings.
    pub s: Settings,
    /// By domid.
    pub domains: BTreeMap<u32, Domain>,
    /// Domains starting or ending, by domid (not in `domains`).
    pub busy: BTreeMap<u32, Busy>,
    /// Where VNC listeners may be opened (`xend --vnc-listen`); a config
    /// asking for another address is refused when it is reserved.
    pub vnc_listen: VncListen,
    /// What is hot-plugged into running domains, by domid (a domain
    /// with nothing attached may have no entry).
    pub hot: BTreeMap<u32, hotplug::Hot>,
}

/// What [`Manager::tick`] found to do, done without the lock by its
/// caller ([`end`], then [`Manager::release`]): a domain taken out to be
/// ended, and for `on_* = restart`, created again from its config.
#[derive(Debug)]
pub struct Ending {
    /// The domain, out of [`Manager::domains`] and marked busy.
    pub domain: Domain,
    /// `Some((source, config text))` to start it again after.
    pub restart: Option<(String, String)>,
}

impl Manager {
    /// A manager with no domains.
    pub fn new(s: Settings) -> Manager {
        Manager {
            s,
            domains: BTreeMap::new(),
            busy: BTreeMap::new(),
            vnc_listen: VncListen::Loopback,
            hot: BTreeMap::new(),
        }
    }

    /// The domain `which` names (a name or a domid).
    pub fn find(&self, which: &str) -> Result<u32, DomainError> {
        if let Ok(id) = which.parse::<u32>()
            && self.domains.contains_key(&id)
        {
            return Ok(id);
        }
        self.domains
            .values()
            .find(|d| d.config.name == which)
            .map(|d| d.domid)
            .ok_or_else(|| DomainError::NoDomain(which.to_string()))
    }

    fn uid_of(&self, domid: u32) -> Result<u32, DomainError> {
        if !self.s.dm_range {
            return privlib::procfs::read_cred(Path::new("/proc"), "self")
                .map(|c| c.uid[1])
                .map_err(DomainError::Proc);
        }
        self.s
            .dm_uid_base
            .checked_add(domid)
            .filter(|u| *u != 0)
            .ok_or(DomainError::UidOverflow)
    }

    /// Checks a config and takes a domid, name and UUID for it (they stay
    /// taken until [`Manager::finish`]). Quick: nothing is opened or
    /// started.
    pub fn reserve(&mut self, source: &str, text: &str) -> Result<Reservation, DomainError> {
        self.reserve_as(source, text, None)
    }

    /// [`Manager::reserve`] for a domain arriving from another host
    /// (relocation): it keeps `uuid`, its device model is started to
    /// receive the other host's state (`-incoming defer`, paused), and it
    /// is registered in the store only once that state is loaded.
    pub fn reserve_incoming(
        &mut self,
        source: &str,
        text: &str,
        uuid: &str,
    ) -> Result<Reservation, DomainError> {
        if !crate::uuid::is_valid(uuid) {
            return Err(DomainError::BadUuid(uuid.to_string()));
        }
        self.reserve_as(source, text, Some(uuid))
    }

    fn reserve_as(
        &mut self,
        source: &str,
        text: &str,
        incoming: Option<&str>,
    ) -> Result<Reservation, DomainError> {
        let mut cfg = config::parse(Path::new(source), text)?;
        if let Some(u) = incoming {
            cfg.uuid = Some(u.to_string());
        }
        if self.domains.values().any(|d| d.config.name == cfg.name)
            || self.busy.values().any(|b| b.name == cfg.name)
        {
            return Err(DomainError::NameTaken(cfg.name));
        }
        if let Some(u) = &cfg.uuid
            && (self.domains.values().any(|d| d.uuid == *u)
                || self.busy.values().any(|b| b.uuid == *u))
        {
            return Err(DomainError::UuidTaken(u.clone()));
        }
        // The lowest free id whose device-model uid runs nothing: an old
        // qemu still alive under that uid must never share it with a new
        // domain (it could trace the new one).
        let domid = (1..self.s.dm_uid_count)
            .find(|i| {
                !self.domains.contains_key(i)
                    && !self.busy.contains_key(i)
                    && (!self.s.dm_range
                        || self.uid_of(*i).is_ok_and(|u| processes_of(u).is_empty()))
            })
            .ok_or(DomainError::NoFreeId)?;
        // VNC beyond loopback only when the administrator chose it.
        let vnc_refused = |source| RunError::Vnc { domid, source };
        if let Some(at) = vnc::listen_addr(&cfg, domid).map_err(vnc_refused)? {
            vnc::allowed(&at, self.vnc_listen).map_err(vnc_refused)?;
        }
        let uid = self.uid_of(domid)?;
        let gid = if self.s.dm_range {
            uid
        } else {
            privlib::procfs::read_cred(Path::new("/proc"), "self")
                .map_err(DomainError::Proc)?
                .gid[1]
        };
        let uuid = match &cfg.uuid {
            Some(u) => u.clone(),
            None => crate::uuid::random().map_err(StateError::from)?,
        };
        self.busy.insert(domid, Busy::of(&cfg, &uuid, false));
        Ok(Reservation {
            domid,
            uid,
            gid,
            cfg,
            uuid,
            source: source.to_string(),
            text: text.to_string(),
            incoming: incoming.is_some(),
        })
    }

    /// Records a domain [`launch`] started (or gives its reservation up
    /// when it did not start).
    pub fn finish(
        &mut self,
        r: Reservation,
        started: Result<Domain, LaunchError>,
    ) -> Result<DomainInfo, DomainError> {
        self.busy.remove(&r.domid);
        let d = started?;
        let info = info(&d);
        tracing::info!(domid = d.domid, name = %d.config.name, uid = d.uid, "domain started");
        self.domains.insert(d.domid, d);
        Ok(info)
    }

    /// Every domain, as `xm list` shows them: domain 0, the running ones,
    /// the starting and ending ones, then managed domains not running (no
    /// id). `managed` is read by [`managed_configs`], without the lock:
    /// they are files. Domain-0 is the host: its memory and CPUs.
    pub fn list_with(&self, managed: Vec<(String, DomainConfig)>) -> Vec<DomainInfo> {
        let (memory, vcpus) = host_size();
        let row = |name: &str, domid, memory, vcpus: u32, state| DomainInfo {
            name: name.to_string(),
            domid,
            uuid: None,
            memory,
            vcpus: u64::from(vcpus),
            state,
            time: 0.0,
            pid: None,
            serial: None,
            managed: false,
            autostart: false,
        };
        let mut v = vec![DomainInfo {
            vcpus,
            ..row("Domain-0", Some(0), memory, 0, DomainState::Running)
        }];
        v.extend(self.domains.values().map(info));
        // Starting, or ending (Xen's dying): listed with their id until done.
        v.extend(self.busy.iter().map(|(id, b)| {
            let state = if b.ending {
                DomainState::Dying
            } else {
                DomainState::None
            };
            DomainInfo {
                uuid: Some(b.uuid.clone()),
                ..row(&b.name, Some(*id), b.memory_mib, b.vcpus, state)
            }
        }));
        for (name, cfg) in managed {
            if !self.domains.values().any(|d| d.config.name == name)
                && !self.busy.values().any(|b| b.name == name)
            {
                v.push(row(
                    &name,
                    None,
                    cfg.memory_mib,
                    cfg.vcpus,
                    DomainState::None,
                ));
            }
        }
        v
    }

    /// One domain's details.
    pub fn info(&self, which: &str) -> Result<DomainInfo, DomainError> {
        let id = self.find(which)?;
        Ok(info(&self.domains[&id]))
    }

    /// Takes a domain out to be ended: it leaves [`Manager::domains`] and
    /// its id, name and UUID stay taken until [`Manager::release`].
    pub fn take(&mut self, which: &str) -> Result<Domain, DomainError> {
        let id = self.find(which)?;
        let d = self
            .domains
            .remove(&id)
            .ok_or_else(|| DomainError::NoDomain(which.to_string()))?;
        self.busy.insert(id, Busy::of(&d.config, &d.uuid, true));
        // What was hot-plugged ends with its qemu.
        self.hot.remove(&id);
        Ok(d)
    }

    /// Frees the id, name and UUID of a domain [`end`] has ended.
    pub fn release(&mut self, domid: u32) {
        self.busy.remove(&domid);
    }

    /// The domain `which` names, as (domid, UUID, QMP socket), for a
    /// command sent without the lock ([`qmp_command`]).
    pub fn qmp_of(&self, which: &str) -> Result<(u32, String, PathBuf), DomainError> {
        let id = self.find(which)?;
        let d = &self.domains[&id];
        Ok((id, d.uuid.clone(), d.dir.join("qmp")))
    }

    /// Records a domain's new state after a QMP command, if the same
    /// domain still runs under that id (the UUID tells a domain that
    /// ended meanwhile, and a new one given the same lowest free id).
    pub fn set_state(&mut self, id: u32, uuid: &str, state: DState) {
        if let Some(d) = self.domains.get_mut(&id)
            && d.uuid == uuid
        {
            d.state = state;
        }
    }

    /// What `reboot` starts again: the config text and its name.
    pub fn config_of(&self, which: &str) -> Result<(String, String), DomainError> {
        let id = self.find(which)?;
        let c = &self.domains[&id].config;
        Ok((c.name.clone(), c.to_text()))
    }

    /// The VNC listeners to watch: (domid, fd).
    pub fn vnc_listeners(&self) -> Vec<(u32, i32)> {
        self.domains
            .values()
            .filter_map(|d| d.vnc.as_ref().map(|l| (d.domid, l.as_raw_fd())))
            .collect()
    }

    /// Accepts a waiting VNC client of domain `id` (the listener does not
    /// block), with the QMP socket to hand it to ([`vnc_hand_over`]).
    pub fn vnc_take(&mut self, id: u32) -> Option<(std::os::unix::net::UnixStream, PathBuf)> {
        let d = self.domains.get(&id)?;
        let (client, _) = d.vnc.as_ref()?.accept().ok()?;
        Some((client, d.dir.join("qmp")))
    }

    /// The VNC TCP listeners to watch: (domid, fd).
    pub fn vnc_gates(&self) -> Vec<(u32, i32)> {
        self.domains
            .values()
            .filter_map(|d| d.vnc_tcp.as_ref().map(|l| (d.domid, l.as_raw_fd())))
            .collect()
    }

    /// Accepts a waiting TCP client of domain `id`'s VNC listener (which
    /// does not block), with the listener's address and the QMP socket to
    /// hand it to once admitted ([`vnc::admit`]). `None` when nobody
    /// waits, or the domain is gone or crashed (its qemu ended: a waiting
    /// client is closed).
    pub fn vnc_gate_take(
        &mut self,
        id: u32,
    ) -> Option<(std::net::TcpStream, std::net::SocketAddr, PathBuf)> {
        let d = self.domains.get(&id)?;
        let l = d.vnc_tcp.as_ref()?;
        let (client, _) = l.accept().ok()?;
        if d.state == DState::Crashed {
            return None;
        }
        Some((client, l.local_addr().ok()?, d.dir.join("qmp")))
    }

    /// The pidfds to watch.
    pub fn pidfds(&self) -> Vec<i32> {
        self.domains
            .values()
            .filter_map(|d| d.child.as_ref().map(|c| c.pidfd().as_raw_fd()))
            .collect()
    }
}

/// A domain as the API shows it.
fn info(d: &Domain) -> DomainInfo {
    DomainInfo {
        name: d.config.name.clone(),
        domid: Some(d.domid),
        uuid: Some(d.uuid.clone()),
        memory: d.config.memory_mib,
        vcpus: u64::from(d.config.vcpus),
        state: d.state.shown(),
        time: d.started.elapsed().map_or(0.0, |t| t.as_secs_f64()),
        pid: d.child.as_ref().map(privlib::Child::pid),
        serial: Some(d.dir.join("serial")),
        managed: false,
        autostart: false,
    }
}
