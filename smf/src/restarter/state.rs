//! The states, an instance and the restarter's state.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::manifest::{Bundle, Resolved};
use crate::props::Overrides;

/// An instance's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not looked at yet.
    Uninitialized,
    /// Enabled, waiting for its dependencies (or about to start).
    Offline,
    /// Running (or, for a transient service, done).
    Online,
    /// Not enabled.
    Disabled,
    /// Given up on: needs `svcadm clear`.
    Maintenance,
}

impl State {
    /// The name svcs prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Uninitialized => "uninitialized",
            State::Offline => "offline",
            State::Online => "online",
            State::Disabled => "disabled",
            State::Maintenance => "maintenance",
        }
    }
}

/// Exits within [`BURST_WINDOW`] after which a service goes to maintenance.
pub const BURST: usize = 3;
/// The window of [`BURST`].
pub const BURST_WINDOW: Duration = Duration::from_secs(60);

/// How the restarter runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// System mode: methods run with their manifest's credential. Session
    /// mode: everything runs as the invoking user.
    pub system: bool,
    /// Where bare program names are looked up.
    pub bindir: PathBuf,
    /// Where method output goes, one file per instance.
    pub logdir: PathBuf,
    /// Environment every method gets (XVM_ROOT, XDG_RUNTIME_DIR, ...).
    pub env: Vec<(String, String)>,
}

/// One instance.
#[derive(Debug)]
pub struct Svc {
    /// The manifest's view, overrides folded in.
    pub r: Resolved,
    /// Its state.
    pub state: State,
    /// When it entered it.
    pub since: SystemTime,
    /// Why it is in maintenance (or why it last stopped).
    pub reason: String,
    /// Persistent enable (manifest, then `general/enabled`).
    pub enabled: bool,
    /// `svcadm enable/disable -t`: until the restarter restarts.
    pub temporary: Option<bool>,
    /// Its running process.
    pub child: Option<privlib::Child>,
    /// The uid it was started as.
    pub uid: u32,
    /// A stop in progress: when SIGKILL follows.
    pub stopping: Option<Instant>,
    /// Restart after the stop (`svcadm restart`).
    pub restart_after_stop: bool,
    pub(crate) exits: VecDeque<Instant>,
}

impl Svc {
    /// Enabled, all things considered.
    pub fn wanted(&self) -> bool {
        self.temporary.unwrap_or(self.enabled)
    }

    pub(crate) fn set(&mut self, s: State, reason: impl Into<String>) {
        let reason = reason.into();
        if self.state != s {
            tracing::info!(fmri = %self.r.fmri, from = self.state.name(), to = s.name(), "{reason}");
        }
        self.state = s;
        self.since = SystemTime::now();
        self.reason = reason;
    }

    pub(crate) fn duration(&self) -> &str {
        self.r
            .prop("startd", "duration")
            .and_then(|p| p.values.first())
            .map_or("contract", String::as_str)
    }

    pub(crate) fn transient(&self) -> bool {
        self.duration() == "transient"
    }

    /// The log file of this instance.
    pub fn log_path(&self, logdir: &Path) -> PathBuf {
        logdir.join(format!(
            "{}.log",
            self.r
                .fmri
                .to_string()
                .trim_start_matches("svc:/")
                .replace(['/', ':'], "-")
        ))
    }
}

/// The whole restarter state.
#[derive(Debug)]
pub struct Restarter {
    /// The configuration.
    pub cfg: Config,
    /// Every instance, in manifest order.
    pub svcs: Vec<Svc>,
    /// The administrator's properties.
    pub overrides: Overrides,
    pub(crate) bundles: Vec<Bundle>,
}

/// Seconds since the epoch, as svcs prints STIME (UTC, HH:MM:SS).
pub fn humantime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
