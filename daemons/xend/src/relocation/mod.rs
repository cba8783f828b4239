//! Relocation, xend's half: `xm migrate` queues a job, the relocation
//! server (`xvm-relocd`, a client of this socket with `xvm_control`)
//! takes it, and xend hands it the device model's migration stream;
//! on the other host xend starts the arriving domain and hands that
//! server the stream to feed it.
//!
//! # Why xend holds no network
//! xend keeps no relocation socket, local or TCP: the server that faces
//! the network is its own least-privileged process, and xend gives it
//! only one end of a pipe per migration, whose other end qemu got over
//! QMP (`getfd`, then `migrate`/`migrate-incoming` on `fd:relocation`).
//! A pipe, not a socket pair: the stream goes one way, and each end can
//! only go that way (the source's qemu cannot read what relocd holds,
//! nor the destination's write to it); and its buffer grows to
//! [`STREAM_PIPE`] without privilege, so qemu is not held up by the
//! relay while the guest is stopped. xend needs no privilege for any of
//! it (the `relocation` feature declares none).
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

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{
    self, Call, DoneAck, DoneParams, ErrorKind, Job, MAX_WAIT_SECS, MigrateParams, Migrated,
    RpcError, Streaming,
};
use crate::domain::DState;
use crate::features::Feature;
use crate::jobs::{
    Arrived, CONFIRM_WITHIN, Entry, FD_NAME, Failed, MAX_JOBS, MIGRATE_WITHIN, POLL, SEND_WITHIN,
    Stage, TAKE_WITHIN, check_host,
};
use crate::manager;
use crate::qmp::Qmp;
use crate::server::{Answer, Xend};

mod arrive;

pub(crate) fn refused(kind: ErrorKind, msg: impl Into<String>) -> RpcError {
    RpcError::failed(kind, msg)
}

pub(crate) fn domain_err(e: crate::error::DomainError) -> RpcError {
    RpcError::failed(e.kind(), e.to_string())
}

pub(crate) fn qmp_err(what: &str, e: crate::qmp::QmpError) -> RpcError {
    refused(ErrorKind::Failed, format!("{what}: {e}"))
}

/// A stream pipe's buffer: the most an unprivileged process gets by
/// default (`/proc/sys/fs/pipe-max-size`).
pub const STREAM_PIPE: usize = 1 << 20;

/// A pipe for a migration stream, (read end, write end), its buffer
/// [`STREAM_PIPE`] where the kernel allows (else as it is: slower, not
/// wrong).
pub(crate) fn stream_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = privlib::os::fd::pipe()?;
    if let Err(e) = privlib::os::fd::set_pipe_size(w.as_fd(), STREAM_PIPE) {
        tracing::debug!("a migration pipe of {STREAM_PIPE} bytes: {e}");
    }
    Ok((r, w))
}

/// qemu's `query-migrate` status (`none` before any migration).
pub(crate) fn migration_status(qmp: &Path) -> Result<String, crate::qmp::QmpError> {
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
pub(crate) fn gave_up(status: &str) -> bool {
    matches!(status, "failed" | "cancelled")
}

/// A result on the wire.
fn plain<T: serde::Serialize>(r: Result<T, RpcError>) -> Result<Answer, RpcError> {
    let value = serde_json::to_value(r?)
        .map_err(|e| RpcError::new(api::INTERNAL_ERROR, format!("encoding the answer: {e}")))?;
    Ok(Answer { value, fd: None })
}

/// A result and the fd that goes with it.
fn with_fd<T: serde::Serialize>(r: Result<(T, OwnedFd), RpcError>) -> Result<Answer, RpcError> {
    let (v, fd) = r?;
    let mut a = plain(Ok(v))?;
    a.fd = Some(fd);
    Ok(a)
}

impl Xend {
    /// Answers a relocation call (`domain.migrate`, `relocation.*`);
    /// `None` for any other. `waits`: whether the peer still waits for
    /// the answer.
    pub(crate) fn relocation_call(
        &self,
        call: &Call,
        waits: &dyn Fn() -> bool,
    ) -> Option<Result<Answer, RpcError>> {
        Some(match call {
            Call::Migrate(p) => plain(self.migrate(p)),
            Call::RelocWait(p) => plain(self.relocation_wait(p.seconds, waits)),
            Call::RelocSend(p) => with_fd(self.relocation_send(p.job)),
            Call::RelocDone(p) => plain(self.relocation_done(p)),
            Call::RelocIncoming(p) => with_fd(self.relocation_incoming(p)),
            Call::RelocIncomingDone(p) => plain(self.relocation_incoming_done(p)),
            _ => return None,
        })
    }
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
                        format!(
                            "{} is shutting down or crashed: not migrated",
                            d.config.name
                        ),
                    ));
                }
            }
            if m.hot
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
                return Err(refused(
                    ErrorKind::Busy,
                    format!("{} is still arriving", d.config.name),
                ));
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
            (Ok(_), None) => Err(refused(ErrorKind::Failed, Failed::Vanished.to_string())),
            (Err(why), _) => Err(refused(ErrorKind::Migration, why.to_string())),
        }
    }

    /// Waits for job `n` to end, failing it when a step is late or its
    /// qemu gave the stream up.
    fn wait_job(&self, n: u64) -> Result<Arrived, Failed> {
        let started = Instant::now();
        let mut completed: Option<Instant> = None;
        let mut jobs = self.relocations.lock();
        loop {
            let Some(e) = jobs.all.get(&n) else {
                return Err(Failed::Vanished);
            };
            let host = e.job.host.clone();
            let late = |since: Instant, within: Duration| since.elapsed() > within;
            match e.stage.clone() {
                Stage::Done(r) => return r,
                Stage::Queued(t) if late(t, TAKE_WITHIN) => {
                    jobs.queue.retain(|q| *q != n);
                    return Err(Failed::NotTaken {
                        secs: TAKE_WITHIN.as_secs(),
                    });
                }
                Stage::Taken(t) if late(t, SEND_WITHIN) => {
                    return Err(Failed::NotStarted {
                        secs: SEND_WITHIN.as_secs(),
                        host,
                    });
                }
                Stage::Streaming { qmp, .. } => {
                    drop(jobs);
                    let status = migration_status(&qmp);
                    let verdict = match status.as_deref() {
                        Ok(s) if gave_up(s) => Some(format!("qemu's migration {s}")),
                        Ok(_) if started.elapsed() > MIGRATE_WITHIN => {
                            Some(format!("not done within {} s", MIGRATE_WITHIN.as_secs()))
                        }
                        Ok("completed") => {
                            let at = *completed.get_or_insert_with(Instant::now);
                            if at.elapsed() > CONFIRM_WITHIN {
                                // Nobody can say whether the destination
                                // runs it: neither end resumes it.
                                let why = Failed::Unconfirmed {
                                    host: host.clone(),
                                    secs: CONFIRM_WITHIN.as_secs(),
                                };
                                jobs = self.relocations.lock();
                                if jobs.fail_streaming(n, &why) {
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
                        && self.relocations.lock().streaming(n)
                    {
                        let r = self.abort(n, &why);
                        jobs = self.relocations.lock();
                        if jobs.fail_streaming(n, &r) {
                            return Err(r);
                        }
                        continue;
                    }
                    jobs = self.relocations.lock();
                    if !jobs.streaming(n) {
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
                Some(_) => {
                    return Err(refused(
                        ErrorKind::Busy,
                        format!("job {n} is not waiting for its stream"),
                    ));
                }
                None => return Err(refused(ErrorKind::NoDomain, format!("no job {n}"))),
            }
        };
        let qmp = self.qmp_of_job(&job)?;
        // qemu writes, relocd reads.
        let (theirs, ours) =
            stream_pipe().map_err(|e| refused(ErrorKind::Failed, format!("a pipe: {e}")))?;
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
            self.finish_job(
                n,
                Err(Failed::Kept {
                    why: format!("starting the migration: {e}"),
                    name: job.name.clone(),
                }),
            );
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
        Ok((
            Streaming {
                job: n,
                domid: job.domid,
            },
            theirs,
        ))
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

    fn finish_job(&self, n: u64, r: Result<Arrived, Failed>) {
        let mut jobs = self.relocations.lock();
        if let Some(e) = jobs.all.get_mut(&n) {
            e.stage = Stage::Done(r);
        }
        self.relocations.changed.notify_all();
    }

    /// Cancels job `n`'s stream and runs its domain again if it ran;
    /// the failure as the waiting caller is told it.
    fn abort(&self, n: u64, why: &str) -> Failed {
        let Some(job) = self.relocations.lock().all.get(&n).map(|e| e.job.clone()) else {
            return Failed::Vanished;
        };
        let Ok(qmp) = self.qmp_of_job(&job) else {
            return Failed::Gone {
                why: why.to_string(),
                name: job.name,
            };
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
            return Failed::NotResumed {
                why: why.to_string(),
                qmp: e.to_string(),
            };
        }
        self.lock()
            .set_state(job.domid, &job.uuid, DState::running_if(job.resume));
        tracing::warn!(job = n, domid = job.domid, host = %job.host, "migration failed, domain kept: {why}");
        Failed::Kept {
            why: why.to_string(),
            name: job.name,
        }
    }

    /// `relocation.done`: the destination's word on job `n`.
    pub fn relocation_done(&self, p: &DoneParams) -> Result<DoneAck, RpcError> {
        let job = {
            let jobs = self.relocations.lock();
            match jobs.all.get(&p.job) {
                Some(e) if matches!(e.stage, Stage::Taken(_) | Stage::Streaming { .. }) => {
                    e.job.clone()
                }
                Some(_) => {
                    return Err(refused(ErrorKind::Busy, format!("job {} has ended", p.job)));
                }
                None => return Err(refused(ErrorKind::NoDomain, format!("no job {}", p.job))),
            }
        };
        let Some(remote) = p.remote_domid else {
            let why = p
                .error
                .clone()
                .unwrap_or_else(|| "the relocation failed".into());
            let r = self.abort(p.job, &why);
            self.finish_job(p.job, Err(r));
            return Ok(DoneAck {
                job: p.job,
                kept: true,
            });
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
            let why = Failed::Disowned {
                name: job.name.clone(),
                remote,
                status,
                host: job.host.clone(),
            };
            tracing::error!(job = p.job, domid = job.domid, "{why}");
            let _ = manager::qmp_command(&qmp, "stop");
            self.finish_job(p.job, Err(why));
            return Ok(DoneAck {
                job: p.job,
                kept: true,
            });
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
        Ok(DoneAck {
            job: p.job,
            kept: false,
        })
    }
}

#[cfg(test)]
mod tests;
