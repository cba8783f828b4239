//! Relocation's methods: `domain.migrate`, which `xm migrate` calls, and
//! the `relocation.*` methods the relocation server (`xvm-relocd`) calls
//! as a client of xend with `xvm_control` (the table is [`super`]'s).
//!
//! There is no relocation socket of xend's own: the server that faces
//! the network asks xend for work (`relocation.wait`), and xend hands it
//! each device model's migration stream as one end of a pipe whose
//! other end qemu got over QMP (`getfd`); the answers of
//! `relocation.send` and `relocation.incoming` carry that fd
//! (SCM_RIGHTS, on the answer line's first byte).

use serde::{Deserialize, Serialize};

/// Parameters of `domain.migrate`: `xm migrate [--live] [-r MBPS]
/// DOMAIN HOST`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateParams {
    /// A name, or a domid in decimal.
    pub domain: String,
    /// The destination: a host name or address, with `:PORT` when not
    /// the relocation port.
    pub host: String,
    /// Live: the guest runs while its memory is copied; otherwise it is
    /// paused first (and resumed on the destination).
    #[serde(default)]
    pub live: bool,
    /// A bound on the stream, in megabits per second (`xm migrate -r`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<u64>,
}

/// The answer to `domain.migrate`: the domain has left this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrated {
    /// Its id here, now free.
    pub domid: u32,
    /// Its name.
    pub name: String,
    /// Where it went.
    pub host: String,
    /// Its id on the destination.
    pub remote_domid: u32,
    /// How long qemu's migration took, ms (its `query-migrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<u64>,
    /// How long the guest was stopped at the source, ms (qemu's
    /// `downtime`, as libvirt reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<u64>,
}

/// A migration queued by `domain.migrate`, as `relocation.wait` hands it
/// to the relocation server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Its number (for `relocation.send` and `relocation.done`).
    pub job: u64,
    /// The domain's name.
    pub name: String,
    /// Its id here.
    pub domid: u32,
    /// Its UUID: the destination keeps it.
    pub uuid: String,
    /// Where it goes.
    pub host: String,
    /// Live or paused first.
    pub live: bool,
    /// Whether it ran when the job was queued: the destination resumes
    /// it only then.
    pub resume: bool,
    /// Where its config came from.
    pub source: String,
    /// Its config (xl.cfg), which the destination starts it from.
    pub config: String,
}

/// Parameters of `relocation.wait`: how long to wait for a job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// Seconds, at most [`MAX_WAIT_SECS`] (`None`: that).
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// The longest `relocation.wait` waits before answering `null`.
pub const MAX_WAIT_SECS: u64 = 30;

/// Parameters naming a job: `relocation.send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// The job.
    pub job: u64,
}

/// The answer to `relocation.send` (the fd comes with it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streaming {
    /// The job.
    pub job: u64,
    /// The domain whose qemu now writes its state into the fd.
    pub domid: u32,
}

/// Parameters of `relocation.done`: how the destination ended it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    /// The job.
    pub job: u64,
    /// The destination runs the domain (its id there): this host ends
    /// its copy. `None`: it failed, and the domain stays here.
    #[serde(default)]
    pub remote_domid: Option<u32>,
    /// Why it failed, for the `xm migrate` that waits.
    #[serde(default)]
    pub error: Option<String>,
}

/// The answer to `relocation.done`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoneAck {
    /// The job.
    pub job: u64,
    /// Whether the domain still runs here (a failed migration).
    pub kept: bool,
}

/// Parameters of `relocation.incoming`: a domain arriving from `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingParams {
    /// The peer it comes from (its certificate's name), for the log.
    pub from: String,
    /// Where its config came from.
    pub source: String,
    /// Its config.
    pub config: String,
    /// Its UUID, kept.
    pub uuid: String,
}

/// The answer to `relocation.incoming` (the fd comes with it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// Its id here.
    pub domid: u32,
    /// Its UUID.
    pub uuid: String,
}

/// Parameters of `relocation.incoming-done`: the stream ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingDoneParams {
    /// The domain `relocation.incoming` made.
    pub domid: u32,
    /// Its UUID (a domain of another UUID under that id is not it).
    pub uuid: String,
    /// The whole stream was written: wait for qemu to load it, then
    /// register and (with `resume`) run the domain. `false`: end it.
    pub ok: bool,
    /// Resume it once loaded.
    #[serde(default)]
    pub resume: bool,
}
