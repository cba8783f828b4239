//! The domains xend runs: create, list, shutdown, destroy, pause; each
//! domain's device model, its xenstore entries, and what happens when its
//! qemu ends.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::config::{self, Action, DomainConfig};
use crate::dm::kill::{kill_uid, proc_identity, processes_of};
use crate::dm::log::{QEMU_LOG_TAIL, log_tail};
use crate::error::DomainError;
pub use crate::launch::{end, launch};
use crate::launch::unregister;
use crate::qmp::Qmp;

/// How xend runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// System mode (xend as xvm).
    pub system: bool,
    /// Device models run under their own uids from the range: always in
    /// system mode, and in session mode when started by root (a device
    /// model never runs as root). Otherwise they run as the user.
    pub dm_range: bool,
    /// `<run>/xend`.
    pub run: PathBuf,
    /// Directories disk images must be beneath.
    pub image_dirs: Vec<PathBuf>,
    /// Domain N's device model runs as `dm_uid_base + N` (system mode).
    pub dm_uid_base: u32,
    /// How many domids there are.
    pub dm_uid_count: u32,
    /// Use KVM.
    pub kvm: bool,
    /// The kvm group device models get (system mode), when KVM is used.
    pub kvm_gid: Option<u32>,
    /// xenstored's socket.
    pub xenstore: PathBuf,
    /// The qemu binary.
    pub qemu: PathBuf,
    /// How long a shutdown may take before the domain is destroyed.
    pub shutdown_timeout: Duration,
    /// Managed domains' configs (`/var/lib/xend/domains`).
    pub managed: PathBuf,
}

/// A domain's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DState {
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Asked to power off; destroyed at the deadline.
    ShuttingDown(Instant),
    /// Its qemu ended unasked, and on_crash is preserve.
    Crashed,
}

impl DState {
    fn letter(self) -> &'static str {
        match self {
            DState::Running => "r-----",
            DState::Paused => "--p---",
            DState::ShuttingDown(_) => "---s--",
            DState::Crashed => "----c-",
        }
    }
}

/// One domain.
#[derive(Debug)]
pub struct Domain {
    /// Its id.
    pub domid: u32,
    /// Its config.
    pub config: DomainConfig,
    /// Its UUID.
    pub uuid: String,
    /// Its state.
    pub state: DState,
    /// Its device model.
    pub child: Option<privlib::Child>,
    /// When it started.
    pub started: SystemTime,
    /// `<run>/xend/domains/N`.
    pub dir: PathBuf,
    /// The uid its device model runs as.
    pub uid: u32,
    /// Its VNC socket (`<dir>/vnc`), when `vnc = 1`: xend's listener,
    /// each client handed to qemu.
    pub vnc: Option<UnixListener>,
}

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
}

/// A domain reserved by [`Manager::reserve`], to be started by
/// [`launch`] (no lock needed) and recorded by [`Manager::finish`].
#[derive(Debug)]
pub struct Reservation {
    /// Its id.
    pub domid: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) cfg: DomainConfig,
    pub(crate) uuid: String,
    pub(crate) source: String,
    pub(crate) text: String,
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

fn random_uuid() -> Result<String, String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    ))
}

impl Manager {
    /// A manager with no domains.
    pub fn new(s: Settings) -> Manager {
        Manager {
            s,
            domains: BTreeMap::new(),
            busy: BTreeMap::new(),
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
        let cfg = config::parse(Path::new(source), text)?;
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
            None => random_uuid().map_err(DomainError::State)?,
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
        })
    }

    /// Records a domain [`launch`] started (or gives its reservation up
    /// when it did not start).
    pub fn finish(
        &mut self,
        r: Reservation,
        started: Result<Domain, DomainError>,
    ) -> Result<Value, DomainError> {
        self.busy.remove(&r.domid);
        let d = started?;
        let info = info(&d);
        tracing::info!(domid = d.domid, name = %d.config.name, uid = d.uid, "domain started");
        self.domains.insert(d.domid, d);
        Ok(info)
    }

    /// Finds the domains a previous xend left running (each domain's
    /// `state.json`) and takes them over: the recorded qemu must still be
    /// the same process (pid, start time and uid, checked through a
    /// pidfd). A domain whose qemu is gone is cleaned up.
    pub fn adopt_all(&mut self) {
        let dir = self.s.run.join("domains");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let path = e.path().join("state.json");
            // The directory name is the domid; nothing in state.json is
            // believed that can be worked out from what xend knows.
            let Some(domid) = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|d| *d >= 1 && *d < self.s.dm_uid_count)
            else {
                tracing::warn!(dir = %e.path().display(), "not a domain directory; left alone");
                continue;
            };
            match self.adopt(domid, &path) {
                Ok(Some(id)) => tracing::info!(domid = id, "domain adopted"),
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!(state = %path.display(), "not adopted: {why}; cleaning up");
                    // Whatever still runs under that domain's uid goes.
                    if self.s.dm_range
                        && let Ok(uid) = self.uid_of(domid)
                    {
                        kill_uid(uid, domid);
                    }
                    if let Ok(st) = read_state(&path)
                        && let Ok(cfg) = config::parse(Path::new(&st.source), &st.config)
                        && valid_uuid(&st.uuid)
                    {
                        let d = Domain {
                            domid,
                            config: cfg,
                            uuid: st.uuid,
                            state: DState::Crashed,
                            child: None,
                            started: SystemTime::now(),
                            dir: e.path(),
                            uid: self.uid_of(domid).unwrap_or(u32::MAX),
                            vnc: None,
                        };
                        unregister(&self.s, &d);
                    }
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }

    fn adopt(&mut self, domid: u32, path: &Path) -> Result<Option<u32>, String> {
        if !path.exists() {
            return Err("no state.json (xend died while starting it)".into());
        }
        let st = read_state(path)?;
        let want_uid = self.uid_of(domid).map_err(|e| e.to_string())?;
        if st.domid != domid || st.uid != want_uid || want_uid == 0 || !valid_uuid(&st.uuid) {
            return Err(format!(
                "state.json does not match domain {domid} (uid {want_uid}); refused"
            ));
        }
        if self.domains.contains_key(&domid) {
            return Err(format!("domain {domid} is already known"));
        }
        let cfg = config::parse(Path::new(&st.source), &st.config).map_err(|e| e.to_string())?;
        let child = privlib::Child::adopt(st.pid).map_err(|e| format!("pid {}: {e}", st.pid))?;
        // The pidfd pins the process: now its identity can be checked.
        let (start, uid) = proc_identity(st.pid).map_err(|e| e.to_string())?;
        if start != st.start_time || uid != st.uid {
            return Err(format!("pid {} is another process now", st.pid));
        }
        let d = Domain {
            domid,
            config: cfg,
            uuid: st.uuid,
            state: DState::Running,
            child: Some(child),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(st.started),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            uid: st.uid,
            vnc: None,
        };
        let mut d = d;
        if d.config.vnc {
            // The old xend's listener died with it: a new one, same place.
            let p = d.dir.join("vnc");
            let _ = std::fs::remove_file(&p);
            let l = UnixListener::bind(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            d.vnc = Some(l);
        }
        self.domains.insert(domid, d);
        Ok(Some(domid))
    }

    /// Every domain, as `xm list` shows them: domain 0, the running ones,
    /// the starting and ending ones, then managed domains not running (no
    /// id). `managed` is read by [`managed_configs`], without the lock:
    /// they are files.
    pub fn list_with(&self, managed: Vec<(String, DomainConfig)>) -> Value {
        let (mem_mib, cpus) = host_size();
        let mut v = vec![
            json!({"name": "Domain-0", "domid": 0, "memory": mem_mib, "vcpus": cpus, "state": "r-----", "time": 0.0}),
        ];
        v.extend(self.domains.values().map(info));
        // Starting, or ending (Xen's dying): listed with their id until done.
        v.extend(self.busy.iter().map(|(id, b)| {
            json!({"name": b.name, "domid": id, "uuid": b.uuid, "memory": b.memory_mib, "vcpus": b.vcpus,
                   "state": if b.ending { "-----d" } else { "------" }, "time": 0.0})
        }));
        for (name, cfg) in managed {
            if !self.domains.values().any(|d| d.config.name == name)
                && !self.busy.values().any(|b| b.name == name)
            {
                v.push(json!({"name": name, "domid": null, "memory": cfg.memory_mib, "vcpus": cfg.vcpus, "state": "------", "time": 0.0}));
            }
        }
        Value::Array(v)
    }

    /// `delete`: forgets a managed domain that is not running.
    pub fn delete_managed(&mut self, name: &str) -> Result<Value, DomainError> {
        if self.domains.values().any(|d| d.config.name == name)
            || self.busy.values().any(|b| b.name == name)
        {
            return Err(DomainError::Running(name.to_string()));
        }
        let path = managed_path(&self.s, name)?;
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DomainError::NoManaged(name.to_string()),
            _ => DomainError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        Ok(json!({"name": name}))
    }

    /// One domain's details.
    pub fn info(&self, which: &str) -> Result<Value, DomainError> {
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

    /// The pidfds to watch.
    pub fn pidfds(&self) -> Vec<i32> {
        self.domains
            .values()
            .filter_map(|d| d.child.as_ref().map(|c| c.pidfd().as_raw_fd()))
            .collect()
    }

    /// Finds device models that ended and shutdowns past their deadline.
    /// Each such domain is taken out ([`Manager::take`]) and returned, to
    /// be ended (and restarted, for `on_* = restart`) without the lock.
    pub fn tick(&mut self) -> Vec<Ending> {
        let now = Instant::now();
        let ids: Vec<u32> = self.domains.keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            let Some(d) = self.domains.get_mut(&id) else {
                continue;
            };
            if let DState::ShuttingDown(deadline) = d.state
                && now >= deadline
            {
                tracing::warn!(domid = id, "shutdown took too long: destroying");
                out.extend(self.take(&id.to_string()).ok().map(|domain| Ending {
                    domain,
                    restart: None,
                }));
                continue;
            }
            let ended = d.child.as_ref().is_some_and(|c| {
                let mut fds = [privlib::os::poll::pollfd(
                    c.pidfd().as_raw_fd(),
                    privlib::os::poll::POLLIN,
                )];
                privlib::os::poll::poll(&mut fds, 0).is_ok_and(|n| n > 0)
            });
            if !ended {
                continue;
            }
            let status = d.child.as_mut().map(privlib::Child::wait);
            d.child = None;
            // qemu exits 0 when the guest powers off; anything else (a
            // signal, an error, an adopted qemu whose status we cannot
            // see) is a crash.
            let clean = matches!(&status, Some(Ok(st)) if st.success());
            let action = if clean {
                d.config.on_poweroff
            } else {
                d.config.on_crash
            };
            let tail = log_tail(&d.dir.join("qemu.log"), QEMU_LOG_TAIL);
            tracing::warn!(domid = id, ?status, action = action.name(), qemu_log = %tail.trim(), "device model ended");
            let restart = match action {
                Action::Preserve => {
                    d.state = DState::Crashed;
                    continue;
                }
                Action::Destroy => None,
                Action::Restart => Some((d.config.name.clone(), d.config.to_text())),
            };
            out.extend(
                self.take(&id.to_string())
                    .ok()
                    .map(|domain| Ending { domain, restart }),
            );
        }
        out
    }
}

/// What survives xend: enough to find and adopt a running domain.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedState {
    domid: u32,
    uuid: String,
    source: String,
    config: String,
    pid: i32,
    uid: u32,
    start_time: u64,
    started: u64,
}

pub(crate) fn save_state(d: &Domain, uid: u32, source: &str, text: &str) -> Result<(), String> {
    let pid = d.child.as_ref().map_or(0, privlib::Child::pid);
    let (start_time, _) = proc_identity(pid).map_err(|e| e.to_string())?;
    let st = SavedState {
        domid: d.domid,
        uuid: d.uuid.clone(),
        source: source.to_string(),
        config: text.to_string(),
        pid,
        uid,
        start_time,
        started: d
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs()),
    };
    let body = serde_json::to_vec(&st).map_err(|e| e.to_string())?;
    let path = d.dir.join("state.json");
    let tmp = d.dir.join("state.json.new");
    replace_file(&tmp, &path, &body).map_err(|e| format!("{}: {e}", path.display()))
}

/// Replaces `path` by `bytes` atomically: written to `tmp` (mode 0600:
/// configs and saved state are for xvm alone), synced, renamed over
/// `path`, the directory synced.
fn replace_file(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn read_state(path: &Path) -> Result<SavedState, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > 2 * crate::config::MAX_FILE as u64 {
        return Err("state file too large".into());
    }
    let body = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("{}: {e}", path.display()))
}

/// Managed domains xend keeps at most: each is a file read by every
/// `xm list`, and any `virt_manage` user may store them.
pub const MAX_MANAGED: usize = 256;

/// The host's memory (MiB) and CPU count, for Domain-0's row as Xen
/// shows it.
fn host_size() -> (u64, usize) {
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (mem_kib / 1024, cpus)
}

fn managed_path(s: &Settings, name: &str) -> Result<PathBuf, DomainError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(DomainError::NoManaged(name.to_string()));
    }
    Ok(s.managed.join(format!("{name}.cfg")))
}

/// The managed domains' configs, by name (unreadable ones skipped with a
/// log line; at most [`MAX_MANAGED`]). Reads files: call it without the
/// manager's lock.
pub fn managed_configs(s: &Settings) -> Vec<(String, DomainConfig)> {
    let Ok(entries) = std::fs::read_dir(&s.managed) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "cfg") {
            continue;
        }
        if out.len() >= MAX_MANAGED {
            tracing::warn!(dir = %s.managed.display(), "more than {MAX_MANAGED} managed domains; the rest not listed");
            break;
        }
        match config::load(&p) {
            Ok(c) => out.push((c.name.clone(), c)),
            Err(err) => tracing::warn!("managed domain: {err}"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `new`: stores a domain's config (replaced atomically; at most
/// [`MAX_MANAGED`] of them), starts nothing. No lock needed.
pub fn store_managed(s: &Settings, source: &str, text: &str) -> Result<Value, DomainError> {
    let cfg = config::parse(Path::new(source), text)?;
    let path = managed_path(s, &cfg.name)?;
    if !path.exists() {
        let stored = std::fs::read_dir(&s.managed).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "cfg"))
                .count()
        });
        if stored >= MAX_MANAGED {
            return Err(DomainError::ManagedFull);
        }
    }
    let tmp = s.managed.join(format!(".{}.cfg.new", cfg.name));
    std::fs::create_dir_all(&s.managed)
        .and_then(|()| replace_file(&tmp, &path, text.as_bytes()))
        .map_err(DomainError::io(&path))?;
    Ok(json!({"name": cfg.name}))
}

/// A managed domain's config: its path (as the source) and text (at most
/// [`config::MAX_FILE`] bytes). No lock needed.
pub fn managed_config(s: &Settings, name: &str) -> Result<(String, String), DomainError> {
    let path = managed_path(s, name)?;
    let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DomainError::NoManaged(name.to_string()),
        _ => DomainError::Io {
            path: path.clone(),
            source: e,
        },
    })?;
    if meta.len() > u64::try_from(config::MAX_FILE).unwrap_or(u64::MAX) {
        return Err(DomainError::TooLarge {
            path,
            max: config::MAX_FILE,
        });
    }
    let text = std::fs::read_to_string(&path).map_err(DomainError::io(&path))?;
    Ok((path.display().to_string(), text))
}

/// Sends one QMP command to the socket at `qmp` (bounded by QMP's
/// deadline; no lock needed).
pub fn qmp_command(qmp: &Path, command: &str) -> Result<(), DomainError> {
    Qmp::connect(qmp)
        .and_then(|mut q| q.execute(command))
        .map(drop)
        .map_err(DomainError::Qmp)
}

/// Hands a VNC client to domain `id`'s qemu over its QMP socket.
pub fn vnc_hand_over(id: u32, client: &std::os::unix::net::UnixStream, qmp: &Path) {
    let r = Qmp::connect(qmp).and_then(|mut q| q.add_client("vnc", client.as_fd()));
    if let Err(e) = r {
        tracing::warn!(domid = id, "VNC client not handed over: {e}");
    }
}

fn valid_uuid(u: &str) -> bool {
    let hex: String = u.chars().filter(|ch| *ch != '-').collect();
    u.len() == 36 && hex.len() == 32 && hex.chars().all(|ch| ch.is_ascii_hexdigit())
}

fn info(d: &Domain) -> Value {
    let time = d.started.elapsed().map_or(0.0, |t| t.as_secs_f64());
    json!({
        "name": d.config.name,
        "domid": d.domid,
        "uuid": d.uuid,
        "memory": d.config.memory_mib,
        "vcpus": d.config.vcpus,
        "state": d.state.letter(),
        "time": time,
        "pid": d.child.as_ref().map(privlib::Child::pid),
        "serial": d.dir.join("serial"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> Settings {
        Settings {
            system: false,
            dm_range: false,
            run: dir.join("run"),
            image_dirs: Vec::new(),
            dm_uid_base: 200_000,
            dm_uid_count: 1000,
            kvm: false,
            kvm_gid: None,
            xenstore: dir.join("no-xenstored"),
            qemu: PathBuf::from("/nonexistent/qemu"),
            shutdown_timeout: Duration::from_secs(1),
            managed: dir.join("domains"),
        }
    }

    fn cfg(name: &str) -> String {
        format!("name = \"{name}\"\ntype = \"hvm\"\nmemory = 32\n")
    }

    #[test]
    fn managed_domains_are_bounded_and_listed_with_the_hosts_size() {
        let dir = std::env::temp_dir().join(format!("xend-managed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = settings(&dir);
        for i in 0..MAX_MANAGED {
            store_managed(&s, "t.cfg", &cfg(&format!("d{i}"))).expect("stored");
        }
        let e = store_managed(&s, "t.cfg", &cfg("one-too-many")).expect_err("bounded");
        assert!(matches!(e, DomainError::ManagedFull), "{e}");
        assert!(e.to_string().contains("managed domains are stored already"));
        // Replacing one that exists is no new one.
        store_managed(&s, "t.cfg", &cfg("d0")).expect("replaced");
        let mode = std::fs::metadata(s.managed.join("d0.cfg")).expect("stat");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let m = Manager::new(s.clone());
        let list = m.list_with(managed_configs(&s));
        let rows = list.as_array().expect("rows");
        assert_eq!(rows.len(), 1 + MAX_MANAGED);
        assert!(
            rows[0]["memory"].as_u64().is_some_and(|m| m > 0),
            "{}",
            rows[0]
        );
        assert!(rows[0]["vcpus"].as_u64().is_some_and(|c| c > 0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
