//! Migration jobs: the queue `xm migrate` fills and the relocation
//! server takes from (see [`crate::relocation`], which acts on them),
//! and the domains arriving from other hosts. Plain bookkeeping under
//! one mutex and a condition variable; the server's [`crate::server::Xend`]
//! holds one.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::api::{ErrorKind, Job, RpcError};

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
pub(crate) enum Stage {
    /// Waiting for the relocation server, since then.
    Queued(Instant),
    /// Taken by it, since then.
    Taken(Instant),
    /// qemu streams; its QMP socket.
    Streaming {
        /// The socket.
        qmp: PathBuf,
    },
    /// The destination's domid and qemu's figures, or why it failed.
    Done(Result<Arrived, Failed>),
}

/// Why a migration failed, as the `xm migrate` that waits is told.
/// `why` is what went wrong on the way (qemu's status, the relocation
/// server's report of the peer's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failed {
    /// No relocation server took the job.
    #[error(
        "no relocation server took the migration within {secs} s (is svc:/system/xvm/relocation online?); nothing was done"
    )]
    NotTaken {
        /// The bound.
        secs: u64,
    },
    /// The server took it but never started the stream.
    #[error(
        "the relocation server did not start the stream within {secs} s (could it reach {host}?); nothing was done"
    )]
    NotStarted {
        /// The bound.
        secs: u64,
        /// The destination.
        host: String,
    },
    /// It failed and the domain runs on here as it was.
    #[error("{why}; {name} still runs here, unchanged")]
    Kept {
        /// What failed.
        why: String,
        /// The domain.
        name: String,
    },
    /// It failed, and the domain ended here meanwhile.
    #[error("{why}; and domain {name} is gone here")]
    Gone {
        /// What failed.
        why: String,
        /// The domain.
        name: String,
    },
    /// It failed, and the paused domain could not be resumed here.
    #[error("{why}; and resuming it here failed: {qmp}")]
    NotResumed {
        /// What failed.
        why: String,
        /// qemu's answer to `cont`.
        qmp: String,
    },
    /// Every byte was sent but the destination never said it runs the
    /// domain: neither end resumes it (it could run twice).
    #[error(
        "its state was all sent but {host} did not confirm within {secs} s: left paused here; check {host}, then xm unpause or xm destroy it here"
    )]
    Unconfirmed {
        /// The destination.
        host: String,
        /// The bound.
        secs: u64,
    },
    /// The destination says it runs the domain, but this qemu did not
    /// finish: left paused here.
    #[error(
        "the destination runs {name} as domain {remote}, but this host's qemu says its migration is {status}: left paused here (xm destroy it once {host} is checked)"
    )]
    Disowned {
        /// The domain.
        name: String,
        /// Its id there.
        remote: u32,
        /// qemu's status here.
        status: String,
        /// The destination.
        host: String,
    },
    /// The job is no more.
    #[error("the job vanished")]
    Vanished,
}

/// A migration that went: the destination's domid, and what the source
/// qemu measured (`query-migrate` once it completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arrived {
    /// The domain's id there.
    pub(crate) remote: u32,
    /// qemu's total-time, ms.
    pub(crate) total_ms: Option<u64>,
    /// qemu's downtime, ms.
    pub(crate) downtime_ms: Option<u64>,
}

/// One job.
#[derive(Debug)]
pub(crate) struct Entry {
    /// What relocd is given.
    pub(crate) job: Job,
    /// `xm migrate -r`.
    pub(crate) resource: Option<u64>,
    /// Where it is.
    pub(crate) stage: Stage,
}

/// Every job, and the queue.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    /// The last job's number.
    pub(crate) next: u64,
    /// Queued, oldest first.
    pub(crate) queue: VecDeque<u64>,
    /// By number, until the `xm migrate` that waits takes its end.
    pub(crate) all: BTreeMap<u64, Entry>,
    /// Domains arriving (domid, UUID): started, not yet loaded.
    pub(crate) arriving: Vec<(u32, String)>,
}

impl Jobs {
    /// Whether job `n` streams still.
    pub(crate) fn streaming(&self, n: u64) -> bool {
        self.all
            .get(&n)
            .is_some_and(|e| matches!(e.stage, Stage::Streaming { .. }))
    }

    /// Ends job `n` with `why` if it still streams (nobody ended it
    /// meanwhile); whether it did.
    pub(crate) fn fail_streaming(&mut self, n: u64, why: &Failed) -> bool {
        let Some(e) = self.all.get_mut(&n) else {
            return false;
        };
        if !matches!(e.stage, Stage::Streaming { .. }) {
            return false;
        }
        e.stage = Stage::Done(Err(why.clone()));
        true
    }
}

/// The relocation jobs of this xend.
#[derive(Debug, Default)]
pub struct Relocations {
    jobs: Mutex<Jobs>,
    /// Signalled at every change of a job.
    pub(crate) changed: Condvar,
}

impl Relocations {
    /// The jobs, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a change, at most `d`.
    pub(crate) fn wait_for<'a>(
        &self,
        g: MutexGuard<'a, Jobs>,
        d: Duration,
    ) -> MutexGuard<'a, Jobs> {
        self.changed
            .wait_timeout(g, d)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0)
    }
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
        Err(RpcError::failed(
            ErrorKind::BadConfig,
            format!(
                "{host:?} is no host: a name or address, with :PORT when not the relocation port"
            ),
        ))
    }
}
