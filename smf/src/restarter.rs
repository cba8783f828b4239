//! svc-startd's state machine: which instance is in which state, starting
//! them in dependency order with the credential their manifest gives,
//! restarting the ones that die, and putting one that keeps dying into
//! maintenance with the reason.
//!
//! States, as SMF names them: `uninitialized` (not looked at yet),
//! `offline` (enabled, waiting for dependencies), `online`, `disabled`,
//! `maintenance` (gave up; `svcadm clear` tries again).

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use privlib::{PrivSet, Spawn};

use crate::fmri::Fmri;
use crate::manifest::{Bundle, Exec, Grouping, Resolved};
use crate::props::{Override, Overrides, expand, split_command};

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
    exits: VecDeque<Instant>,
}

impl Svc {
    /// Enabled, all things considered.
    pub fn wanted(&self) -> bool {
        self.temporary.unwrap_or(self.enabled)
    }

    fn set(&mut self, s: State, reason: impl Into<String>) {
        let reason = reason.into();
        if self.state != s {
            tracing::info!(fmri = %self.r.fmri, from = self.state.name(), to = s.name(), "{reason}");
        }
        self.state = s;
        self.since = SystemTime::now();
        self.reason = reason;
    }

    fn duration(&self) -> &str {
        self.r
            .prop("startd", "duration")
            .and_then(|p| p.values.first())
            .map_or("contract", String::as_str)
    }

    fn transient(&self) -> bool {
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
    bundles: Vec<Bundle>,
}

fn enabled_override(o: &Overrides, f: &Fmri) -> Option<bool> {
    o.for_fmri(f)
        .into_iter()
        .find(|(p, _)| *p == "general/enabled")
        .map(|(_, v)| v.value == "true")
}

impl Restarter {
    /// A restarter over `bundles`, with `overrides`.
    pub fn new(cfg: Config, bundles: Vec<Bundle>, overrides: Overrides) -> Restarter {
        let mut r = Restarter {
            cfg,
            svcs: Vec::new(),
            overrides,
            bundles,
        };
        r.load();
        r
    }

    fn resolved(&self) -> Vec<Resolved> {
        let mut out = Vec::new();
        for b in &self.bundles {
            for mut i in b.instances() {
                self.overrides.apply(&mut i);
                out.push(i);
            }
        }
        out
    }

    /// (Re)reads properties into the instances; new instances appear.
    pub fn load(&mut self) {
        for r in self.resolved() {
            let enabled = enabled_override(&self.overrides, &r.fmri).unwrap_or(r.enabled);
            match self.svcs.iter_mut().find(|s| s.r.fmri == r.fmri) {
                Some(s) => {
                    s.r = r;
                    s.enabled = enabled;
                }
                None => self.svcs.push(Svc {
                    r,
                    state: State::Uninitialized,
                    since: SystemTime::now(),
                    reason: "not looked at yet".into(),
                    enabled,
                    temporary: None,
                    child: None,
                    uid: 0,
                    stopping: None,
                    restart_after_stop: false,
                    exits: VecDeque::new(),
                }),
            }
        }
    }

    /// The instance `f` names (a service FMRI names its only instance).
    /// As svcadm allows, a name may be shortened to its last components:
    /// `store` for `svc:/system/xvm/store:default`.
    pub fn find(&self, f: &Fmri) -> Result<usize, String> {
        let pick = |exact: bool| -> Vec<usize> {
            self.svcs
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    let name = &s.r.fmri.service;
                    (if exact {
                        *name == f.service
                    } else {
                        name.ends_with(&format!("/{}", f.service))
                    }) && f
                        .instance
                        .as_ref()
                        .is_none_or(|i| s.r.fmri.instance.as_ref() == Some(i))
                })
                .map(|(i, _)| i)
                .collect()
        };
        let mut hits = pick(true);
        if hits.is_empty() {
            hits = pick(false);
        }
        match hits[..] {
            [i] => Ok(i),
            [] => Err(format!("{f}: no such instance")),
            _ => Err(format!("{f}: names several instances; give one")),
        }
    }

    fn dep_state(&self, fmri: &str) -> Option<State> {
        let f = Fmri::parse(fmri).ok()?;
        let i = self.find(&f).ok()?;
        Some(self.svcs[i].state)
    }

    /// `s`'s dependencies: its own, and those other services' `dependent`
    /// elements put on it.
    pub fn dependencies_of(&self, s: &Svc) -> Vec<crate::manifest::Dependency> {
        let mut deps: Vec<crate::manifest::Dependency> =
            s.r.dependencies
                .iter()
                .filter(|d| d.kind == "service")
                .cloned()
                .collect();
        for other in &self.svcs {
            for d in &other.r.dependents {
                let names_s = Fmri::parse(&d.fmri).is_ok_and(|f| {
                    f.service == s.r.fmri.service
                        && f.instance
                            .as_ref()
                            .is_none_or(|i| Some(i) == s.r.fmri.instance.as_ref())
                });
                if names_s {
                    deps.push(crate::manifest::Dependency {
                        name: format!("{} (dependent of {})", d.name, other.r.fmri),
                        grouping: d.grouping,
                        restart_on: d.restart_on,
                        kind: "service".into(),
                        fmris: vec![other.r.fmri.to_string()],
                    });
                }
            }
        }
        deps
    }

    /// Whether `s`'s dependencies let it start; what it waits for if not.
    pub fn deps_met(&self, s: &Svc) -> Result<(), String> {
        for d in &self.dependencies_of(s) {
            let states: Vec<Option<State>> = d.fmris.iter().map(|f| self.dep_state(f)).collect();
            let online = |st: &Option<State>| *st == Some(State::Online);
            let ok = match d.grouping {
                Grouping::RequireAll => states.iter().all(online),
                Grouping::RequireAny => states.iter().any(online),
                Grouping::OptionalAll => states.iter().all(|st| {
                    matches!(
                        st,
                        None | Some(State::Online | State::Disabled | State::Maintenance)
                    )
                }),
                Grouping::ExcludeAll => !states.iter().any(online),
            };
            if !ok {
                return Err(format!(
                    "waiting for dependency {} ({} {})",
                    d.name,
                    d.grouping.as_str(),
                    d.fmris.join(" ")
                ));
            }
        }
        Ok(())
    }

    /// One round: reap, stop what is not wanted, start what is ready.
    /// Returns whether anything changed (call again until it is false).
    pub fn step(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.svcs.len() {
            changed |= self.reap(i);
        }
        for i in 0..self.svcs.len() {
            changed |= self.stop_if_unwanted(i);
        }
        for i in 0..self.svcs.len() {
            let s = &self.svcs[i];
            if !s.wanted() || s.child.is_some() || s.stopping.is_some() {
                continue;
            }
            match s.state {
                State::Uninitialized | State::Disabled | State::Offline => {}
                State::Online | State::Maintenance => continue,
            }
            match self.deps_met(&self.svcs[i]) {
                Ok(()) => {
                    self.start(i);
                    changed = true;
                }
                Err(why) => {
                    if s.state != State::Offline {
                        self.svcs[i].set(State::Offline, why);
                        changed = true;
                    }
                }
            }
        }
        changed
    }

    fn stop_if_unwanted(&mut self, i: usize) -> bool {
        let s = &mut self.svcs[i];
        if s.wanted() || s.stopping.is_some() {
            return false;
        }
        if s.child.is_some() {
            self.stop(i, false);
            return true;
        }
        if s.state != State::Disabled {
            s.set(State::Disabled, "disabled by the administrator");
            return true;
        }
        false
    }

    /// Stops instance `i` (its stop method, then SIGKILL after the timeout);
    /// `restart`: start it again once stopped.
    pub fn stop(&mut self, i: usize, restart: bool) {
        let stop = self.svcs[i].r.method("stop").cloned();
        let logdir = self.cfg.logdir.clone();
        let s = &mut self.svcs[i];
        s.restart_after_stop = restart;
        let Some(child) = &s.child else {
            return;
        };
        // `:kill -SIG` sends SIG; `:true` and no stop method leave it to
        // the restarter, which ends the process with SIGTERM. A stop
        // command is not run (svc-startd tracks one process per service):
        // the service log says so, and SIGTERM is sent instead.
        let sig = match stop.as_ref().map(|m| &m.exec) {
            Some(Exec::Kill(sig)) => *sig,
            Some(Exec::Command(c)) => {
                if let Ok(mut f) = OpenOptions::new().append(true).open(s.log_path(&logdir)) {
                    use std::io::Write;
                    let _ = writeln!(
                        f,
                        "[ {} stop method \"{c}\" not run: svc-startd sends SIGTERM ]",
                        humantime(SystemTime::now())
                    );
                }
                libc::SIGTERM
            }
            Some(Exec::True) | None => libc::SIGTERM,
        };
        let _ = child.kill(sig);
        // timeout_seconds 0 (or -1): wait as long as it takes.
        s.stopping = Some(match stop.map_or(30, |m| m.timeout_seconds) {
            0 => Instant::now() + Duration::from_secs(u64::from(u32::MAX)),
            t => Instant::now() + Duration::from_secs(t),
        });
    }

    /// Kills stops that outlived their timeout.
    pub fn enforce_stop_timeouts(&mut self) {
        let now = Instant::now();
        for s in &mut self.svcs {
            if let (Some(deadline), Some(c)) = (s.stopping, &s.child)
                && now >= deadline
            {
                tracing::warn!(fmri = %s.r.fmri, "stop method timed out: SIGKILL");
                let _ = c.kill(libc::SIGKILL);
                s.stopping = Some(now + Duration::from_secs(3600));
            }
        }
    }

    /// Whether instance `i`'s process has ended; handles it if so.
    fn reap(&mut self, i: usize) -> bool {
        let s = &mut self.svcs[i];
        let Some(child) = &mut s.child else {
            return false;
        };
        let mut fds = [privlib::os::poll::pollfd(
            child.pidfd().as_raw_fd(),
            privlib::os::poll::POLLIN,
        )];
        if !privlib::os::poll::poll(&mut fds, 0).is_ok_and(|n| n > 0) {
            return false;
        }
        let status = child.wait();
        s.child = None;
        let how = match &status {
            Ok(st) => describe(st),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let clean = status.as_ref().is_ok_and(std::process::ExitStatus::success);
        if s.stopping.take().is_some() {
            if s.restart_after_stop {
                s.restart_after_stop = false;
                s.set(State::Offline, "restarting at the administrator's request");
            } else {
                s.set(State::Disabled, format!("stopped; it {how}"));
            }
            return true;
        }
        if s.transient() {
            if clean {
                s.set(State::Online, "the transient start method completed");
            } else {
                s.set(State::Maintenance, format!("the start method {how}"));
            }
            return true;
        }
        let now = Instant::now();
        s.exits.push_back(now);
        while s
            .exits
            .front()
            .is_some_and(|t| now.duration_since(*t) > BURST_WINDOW)
        {
            s.exits.pop_front();
        }
        if s.exits.len() >= BURST {
            let n = s.exits.len();
            s.set(
                State::Maintenance,
                format!(
                    "restarting too quickly: it ended {n} times within {} seconds; last it {how}",
                    BURST_WINDOW.as_secs()
                ),
            );
        } else {
            s.set(State::Offline, format!("it {how}; restarting"));
        }
        true
    }

    /// Runs instance `i`'s start method.
    fn start(&mut self, i: usize) {
        match self.launch(i) {
            Ok(child) => {
                let s = &mut self.svcs[i];
                let transient = s.transient();
                s.child = Some(child);
                if transient {
                    // Online when it completes.
                    s.set(State::Offline, "the transient start method is running");
                } else {
                    s.set(State::Online, "started");
                }
            }
            Err(why) => {
                let s = &mut self.svcs[i];
                s.set(
                    State::Maintenance,
                    format!("the start method could not run: {why}"),
                );
            }
        }
    }

    fn launch(&mut self, i: usize) -> Result<privlib::Child, String> {
        let s = &self.svcs[i];
        let m =
            s.r.method("start")
                .ok_or("the manifest has no start method")?
                .clone();
        let Exec::Command(cmd) = &m.exec else {
            return Err("the start method runs no program".into());
        };
        if !matches!(s.duration(), "child" | "transient") {
            let set = if s.r.prop("startd", "duration").is_some() {
                format!("startd/duration is {}", s.duration())
            } else {
                "startd/duration is unset (contract)".to_string()
            };
            return Err(format!(
                "{set}: svc-startd tracks the one process it starts; set it to child (a daemon that stays in the foreground) or transient (runs once)"
            ));
        }
        let r = s.r.for_mode(self.cfg.system);
        let words = split_command(&expand(cmd, &r, "start")?)?;
        let program = if words[0].contains('/') {
            PathBuf::from(&words[0])
        } else {
            self.cfg.bindir.join(&words[0])
        };
        let ctx = r.method_context(&m);
        let cred = ctx.credential.clone().unwrap_or_default();
        let log = s.log_path(&self.cfg.logdir);
        let logf = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut sp = Spawn::new(&program).args(&words[1..]);
        sp = sp.env("PATH", "/usr/bin:/bin");
        for (k, v) in &self.cfg.env {
            sp = sp.env(k, v);
        }
        sp = sp
            .env("SMF_FMRI", r.fmri.to_string())
            .env("SMF_METHOD", "start");
        for (k, v) in &ctx.environment {
            sp = sp.env(k, v);
        }
        if let Some(d) = &ctx.working_directory {
            sp = sp.cwd(d);
        }
        let held = privlib::getppriv().map_err(|e| e.to_string())?;
        let parse = |t: &Option<String>| -> Result<Option<PrivSet>, String> {
            t.as_ref()
                .map(|t| privlib::parse_set(t).map_err(|e| e.to_string()))
                .transpose()
        };
        let mut limit = parse(&cred.limit_privileges)?;
        // No privileges given: basic, as on illumos (within the limit).
        let mut privs = match parse(&cred.privileges)? {
            Some(p) => Some(p),
            None => Some(match &limit {
                Some(l) => PrivSet::basic().intersect(l),
                None => PrivSet::basic(),
            }),
        };
        let mut uid = privlib::procfs::read_cred(Path::new("/proc"), "self")
            .map_err(|e| e.to_string())?
            .uid[1];
        if self.cfg.system {
            let user = cred.user.as_deref().unwrap_or("root");
            let u = lookup_user(user)?;
            let gid = match &cred.group {
                Some(g) => lookup_group(g)?,
                None => u.gid,
            };
            // No supp_groups: the user's own groups, as initgroups gives.
            let groups: Vec<u32> = match &cred.supp_groups {
                None => privlib::os::accounts::group_list(&u)
                    .map_err(|e| format!("groups of {user}: {e}"))?,
                Some(named) => named
                    .iter()
                    .map(|g| lookup_group(g))
                    .collect::<Result<_, _>>()?,
            };
            uid = u.uid;
            sp = sp.uid(u.uid).gid(gid).groups(&groups);
        } else {
            // Session mode: the user's own processes, never more than the
            // restarter holds.
            privs = privs.map(|p| p.intersect(&held.permitted));
            limit = limit.map(|l| l.intersect(&held.limit));
        }
        if let Some(p) = privs {
            sp = sp.privileges(p);
        }
        if let Some(l) = limit {
            sp = sp.limit(l);
        }
        sp = sp.pass_fd(logf.as_raw_fd(), 1).pass_fd(logf.as_raw_fd(), 2);
        {
            use std::io::Write;
            let _ = writeln!(
                &logf,
                "[ {} starting: {} ]",
                humantime(SystemTime::now()),
                words.join(" ")
            );
        }
        let child = sp.spawn().map_err(|e| e.to_string())?;
        self.svcs[i].uid = uid;
        Ok(child)
    }

    /// `svcadm enable/disable [-t]`.
    pub fn set_enabled(&mut self, i: usize, on: bool, temporary: bool) -> Result<(), String> {
        if temporary {
            self.svcs[i].temporary = Some(on);
        } else {
            let f = self.svcs[i].r.fmri.clone();
            self.overrides.set(
                &f,
                "general/enabled",
                Override {
                    ty: crate::manifest::PropType::Boolean,
                    value: on.to_string(),
                },
            )?;
            self.svcs[i].enabled = on;
            self.svcs[i].temporary = None;
        }
        if on && self.svcs[i].state == State::Disabled {
            self.svcs[i].set(State::Offline, "enabled by the administrator");
        }
        Ok(())
    }

    /// `svcadm clear`: out of maintenance.
    pub fn clear(&mut self, i: usize) -> Result<(), String> {
        let s = &mut self.svcs[i];
        if s.state != State::Maintenance {
            return Err(format!("{} is not in maintenance", s.r.fmri));
        }
        s.exits.clear();
        s.set(State::Offline, "cleared by the administrator");
        Ok(())
    }

    /// Stops everything, dependents before what they depend on, and waits
    /// (SIGKILL after each stop's timeout).
    pub fn shutdown(&mut self) {
        let mut order: Vec<usize> = (0..self.svcs.len()).collect();
        order.reverse();
        for i in order {
            if self.svcs[i].child.is_some() {
                self.stop(i, false);
                while self.svcs[i].child.is_some() {
                    self.enforce_stop_timeouts();
                    if !self.reap(i) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    }

    /// Sorts instances so each comes after what it requires (stable, by
    /// manifest order otherwise); a cycle is left as it is.
    pub fn order_by_dependencies(&mut self) {
        let n = self.svcs.len();
        let mut placed: Vec<usize> = Vec::with_capacity(n);
        for _ in 0..n {
            for i in 0..n {
                if placed.contains(&i) {
                    continue;
                }
                let deps_placed = self.dependencies_of(&self.svcs[i]).iter().all(|d| {
                    d.fmris.iter().all(|f| {
                        Fmri::parse(f)
                            .ok()
                            .and_then(|f| self.find(&f).ok())
                            .is_none_or(|j| j == i || placed.contains(&j))
                    })
                });
                if deps_placed {
                    placed.push(i);
                }
            }
        }
        for i in 0..n {
            if !placed.contains(&i) {
                placed.push(i);
            }
        }
        let mut old: Vec<Option<Svc>> = std::mem::take(&mut self.svcs)
            .into_iter()
            .map(Some)
            .collect();
        self.svcs = placed.into_iter().filter_map(|i| old[i].take()).collect();
    }
}

/// A user by name or number.
fn lookup_user(user: &str) -> Result<privlib::os::accounts::User, String> {
    let found = match user.parse::<u32>() {
        Ok(n) => privlib::os::accounts::user_by_uid(n),
        Err(_) => privlib::os::accounts::user_by_name(user),
    };
    found
        .map_err(|e| format!("looking up user {user}: {e}"))?
        .ok_or_else(|| format!("no user \"{user}\""))
}

/// A group's gid, by name or number.
fn lookup_group(g: &str) -> Result<u32, String> {
    let found = match g.parse::<u32>() {
        Ok(n) => privlib::os::accounts::group_by_gid(n),
        Err(_) => privlib::os::accounts::group_by_name(g),
    };
    Ok(found
        .map_err(|e| format!("looking up group {g}: {e}"))?
        .ok_or_else(|| format!("no group \"{g}\""))?
        .gid)
}

fn describe(st: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// Seconds since the epoch, as svcs prints STIME (UTC, HH:MM:SS).
pub fn humantime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
