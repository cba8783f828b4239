//! Relocation, xend's half: `xm migrate` queues a job, the relocation
//! server (`xvm-relocd`, a client of this socket with `xvm_control`)
//! takes it, and xend hands it the device model's migration stream;
//! on the other host xend starts the arriving domain and hands that
//! server the stream to feed it.
//!
//! # Why xend holds no network
//! xend keeps no relocation socket, local or TCP: the server that faces
//! the network is its own least-privileged process, and xend gives it
//! only one end of a socket pair per migration, whose other end qemu
//! got over QMP (`getfd`, then `migrate`/`migrate-incoming` on
//! `fd:relocation`). xend needs no privilege for any of it (the
//! `relocation` feature declares none).
//!
//! # A migration, from the source's side
//! 1. `domain.migrate` (xm): checked (the feature, the domain runs,
//!    nothing hot-plugged, no other job for it), queued, and the caller
//!    waits for the job's end.
//! 2. `relocation.wait` (relocd) takes it within [`TAKE_WITHIN`], else
//!    the job fails: nothing was touched.
//! 3. `relocation.send`: the stream starts (paused first unless live)
//!    and its fd goes to relocd.
//! 4. `relocation.done` with the destination's domid: once this qemu
//!    says the migration `completed`, the domain is ended here (store
//!    entries gone, its qemu quit). With an error: the migration is
//!    cancelled and a domain that ran runs again, unchanged.
//!
//! While a job streams, the waiting caller asks qemu how it goes every
//! [`POLL`]: a stream qemu gave up (`failed`, `cancelled`: relocd died,
//! the peer went away) ends the job as failed at once, the domain
//! resumed; one `completed` without `relocation.done` within
//! [`CONFIRM_WITHIN`] is left paused here, as nobody can say whether the
//! destination runs it (the error says so).
//!
//! # From the destination's side
//! `relocation.incoming` reserves and starts the domain (its own domid
//! and device-model uid, its disks opened by this xend, its own taps)
//! with `-S -incoming defer`, not yet in the store, and hands relocd the
//! stream's fd; `relocation.incoming-done` waits for qemu to load the
//! state, then registers the domain in the store and resumes it, or
//! ends it when the stream failed.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{
    DomainInfo, DoneAck, DoneParams, ErrorKind, Incoming, IncomingDoneParams, IncomingParams, Job,
    MAX_WAIT_SECS, MigrateParams, Migrated, RpcError, Streaming,
};
use crate::domain::DState;
use crate::features::Feature;
use crate::manager;
use crate::qmp::Qmp;
use crate::server::Xend;

/// Migrations queued or under way at once.
pub const MAX_JOBS: usize = 16;
/// How long a queued job waits for the relocation server.
pub const TAKE_WITHIN: Duration = Duration::from_secs(30);
/// How long a taken job may wait for its stream (`relocation.send`).
pub const SEND_WITHIN: Duration = Duration::from_secs(60);
/// How long a stream qemu finished waits for `relocation.done`.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(120);
/// The longest a whole migration may take.
pub const MIGRATE_WITHIN: Duration = Duration::from_secs(3600);
/// How often a waiting `domain.migrate` asks qemu how the stream goes.
pub const POLL: Duration = Duration::from_secs(1);
/// How long an arriving domain's qemu may take to load the state once
/// the whole stream was written into it.
pub const LOAD_WITHIN: Duration = Duration::from_secs(120);
/// The name qemu is given the stream's fd under.
pub const FD_NAME: &str = "relocation";
/// A destination as `xm migrate` names it: at most this long.
pub const MAX_HOST: usize = 255;

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Queued(Instant),
    Taken(Instant),
    Streaming {
        qmp: PathBuf,
    },
    /// The destination's domid and qemu's figures, or why it failed.
    Done(Result<Arrived, String>),
}

/// A migration that went: the destination's domid, and what the source
/// qemu measured (`query-migrate` once it completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arrived {
    remote: u32,
    total_ms: Option<u64>,
    downtime_ms: Option<u64>,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    resource: Option<u64>,
    stage: Stage,
}

#[derive(Debug, Default)]
struct Jobs {
    next: u64,
    queue: VecDeque<u64>,
    all: BTreeMap<u64, Entry>,
    /// Domains arriving (domid, UUID): started, not yet loaded.
    arriving: Vec<(u32, String)>,
}

/// The relocation jobs of this xend.
#[derive(Debug, Default)]
pub struct Relocations {
    jobs: Mutex<Jobs>,
    changed: Condvar,
}

impl Relocations {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_for<'a>(&self, g: MutexGuard<'a, Jobs>, d: Duration) -> MutexGuard<'a, Jobs> {
        self.changed
            .wait_timeout(g, d)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0)
    }
}

fn refused(kind: ErrorKind, msg: impl Into<String>) -> RpcError {
    RpcError::failed(kind, msg)
}

fn domain_err(e: crate::error::DomainError) -> RpcError {
    RpcError::failed(e.kind(), e.to_string())
}

fn qmp_err(what: &str, e: crate::qmp::QmpError) -> RpcError {
    refused(ErrorKind::Failed, format!("{what}: {e}"))
}

/// A destination as `xm migrate` may name it: a host name, an IPv4
/// address or a bracketed IPv6 one, with an optional `:PORT`.
pub fn check_host(host: &str) -> Result<(), RpcError> {
    let ok = !host.is_empty()
        && host.len() <= MAX_HOST
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        && !host.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(refused(
            ErrorKind::BadConfig,
            format!("{host:?} is no host: a name or address, with :PORT when not the relocation port"),
        ))
    }
}

/// qemu's `query-migrate` status (`none` before any migration).
fn migration_status(qmp: &Path) -> Result<String, crate::qmp::QmpError> {
    let v = Qmp::connect(qmp)?.execute("query-migrate")?;
    Ok(v.get("status")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_string())
}

/// What qemu measured of a completed migration: (total, downtime), ms.
fn migration_figures(qmp: &Path) -> (Option<u64>, Option<u64>) {
    match Qmp::connect(qmp).and_then(|mut q| q.execute("query-migrate")) {
        Ok(v) => (
            v.get("total-time").and_then(Value::as_u64),
            v.get("downtime").and_then(Value::as_u64),
        ),
        Err(_) => (None, None),
    }
}

/// Whether qemu runs the guest (`query-status`).
fn guest_runs(qmp: &Path) -> Result<bool, crate::qmp::QmpError> {
    let v = Qmp::connect(qmp)?.execute("query-status")?;
    Ok(v.get("running").and_then(Value::as_bool) == Some(true))
}

/// A stream qemu is no longer writing, for good.
fn gave_up(status: &str) -> bool {
    matches!(status, "failed" | "cancelled")
}

impl Xend {
    fn relocation_on(&self, what: &str) -> Result<(), RpcError> {
        self.settings()
            .features
            .require(Feature::Relocation, what)
            .map_err(|e| refused(ErrorKind::Disabled, e.to_string()))
    }

    /// `domain.migrate`: queues the job and waits for its end (see the
    /// module's text).
    pub fn migrate(&self, p: &MigrateParams) -> Result<Migrated, RpcError> {
        self.relocation_on("xm migrate")?;
        check_host(&p.host)?;
        let job_id = {
            let m = self.lock();
            let id = m.find(&p.domain).map_err(domain_err)?;
            let d = &m.domains[&id];
            match d.state {
                DState::Running | DState::Paused => {}
                DState::ShuttingDown(_) | DState::Crashed => {
                    return Err(refused(
                        ErrorKind::Busy,
                        format!("{} is shutting down or crashed: not migrated", d.config.name),
                    ));
                }
            }
            if m
                .hot
                .get(&id)
                .is_some_and(|h| !h.attached.disks.is_empty() || !h.attached.nics.is_empty())
            {
                return Err(refused(
                    ErrorKind::Busy,
                    format!(
                        "{} has hot-plugged devices: detach them first (the destination starts it from its config)",
                        d.config.name
                    ),
                ));
            }
            let mut jobs = self.relocations.lock();
            if jobs.arriving.iter().any(|(a, _)| *a == id) {
                return Err(refused(ErrorKind::Busy, format!("{} is still arriving", d.config.name)));
            }
            if jobs
                .all
                .values()
                .any(|e| e.job.domid == id && !matches!(e.stage, Stage::Done(_)))
            {
                return Err(refused(
                    ErrorKind::Busy,
                    format!("{} is being migrated already", d.config.name),
                ));
            }
            if jobs.all.len() >= MAX_JOBS {
                return Err(refused(
                    ErrorKind::Limit,
                    format!("{MAX_JOBS} migrations are under way already"),
                ));
            }
            jobs.next += 1;
            let job = Job {
                job: jobs.next,
                name: d.config.name.clone(),
                domid: id,
                uuid: d.uuid.clone(),
                host: p.host.clone(),
                live: p.live,
                resume: d.state == DState::Running,
                source: format!("{}.cfg", d.config.name),
                config: d.config.to_text(),
            };
            let n = job.job;
            jobs.all.insert(
                n,
                Entry {
                    job,
                    resource: p.resource,
                    stage: Stage::Queued(Instant::now()),
                },
            );
            jobs.queue.push_back(n);
            self.relocations.changed.notify_all();
            tracing::info!(job = n, domid = id, host = %p.host, live = p.live, "migration queued");
            n
        };
        let end = self.wait_job(job_id);
        let entry = self.relocations.lock().all.remove(&job_id);
        let job = entry.map(|e| e.job);
        match (end, job) {
            (Ok(a), Some(job)) => Ok(Migrated {
                domid: job.domid,
                name: job.name,
                host: job.host,
                remote_domid: a.remote,
                total_ms: a.total_ms,
                downtime_ms: a.downtime_ms,
            }),
            (Ok(_), None) => Err(refused(ErrorKind::Failed, "the job vanished")),
            (Err(why), _) => Err(refused(ErrorKind::Migration, why)),
        }
    }

    /// Waits for job `n` to end, failing it when a step is late or its
    /// qemu gave the stream up.
    fn wait_job(&self, n: u64) -> Result<Arrived, String> {
        let started = Instant::now();
        let mut completed: Option<Instant> = None;
        let mut jobs = self.relocations.lock();
        loop {
            let Some(e) = jobs.all.get(&n) else {
                return Err("the job vanished".into());
            };
            let host = e.job.host.clone();
            let late = |since: Instant, within: Duration| since.elapsed() > within;
            match e.stage.clone() {
                Stage::Done(r) => return r,
                Stage::Queued(t) if late(t, TAKE_WITHIN) => {
                    jobs.queue.retain(|q| *q != n);
                    return Err(format!(
                        "no relocation server took the migration within {} s (is svc:/system/xvm/relocation online?); nothing was done",
                        TAKE_WITHIN.as_secs()
                    ));
                }
                Stage::Taken(t) if late(t, SEND_WITHIN) => {
                    return Err(format!(
                        "the relocation server did not start the stream within {} s (could it reach {host}?); nothing was done",
                        SEND_WITHIN.as_secs()
                    ));
                }
                Stage::Streaming { qmp, .. } => {
                    drop(jobs);
                    let status = migration_status(&qmp);
                    let streaming = |j: &Jobs| {
                        j.all
                            .get(&n)
                            .is_some_and(|e| matches!(e.stage, Stage::Streaming { .. }))
                    };
                    let verdict = match status.as_deref() {
                        Ok(s) if gave_up(s) => Some(format!("qemu's migration {s}")),
                        Ok(_) if started.elapsed() > MIGRATE_WITHIN => Some(format!(
                            "not done within {} s",
                            MIGRATE_WITHIN.as_secs()
                        )),
                        Ok("completed") => {
                            let at = *completed.get_or_insert_with(Instant::now);
                            if at.elapsed() > CONFIRM_WITHIN {
                                // Nobody can say whether the destination
                                // runs it: neither end resumes it.
                                let why = format!(
                                    "its state was all sent but {host} did not confirm within {} s: left paused here; check {host}, then xm unpause or xm destroy it here",
                                    CONFIRM_WITHIN.as_secs()
                                );
                                jobs = self.relocations.lock();
                                if streaming(&jobs) {
                                    if let Some(e) = jobs.all.get_mut(&n) {
                                        e.stage = Stage::Done(Err(why.clone()));
                                    }
                                    return Err(why);
                                }
                                continue;
                            }
                            None
                        }
                        Ok(_) => None,
                        Err(e) => Some(format!("its qemu went away while migrating: {e}")),
                    };
                    if let Some(why) = verdict
                        && streaming(&self.relocations.lock())
                    {
                        let r = self.abort(n, &why);
                        jobs = self.relocations.lock();
                        if streaming(&jobs) {
                            if let Some(e) = jobs.all.get_mut(&n) {
                                e.stage = Stage::Done(Err(r.clone()));
                            }
                            return Err(r);
                        }
                        continue;
                    }
                    jobs = self.relocations.lock();
                    if !streaming(&jobs) {
                        continue;
                    }
                }
                Stage::Queued(_) | Stage::Taken(_) => {}
            }
            jobs = self.relocations.wait_for(jobs, POLL);
        }
    }

    /// `relocation.wait`: the next queued job, waiting up to `seconds`
    /// (at most [`MAX_WAIT_SECS`]); `None` when none came, or once
    /// `waits` says the peer went away (its job would be lost).
    pub fn relocation_wait(
        &self,
        seconds: Option<u64>,
        waits: &dyn Fn() -> bool,
    ) -> Result<Option<Job>, RpcError> {
        self.relocation_on("the relocation server")?;
        let within = Duration::from_secs(seconds.unwrap_or(MAX_WAIT_SECS).min(MAX_WAIT_SECS));
        let t = Instant::now();
        let mut jobs = self.relocations.lock();
        loop {
            if !waits() {
                return Ok(None);
            }
            while let Some(n) = jobs.queue.pop_front() {
                if let Some(e) = jobs.all.get_mut(&n)
                    && matches!(e.stage, Stage::Queued(_))
                {
                    e.stage = Stage::Taken(Instant::now());
                    self.relocations.changed.notify_all();
                    return Ok(Some(e.job.clone()));
                }
            }
            let left = within.saturating_sub(t.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            jobs = self.relocations.wait_for(jobs, left.min(POLL));
        }
    }

    /// `relocation.send`: starts job `n`'s stream; the fd relocd reads
    /// it from.
    pub fn relocation_send(&self, n: u64) -> Result<(Streaming, OwnedFd), RpcError> {
        let (job, resource) = {
            let jobs = self.relocations.lock();
            match jobs.all.get(&n) {
                Some(e) if matches!(e.stage, Stage::Taken(_)) => (e.job.clone(), e.resource),
                Some(_) => return Err(refused(ErrorKind::Busy, format!("job {n} is not waiting for its stream"))),
                None => return Err(refused(ErrorKind::NoDomain, format!("no job {n}"))),
            }
        };
        let qmp = self.qmp_of_job(&job)?;
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| refused(ErrorKind::Failed, format!("a socket pair: {e}")))?;
        let started = (|| {
            let mut q = Qmp::connect(&qmp)?;
            if let Some(mbps) = resource {
                // Megabits per second to bytes per second.
                let bytes = mbps.saturating_mul(125_000).max(1);
                q.call("migrate-set-parameters", json!({"max-bandwidth": bytes}))?;
            }
            if !job.live && job.resume {
                q.execute("stop")?;
            }
            q.get_fd(FD_NAME, ours.as_fd())?;
            q.call("migrate", json!({"uri": format!("fd:{FD_NAME}")}))
        })();
        if let Err(e) = started {
            if !job.live && job.resume {
                let _ = manager::qmp_command(&qmp, "cont");
            }
            let why = format!("starting the migration: {e}");
            self.finish_job(n, Err(why.clone()));
            return Err(qmp_err("starting the migration", e));
        }
        if !job.live {
            self.lock().set_state(job.domid, &job.uuid, DState::Paused);
        }
        let mut jobs = self.relocations.lock();
        if let Some(e) = jobs.all.get_mut(&n) {
            e.stage = Stage::Streaming { qmp };
        }
        self.relocations.changed.notify_all();
        tracing::info!(job = n, domid = job.domid, host = %job.host, "migration streaming");
        Ok((Streaming { job: n, domid: job.domid }, theirs.into()))
    }

    fn qmp_of_job(&self, job: &Job) -> Result<PathBuf, RpcError> {
        let m = self.lock();
        match m.domains.get(&job.domid) {
            Some(d) if d.uuid == job.uuid => Ok(d.dir.join("qmp")),
            _ => Err(refused(
                ErrorKind::NoDomain,
                format!("domain {} is gone", job.name),
            )),
        }
    }

    fn finish_job(&self, n: u64, r: Result<Arrived, String>) {
        let mut jobs = self.relocations.lock();
        if let Some(e) = jobs.all.get_mut(&n) {
            e.stage = Stage::Done(r);
        }
        self.relocations.changed.notify_all();
    }

    /// Cancels job `n`'s stream and runs its domain again if it ran;
    /// the failure as the waiting caller is told it.
    fn abort(&self, n: u64, why: &str) -> String {
        let Some(job) = self.relocations.lock().all.get(&n).map(|e| e.job.clone()) else {
            return why.to_string();
        };
        let Ok(qmp) = self.qmp_of_job(&job) else {
            return format!("{why}; and domain {} is gone here", job.name);
        };
        let _ = manager::qmp_command(&qmp, "migrate_cancel");
        // qemu moves from cancelling to cancelled on its own.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            match migration_status(&qmp) {
                Ok(s) if s == "active" || s == "cancelling" || s == "device" || s == "setup" => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => break,
            }
        }
        if job.resume
            && !guest_runs(&qmp).unwrap_or(true)
            && let Err(e) = manager::qmp_command(&qmp, "cont")
        {
            tracing::error!(domid = job.domid, "resuming after a failed migration: {e}");
            return format!("{why}; and resuming it here failed: {e}");
        }
        self.lock().set_state(
            job.domid,
            &job.uuid,
            if job.resume { DState::Running } else { DState::Paused },
        );
        tracing::warn!(job = n, domid = job.domid, host = %job.host, "migration failed, domain kept: {why}");
        format!("{why}; {} still runs here, unchanged", job.name)
    }

    /// `relocation.done`: the destination's word on job `n`.
    pub fn relocation_done(&self, p: &DoneParams) -> Result<DoneAck, RpcError> {
        let job = {
            let jobs = self.relocations.lock();
            match jobs.all.get(&p.job) {
                Some(e) if matches!(e.stage, Stage::Taken(_) | Stage::Streaming { .. }) => {
                    e.job.clone()
                }
                Some(_) => return Err(refused(ErrorKind::Busy, format!("job {} has ended", p.job))),
                None => return Err(refused(ErrorKind::NoDomain, format!("no job {}", p.job))),
            }
        };
        let Some(remote) = p.remote_domid else {
            let why = p.error.clone().unwrap_or_else(|| "the relocation failed".into());
            let r = self.abort(p.job, &why);
            self.finish_job(p.job, Err(r));
            return Ok(DoneAck { job: p.job, kept: true });
        };
        let qmp = self.qmp_of_job(&job)?;
        // The destination loaded all of it, so this qemu wrote all of it:
        // it says so at once, or within moments.
        let t = Instant::now();
        let status = loop {
            let s = migration_status(&qmp).unwrap_or_else(|e| format!("unknown ({e})"));
            if s == "completed" || t.elapsed() > Duration::from_secs(10) {
                break s;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if status != "completed" {
            let why = format!(
                "the destination runs {} as domain {remote}, but this host's qemu says its migration is {status}: left paused here (xm destroy it once {} is checked)",
                job.name, job.host
            );
            tracing::error!(job = p.job, domid = job.domid, "{why}");
            let _ = manager::qmp_command(&qmp, "stop");
            self.finish_job(p.job, Err(why));
            return Ok(DoneAck { job: p.job, kept: true });
        }
        let (total_ms, downtime_ms) = migration_figures(&qmp);
        // Gone from here: its qemu, store entries and directory.
        let taken = self.lock().take(&job.domid.to_string());
        if let Ok(d) = taken {
            let s = self.settings();
            let id = manager::end(&s, d);
            self.lock().release(id);
        }
        tracing::info!(
            job = p.job,
            domid = job.domid,
            host = %job.host,
            remote,
            total_ms,
            downtime_ms,
            "migrated"
        );
        self.finish_job(
            p.job,
            Ok(Arrived {
                remote,
                total_ms,
                downtime_ms,
            }),
        );
        Ok(DoneAck { job: p.job, kept: false })
    }

    /// `relocation.incoming`: starts an arriving domain to receive its
    /// state; the fd relocd writes that state into.
    pub fn relocation_incoming(&self, p: &IncomingParams) -> Result<(Incoming, OwnedFd), RpcError> {
        self.relocation_on("a domain arriving from another host")?;
        let (r, s) = {
            let mut m = self.lock();
            (
                m.reserve_incoming(&p.source, &p.config, &p.uuid)
                    .map_err(domain_err)?,
                m.s.clone(),
            )
        };
        let started = manager::launch(&s, &r);
        let info = self.lock().finish(r, started).map_err(domain_err)?;
        let domid = info.domid.unwrap_or_default();
        self.relocations
            .lock()
            .arriving
            .push((domid, p.uuid.clone()));
        let handed = (|| {
            let (ours, theirs) =
                UnixStream::pair().map_err(|source| crate::qmp::QmpError::Io {
                    step: "socketpair",
                    source,
                })?;
            let mut q = Qmp::connect(&s.run.join("domains").join(domid.to_string()).join("qmp"))?;
            q.get_fd(FD_NAME, ours.as_fd())?;
            q.call("migrate-incoming", json!({"uri": format!("fd:{FD_NAME}")}))?;
            Ok::<_, crate::qmp::QmpError>(theirs)
        })();
        match handed {
            Ok(fd) => {
                tracing::info!(domid, from = %p.from, uuid = %p.uuid, "domain arriving");
                Ok((
                    Incoming {
                        domid,
                        uuid: p.uuid.clone(),
                    },
                    fd.into(),
                ))
            }
            Err(e) => {
                self.end_arriving(domid, &p.uuid);
                Err(qmp_err("receiving the migration", e))
            }
        }
    }

    fn end_arriving(&self, domid: u32, uuid: &str) {
        self.relocations
            .lock()
            .arriving
            .retain(|(d, u)| !(*d == domid && u == uuid));
        let taken = {
            let mut m = self.lock();
            match m.domains.get(&domid) {
                Some(d) if d.uuid == uuid => m.take(&domid.to_string()).ok(),
                _ => None,
            }
        };
        if let Some(d) = taken {
            let s = self.settings();
            let id = manager::end(&s, d);
            self.lock().release(id);
            tracing::warn!(domid, "arriving domain ended: its migration failed");
        }
    }

    /// `relocation.incoming-done`: the stream ended; the arriving domain
    /// loaded, registered and resumed, or ended.
    pub fn relocation_incoming_done(&self, p: &IncomingDoneParams) -> Result<DomainInfo, RpcError> {
        let arriving = self
            .relocations
            .lock()
            .arriving
            .iter()
            .any(|(d, u)| *d == p.domid && *u == p.uuid);
        if !arriving {
            return Err(refused(
                ErrorKind::NoDomain,
                format!("no domain {} ({}) is arriving", p.domid, p.uuid),
            ));
        }
        if !p.ok {
            self.end_arriving(p.domid, &p.uuid);
            return Err(refused(ErrorKind::Migration, "the stream failed: the arriving domain was ended"));
        }
        let qmp = self.settings().run.join("domains").join(p.domid.to_string()).join("qmp");
        let t = Instant::now();
        let status = loop {
            match migration_status(&qmp) {
                Ok(s) if s == "completed" || gave_up(&s) => break Ok(s),
                Ok(_) if t.elapsed() > LOAD_WITHIN => break Ok("not loaded in time".to_string()),
                Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => break Err(e),
            }
        };
        let loaded = match status {
            Ok(s) if s == "completed" => Ok(()),
            Ok(s) => Err(format!("qemu's incoming migration is {s}")),
            Err(e) => Err(format!("its qemu: {e}")),
        };
        let registered = loaded.and_then(|()| {
            let m = self.lock();
            match m.domains.get(&p.domid) {
                Some(d) if d.uuid == p.uuid => {
                    crate::launch::register(&m.s.xenstore, d).map_err(|e| e.to_string())
                }
                _ => Err("it ended while arriving".to_string()),
            }
        });
        let resumed = registered.and_then(|()| {
            if p.resume {
                manager::qmp_command(&qmp, "cont").map_err(|e| format!("resuming it: {e}"))
            } else {
                Ok(())
            }
        });
        if let Err(why) = resumed {
            self.end_arriving(p.domid, &p.uuid);
            return Err(refused(ErrorKind::Migration, format!("domain {}: {why}; ended here", p.domid)));
        }
        self.relocations
            .lock()
            .arriving
            .retain(|(d, u)| !(*d == p.domid && *u == p.uuid));
        let mut m = self.lock();
        m.set_state(
            p.domid,
            &p.uuid,
            if p.resume { DState::Running } else { DState::Paused },
        );
        tracing::info!(domid = p.domid, uuid = %p.uuid, "domain arrived");
        m.info(&p.domid.to_string()).map_err(domain_err)
    }
}

#[cfg(test)]
#[path = "relocation_tests.rs"]
mod tests;
