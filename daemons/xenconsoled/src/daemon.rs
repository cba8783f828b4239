//! The event loop: one `poll` over the xenstored connection, the signal
//! fd and every console's fds.
//!
//! The store says which domains there are: at start and on each
//! `@introduceDomain` / `@releaseDomain` event the daemon lists
//! `/local/domain`, attaches every introduced domain it has no console
//! for (writing `console/tty` and `serial/0/tty`), and detaches every
//! console whose domain is no longer introduced (its pty and log closed).
//! A domid is reused at once (xend hands out the lowest free one), so a
//! release and the next introduce may land in one rescan: each console is
//! kept under the domain's identity (`/local/domain/N/vm`, `/vm/UUID`,
//! and its `name`), and one whose domid now names another domain is
//! closed and a new one attached (new tty keys, the new guest's log, its
//! own `serial/0/tcp` and `console/limit`).
//! Each domain's TCP serial state goes to `serial/0/tcp-state`
//! (`listening`, or `refused: ...`: see [`crate::console`]).
//! SIGHUP reopens every log; SIGTERM (or SIGINT) ends the loop.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use privlib::Policy;
use privlib::os::poll::{POLLIN, poll, pollfd, read_signal};
use xenstored::client::{Client, ClientError};
use xenstored::wire::XsError;

use crate::buffer::limit_from_store;
use crate::console::{Console, ConsoleSettings, Fd, TCP_STATE_KEY};
use crate::gate::{SerialListen, listen_addr};
use crate::logfile::LogFile;

/// Domains attached at most (a store listing more is logged and the rest
/// are left until some go).
pub const MAX_DOMAINS: usize = 1024;
/// The longest the loop sleeps without an event.
const IDLE: Duration = Duration::from_secs(1);

/// Why the loop ended other than by SIGTERM.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// xenstored failed or went away.
    #[error("xenstored: {0}")]
    Store(#[source] ClientError),
    /// `poll` failed.
    #[error("poll: {0}")]
    Poll(#[source] std::io::Error),
}

/// The daemon's state.
#[derive(Debug)]
pub struct Daemon {
    xs: Client,
    signals: OwnedFd,
    policy: Policy,
    settings: ConsoleSettings,
    listen: SerialListen,
    hv_log: Option<LogFile>,
    consoles: BTreeMap<u32, Console>,
    /// Each console's domain identity ([`Identity`]) when it was attached.
    ids: BTreeMap<u32, Identity>,
}

/// What tells one domain from the next one given the same domid: its
/// `vm` key (`/vm/UUID`, unique per domain) and its name, as read from
/// the store (`None`: no such key).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    vm: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
}

enum Ev {
    Store,
    Signal,
    Console(u32, Fd),
}

impl Daemon {
    /// A daemon over a connected store client; `signals` is a signalfd of
    /// SIGHUP, SIGTERM and SIGINT. Sets the watches.
    pub fn new(
        mut xs: Client,
        signals: OwnedFd,
        policy: Policy,
        settings: ConsoleSettings,
        listen: SerialListen,
        hv_log: Option<LogFile>,
    ) -> Result<Daemon, LoopError> {
        xs.watch("@introduceDomain", "introduce")
            .map_err(LoopError::Store)?;
        xs.watch("@releaseDomain", "release")
            .map_err(LoopError::Store)?;
        Ok(Daemon {
            xs,
            signals,
            policy,
            settings,
            listen,
            hv_log,
            consoles: BTreeMap::new(),
            ids: BTreeMap::new(),
        })
    }

    /// The consoles attached now.
    pub fn consoles(&self) -> impl Iterator<Item = &Console> {
        self.consoles.values()
    }

    fn hv(&mut self, line: &str) {
        if let Some(l) = &mut self.hv_log
            && let Err(e) = l.write(format!("{line}\n").as_bytes())
        {
            tracing::error!(log = %l.path().display(), "{e}; no longer logging");
            self.hv_log = None;
        }
    }

    /// Lists the domains and attaches or detaches consoles to match.
    pub fn rescan(&mut self) -> Result<(), LoopError> {
        let names = match self.xs.directory(0, "/local/domain") {
            Ok(n) => n,
            Err(ClientError::Xs(XsError::Enoent)) => Vec::new(),
            Err(e) => return Err(LoopError::Store(e)),
        };
        let mut live = Vec::new();
        for n in names {
            let Ok(domid) = n.parse::<u32>() else {
                continue;
            };
            if domid == 0 {
                continue;
            }
            if self
                .xs
                .is_domain_introduced(domid)
                .map_err(LoopError::Store)?
            {
                live.push(domid);
            }
        }
        let gone: Vec<u32> = self
            .consoles
            .keys()
            .filter(|d| !live.contains(d))
            .copied()
            .collect();
        for domid in gone {
            self.consoles.remove(&domid);
            self.ids.remove(&domid);
            tracing::info!(domid, "domain released: console closed");
            self.hv(&format!("domain {domid} released: console closed"));
        }
        for domid in live {
            let id = self.identity(domid)?;
            if self.consoles.contains_key(&domid) {
                if self.ids.get(&domid) == Some(&id) {
                    continue;
                }
                // Released and its domid given to a new domain between
                // two rescans: the old console is the old domain's.
                self.consoles.remove(&domid);
                self.ids.remove(&domid);
                tracing::info!(
                    domid,
                    "domid reused by a new domain: the old console closed"
                );
                self.hv(&format!(
                    "domain {domid} released: console closed (domid reused)"
                ));
            }
            if self.consoles.len() >= MAX_DOMAINS {
                tracing::error!(domid, "{MAX_DOMAINS} consoles open: not attached");
                continue;
            }
            self.attach(domid, id)?;
        }
        self.publish_tcp_states()
    }

    fn identity(&mut self, domid: u32) -> Result<Identity, LoopError> {
        let base = format!("/local/domain/{domid}");
        Ok(Identity {
            vm: self.read_opt(&format!("{base}/vm"))?,
            name: self.read_opt(&format!("{base}/name"))?,
        })
    }

    /// Writes each TCP serial state that changed to `serial/0/tcp-state`.
    fn publish_tcp_states(&mut self) -> Result<(), LoopError> {
        let states: Vec<(u32, String)> = self
            .consoles
            .iter_mut()
            .filter_map(|(d, c)| c.take_tcp_state().map(|s| (*d, s)))
            .collect();
        for (domid, state) in states {
            self.write_state(domid, &state)?;
        }
        Ok(())
    }

    fn write_state(&mut self, domid: u32, state: &str) -> Result<(), LoopError> {
        if state.starts_with("refused") {
            self.hv(&format!("domain {domid} serial tcp {state}"));
        }
        let key = format!("/local/domain/{domid}/{TCP_STATE_KEY}");
        match self.xs.write(0, &key, state.as_bytes()) {
            Ok(()) => Ok(()),
            // Released meanwhile: the next rescan closes it.
            Err(ClientError::Xs(e)) => {
                tracing::warn!(domid, "writing {TCP_STATE_KEY}: {e}");
                Ok(())
            }
            Err(e) => Err(LoopError::Store(e)),
        }
    }

    fn read_opt(&mut self, path: &str) -> Result<Option<Vec<u8>>, LoopError> {
        match self.xs.read(0, path) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Xs(XsError::Enoent)) => Ok(None),
            Err(e) => Err(LoopError::Store(e)),
        }
    }

    fn attach(&mut self, domid: u32, id: Identity) -> Result<(), LoopError> {
        let base = format!("/local/domain/{domid}");
        let name = self.read_opt(&format!("{base}/name"))?.unwrap_or_default();
        let name = String::from_utf8_lossy(&name).into_owned();
        let limit = limit_from_store(self.read_opt(&format!("{base}/console/limit"))?.as_deref());
        let tcp = match self.read_opt(&format!("{base}/serial/0/tcp"))? {
            None => None,
            Some(v) => match listen_addr(&v, self.listen) {
                Ok(a) => {
                    if !privlib::peer::is_loopback(&a) {
                        tracing::warn!(domid, addr = %a, "serial tcp on a non-loopback address: open to everyone who can reach it (--serial-listen any)");
                    }
                    Some(a)
                }
                Err(e) => {
                    tracing::warn!(domid, "{e}");
                    self.write_state(domid, &format!("refused: {e}"))?;
                    None
                }
            },
        };
        let c = match Console::attach(domid, &name, limit, tcp, &self.settings) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(domid, "console: {e}");
                return Ok(());
            }
        };
        let tty = c.tty.to_string_lossy().into_owned();
        for key in ["console/tty", "serial/0/tty"] {
            match self.xs.write(0, &format!("{base}/{key}"), tty.as_bytes()) {
                Ok(()) => {}
                // Released meanwhile: the next rescan closes it.
                Err(ClientError::Xs(e)) => tracing::warn!(domid, "writing {key}: {e}"),
                Err(e) => return Err(LoopError::Store(e)),
            }
        }
        tracing::info!(domid, name = %name, tty = %tty, limit, tcp = ?c.tcp_addr(), serial = %c.socket().display(), "console attached");
        self.hv(&format!("domain {domid} ({name}) attached: {tty}"));
        self.consoles.insert(domid, c);
        self.ids.insert(domid, id);
        Ok(())
    }

    /// Serves until SIGTERM or SIGINT (`Ok`), or until the store fails.
    pub fn run(&mut self) -> Result<(), LoopError> {
        self.rescan()?;
        let mut fds = Vec::new();
        let mut what = Vec::new();
        let mut console_fds = Vec::new();
        loop {
            // Events that arrived during a request are already read.
            let mut changed = false;
            while self.xs.take_event().is_some() {
                changed = true;
            }
            if changed {
                self.rescan()?;
                continue;
            }
            let now = Instant::now();
            let mut wake = now + IDLE;
            fds.clear();
            what.clear();
            fds.push(pollfd(self.xs.as_fd().as_raw_fd(), POLLIN));
            what.push(Ev::Store);
            fds.push(pollfd(self.signals.as_raw_fd(), POLLIN));
            what.push(Ev::Signal);
            for c in self.consoles.values_mut() {
                c.tick(now);
            }
            self.publish_tcp_states()?;
            for c in self.consoles.values_mut() {
                if let Some(d) = c.deadline(now) {
                    wake = wake.min(d);
                }
                console_fds.clear();
                c.poll_fds(now, &mut console_fds);
                for (p, domid, which) in console_fds.drain(..) {
                    fds.push(p);
                    what.push(Ev::Console(domid, which));
                }
            }
            let ms = wake.saturating_duration_since(now).as_millis();
            let ms = i32::try_from(ms).unwrap_or(i32::MAX).max(1);
            if poll(&mut fds, ms).map_err(LoopError::Poll)? == 0 {
                continue;
            }
            let now = Instant::now();
            for (p, w) in fds.iter().zip(&what) {
                if p.revents == 0 {
                    continue;
                }
                match w {
                    Ev::Store => {
                        if self
                            .xs
                            .next_event(Duration::from_millis(1))
                            .map_err(LoopError::Store)?
                            .is_some()
                        {
                            self.rescan()?;
                        }
                    }
                    Ev::Signal => {
                        while let Some(sig) = read_signal(&self.signals) {
                            if sig == libc::SIGHUP {
                                tracing::info!("SIGHUP: reopening the logs");
                                self.reopen_logs();
                            } else {
                                tracing::info!(signal = sig, "ending");
                                return Ok(());
                            }
                        }
                    }
                    Ev::Console(domid, which) => {
                        if let Some(c) = self.consoles.get_mut(domid) {
                            c.event(*which, p.revents, now, &self.policy);
                        }
                    }
                }
            }
        }
    }

    fn reopen_logs(&mut self) {
        if let Some(l) = &mut self.hv_log
            && let Err(e) = l.reopen()
        {
            tracing::error!(log = %l.path().display(), "reopening: {e}");
        }
        for c in self.consoles.values_mut() {
            c.reopen_log();
        }
    }
}
