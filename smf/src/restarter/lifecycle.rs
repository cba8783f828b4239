//! One round of the restarter: reap what ended, stop what is not wanted,
//! start what is ready; and the shutdown.

use std::fs::OpenOptions;
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

use super::state::{BURST, BURST_WINDOW, Restarter, State, humantime};
use crate::manifest::Exec;

impl Restarter {
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
                        self.svcs[i].set(State::Offline, why.to_string());
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

    /// Instance `i`'s refresh method, run as SMF's `svcadm refresh` runs
    /// it once the properties are read again: `:kill -SIG` sends SIG to
    /// its running process (xenconsoled reopens its logs on SIGHUP); a
    /// command is not run (svc-startd tracks one process per service, as
    /// with stop) and the service log says so; none, or `:true`, does
    /// nothing more.
    pub fn refresh_method(&mut self, i: usize) {
        let refresh = self.svcs[i].r.method("refresh").cloned();
        let logdir = self.cfg.logdir.clone();
        let s = &mut self.svcs[i];
        let (Some(m), Some(child)) = (refresh, &s.child) else {
            return;
        };
        match &m.exec {
            Exec::Kill(sig) => {
                let _ = child.kill(*sig);
            }
            Exec::Command(c) => {
                if let Ok(mut f) = OpenOptions::new().append(true).open(s.log_path(&logdir)) {
                    use std::io::Write;
                    let _ = writeln!(
                        f,
                        "[ {} refresh method \"{c}\" not run: svc-startd runs only :kill refresh methods ]",
                        humantime(SystemTime::now())
                    );
                }
            }
            Exec::True => {}
        }
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
        // A pidfd is readable once its process has ended.
        if !privlib::os::poll::readable(child.pidfd().as_fd(), 0) {
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
}

fn describe(st: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "ended".into(),
    }
}
