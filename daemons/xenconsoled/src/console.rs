//! One domain's console: the device model's serial stream (a unix socket
//! in xend's run directory, `<xend run>/domains/N/serial`, qemu the
//! server), the pty whose slave is the domain's `console/tty`, its log,
//! its TCP serial, and the bounded buffers between them.
//!
//! Guest output goes to the log (all of it), and to the pty master and
//! each TCP client through buffers of at most `console/limit` bytes:
//! beyond that it is discarded, counted, and logged once per burst. What
//! the pty's client or a TCP client types goes to the serial socket
//! through a small buffer; when it is full, they are not read until it
//! drains. Over the rate limit, the serial socket is not read until the
//! next period.
//!
//! The TCP serial (`serial/0/tcp`): when its bind fails (someone else
//! listens on the port first, and could pose as the guest to a client),
//! the failure is logged as an error and the state is published for the
//! daemon to write to `serial/0/tcp-state` ([`TCP_STATE_KEY`]): `refused:
//! bind ADDR: WHY; trying again` while it retries (every [`TCP_RETRY`],
//! at most [`TCP_MAX_TRIES`] times), `refused: ...; gave up` after, and
//! `listening` once it listens. A client should trust the port only when
//! the state says `listening`.

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use privlib::Policy;
use privlib::os::poll::{POLLIN, POLLOUT, PollFd, pollfd};

use crate::buffer::Bounded;
use crate::logfile::{LogFile, LogLimits, guest_log_name};
use crate::rate::RateLimit;
use crate::tcp::TcpServe;

/// Bytes typed by clients that may wait for the serial socket.
pub const TO_GUEST: usize = 64 * 1024;
/// How often a missing serial socket is tried again.
pub const RETRY: Duration = Duration::from_millis(250);
/// How many times in a row (one [`RETRY`] apart: a minute) before the
/// daemon stops trying a domain's serial socket.
pub const MAX_TRIES: u32 = 240;
/// The store key beside `serial/0/tcp` saying whether xenconsoled listens
/// on that address (`listening`) or could not (`refused: ...`).
pub const TCP_STATE_KEY: &str = "serial/0/tcp-state";
/// How often a TCP serial whose bind failed is tried again.
pub const TCP_RETRY: Duration = Duration::from_secs(1);
/// How many binds in a row (one [`TCP_RETRY`] apart: five minutes) before
/// the daemon stops trying a domain's TCP serial.
pub const TCP_MAX_TRIES: u32 = 300;
/// Bytes read from the serial socket at once.
const CHUNK: usize = 64 * 1024;

/// What a console needs from the daemon's settings.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// xend's run directory (`--xend-run`): the serial socket's only source.
    pub xend_run: PathBuf,
    /// Where guest logs go, when they are kept.
    pub guest_log_dir: Option<PathBuf>,
    /// The logs' bounds and stamps.
    pub log_limits: LogLimits,
    /// Bytes per second read from one domain (0: no limit).
    pub rate_limit: u64,
    /// The pty slave's owner (the daemon's own uid and gid).
    pub owner: (u32, u32),
}

/// The serial stream's state.
#[derive(Debug)]
enum Serial {
    /// Not connected: the next try, and how many failed in a row.
    Waiting { next: Instant, tries: u32 },
    /// Connected (non-blocking).
    Up(UnixStream),
    /// Tried [`MAX_TRIES`] times in a row.
    GaveUp,
}

/// A TCP serial whose bind failed: when to try again, and how often it
/// failed in a row.
#[derive(Debug)]
struct TcpPending {
    addr: SocketAddr,
    next: Instant,
    tries: u32,
}

/// Which of a console's fds a pollfd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fd {
    /// The serial socket.
    Serial,
    /// The pty master.
    Master,
    /// The TCP serial listener.
    Listener,
    /// TCP client `i`.
    Client(usize),
}

/// One domain's console.
#[derive(Debug)]
pub struct Console {
    /// The domain.
    pub domid: u32,
    /// The pty slave's path, as written to the store.
    pub tty: PathBuf,
    socket: PathBuf,
    serial: Serial,
    master: File,
    _slave: OwnedFd,
    to_pty: Bounded,
    to_guest: Bounded,
    log: Option<LogFile>,
    rate: RateLimit,
    tcp: Option<TcpServe>,
    tcp_pending: Option<TcpPending>,
    /// A TCP serial state not yet taken by the daemon for the store.
    tcp_state: Option<String>,
    limit: usize,
    discarded: u64,
    burst: bool,
}

/// Sets O_NONBLOCK on `fd` without `unsafe` here: std's socket type sets
/// it with FIONBIO, an ioctl every kind of file takes (the VFS handles it
/// before the driver), the pty master included.
fn nonblocking(fd: OwnedFd) -> io::Result<OwnedFd> {
    let s = UnixStream::from(fd);
    s.set_nonblocking(true)?;
    Ok(OwnedFd::from(s))
}

impl Console {
    /// Opens domain `domid`'s pty, log and TCP serial (`tcp`), and starts
    /// trying its serial socket. `name` is the store's (the log's name).
    pub fn attach(
        domid: u32,
        name: &str,
        limit: usize,
        tcp: Option<SocketAddr>,
        s: &ConsoleSettings,
    ) -> io::Result<Console> {
        let pty = privlib::os::tty::open_pty(s.owner.0, s.owner.1)?;
        let master = File::from(nonblocking(pty.master)?);
        let log = match &s.guest_log_dir {
            Some(d) => Some(LogFile::open(
                &d.join(guest_log_name(name, domid)),
                s.log_limits,
            )?),
            None => None,
        };
        let now = Instant::now();
        let mut c = Console {
            domid,
            tty: pty.path,
            socket: s.xend_run.join(format!("domains/{domid}/serial")),
            serial: Serial::Waiting {
                next: now,
                tries: 0,
            },
            master,
            _slave: pty.slave,
            to_pty: Bounded::new(limit),
            to_guest: Bounded::new(TO_GUEST),
            log,
            rate: RateLimit::new(s.rate_limit, now),
            tcp: None,
            tcp_pending: tcp.map(|addr| TcpPending {
                addr,
                next: now,
                tries: 0,
            }),
            tcp_state: None,
            limit,
            discarded: 0,
            burst: false,
        };
        c.try_tcp(now);
        Ok(c)
    }

    /// Binds the TCP serial when a bind is due; on failure, an error
    /// logged and the state set for the store.
    fn try_tcp(&mut self, now: Instant) {
        let Some(p) = &mut self.tcp_pending else {
            return;
        };
        if now < p.next {
            return;
        }
        let addr = p.addr;
        match TcpServe::bind(addr, self.limit) {
            Ok(t) => {
                if p.tries > 0 {
                    tracing::info!(domid = self.domid, %addr, tries = p.tries, "serial tcp: listening at last");
                }
                self.tcp = Some(t);
                self.tcp_pending = None;
                self.tcp_state = Some("listening".into());
            }
            Err(e) => {
                p.tries += 1;
                let why = match e.kind() {
                    io::ErrorKind::AddrInUse => "address in use".to_string(),
                    _ => e.to_string(),
                };
                if p.tries >= TCP_MAX_TRIES {
                    tracing::error!(domid = self.domid, %addr, "serial tcp: bind {addr}: {why}: gave up after {TCP_MAX_TRIES} tries; whoever listens there is not this console");
                    self.tcp_pending = None;
                    self.tcp_state = Some(format!("refused: bind {addr}: {why}; gave up"));
                } else {
                    p.next = now + TCP_RETRY;
                    // The state is the same text at every retry.
                    if p.tries == 1 {
                        tracing::error!(domid = self.domid, %addr, "serial tcp: bind {addr}: {why}; whoever listens there is not this console ({TCP_STATE_KEY} says so); trying again every {TCP_RETRY:?}");
                        self.tcp_state = Some(format!("refused: bind {addr}: {why}; trying again"));
                    }
                }
            }
        }
    }

    /// The TCP serial's new state for `serial/0/tcp-state`, once each
    /// time it changes (none when the domain has no TCP serial).
    pub fn take_tcp_state(&mut self) -> Option<String> {
        self.tcp_state.take()
    }

    /// The TCP serial's address, when it listens.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().map(|t| t.addr)
    }

    /// The serial socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The fds to poll now and for what.
    pub fn poll_fds(&mut self, now: Instant, out: &mut Vec<(PollFd, u32, Fd)>) {
        let mut add = |fd: RawFd, ev: i16, which: Fd| {
            if ev != 0 {
                out.push((pollfd(fd, ev), self.domid, which));
            }
        };
        if let Serial::Up(s) = &self.serial {
            let mut ev = 0;
            if self.rate.budget(now) > 0 {
                ev |= POLLIN;
            }
            if !self.to_guest.is_empty() {
                ev |= POLLOUT;
            }
            add(s.as_raw_fd(), ev, Fd::Serial);
        }
        let mut ev = 0;
        if self.to_guest.room() > 0 {
            ev |= POLLIN;
        }
        if !self.to_pty.is_empty() {
            ev |= POLLOUT;
        }
        add(self.master.as_raw_fd(), ev, Fd::Master);
        if let Some(t) = &self.tcp {
            add(t.listener.as_raw_fd(), POLLIN, Fd::Listener);
            for (i, c) in t.clients.iter().enumerate() {
                let mut ev = 0;
                if self.to_guest.room() > 0 {
                    ev |= POLLIN;
                }
                if !c.out.is_empty() {
                    ev |= POLLOUT;
                }
                add(c.stream.as_raw_fd(), ev, Fd::Client(i));
            }
        }
    }

    /// When this console next needs the loop without an fd event.
    pub fn deadline(&mut self, now: Instant) -> Option<Instant> {
        let serial = match &self.serial {
            Serial::Waiting { next, .. } => Some(*next),
            Serial::Up(_) => self.rate.resume_at(now),
            Serial::GaveUp => None,
        };
        let tcp = self.tcp_pending.as_ref().map(|p| p.next);
        match (serial, tcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tries the serial socket, and a TCP serial whose bind failed, when
    /// they are due.
    pub fn tick(&mut self, now: Instant) {
        self.try_tcp(now);
        let Serial::Waiting { next, tries } = self.serial else {
            return;
        };
        if now < next {
            return;
        }
        match UnixStream::connect(&self.socket).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(s) => {
                tracing::info!(domid = self.domid, socket = %self.socket.display(), "serial attached");
                self.serial = Serial::Up(s);
            }
            Err(e) if tries + 1 >= MAX_TRIES => {
                tracing::error!(domid = self.domid, socket = %self.socket.display(), "serial: {e}; stopped trying after {MAX_TRIES} tries");
                self.serial = Serial::GaveUp;
            }
            Err(_) => {
                self.serial = Serial::Waiting {
                    next: now + RETRY,
                    tries: tries + 1,
                };
            }
        }
    }

    /// Handles `revents` on `which`.
    pub fn event(&mut self, which: Fd, revents: i16, now: Instant, policy: &Policy) {
        match which {
            Fd::Serial => self.serial_event(revents, now),
            Fd::Master => {
                if revents & POLLOUT != 0 {
                    self.flush_pty();
                }
                if revents & !POLLOUT != 0 {
                    self.read_master();
                }
            }
            Fd::Listener => {
                if let Some(t) = &mut self.tcp {
                    t.accept(self.domid, policy);
                }
            }
            Fd::Client(i) => self.client_event(i, revents),
        }
        self.flush_serial();
    }

    fn serial_event(&mut self, revents: i16, now: Instant) {
        if revents & POLLOUT != 0 {
            self.flush_serial();
        }
        if revents & !POLLOUT == 0 {
            return;
        }
        let budget = self.rate.budget(now);
        if budget == 0 {
            // Over the rate limit (a hang-up is seen next period).
            return;
        }
        let Serial::Up(s) = &mut self.serial else {
            return;
        };
        let mut buf = vec![0u8; CHUNK.min(budget)];
        match s.read(&mut buf) {
            Ok(0) => self.serial_lost(now, "closed by the device model"),
            Ok(n) => {
                self.rate.spend(n);
                self.from_guest(&buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => self.serial_lost(now, &e.to_string()),
        }
    }

    fn serial_lost(&mut self, now: Instant, why: &str) {
        tracing::info!(domid = self.domid, "serial: {why}; trying again");
        // qemu listens again once its client has gone.
        self.serial = Serial::Waiting {
            next: now + RETRY,
            tries: 0,
        };
    }

    /// Guest output: to the log, then to the pty and TCP clients.
    pub fn from_guest(&mut self, data: &[u8]) {
        if let Some(l) = &mut self.log
            && let Err(e) = l.write(data)
        {
            tracing::error!(domid = self.domid, log = %l.path().display(), "log: {e}; no longer logging");
            self.log = None;
        }
        let lost = self.to_pty.push(data);
        if lost > 0 {
            if !self.burst {
                tracing::warn!(
                    domid = self.domid,
                    "console buffer full ({} bytes): discarding guest output until it drains",
                    self.to_pty.len()
                );
                self.burst = true;
            }
            self.discarded += u64::try_from(lost).unwrap_or(u64::MAX);
        }
        if let Some(t) = &mut self.tcp {
            t.push(self.domid, data);
            for i in (0..t.clients.len()).rev() {
                if !t.flush(i) {
                    t.drop_client(self.domid, i);
                }
            }
        }
        self.flush_pty();
    }

    fn flush_pty(&mut self) {
        if let Err(e) = self.to_pty.write_to(&mut self.master) {
            tracing::warn!(domid = self.domid, "pty: {e}");
        }
        if self.burst && self.to_pty.is_empty() {
            tracing::info!(
                domid = self.domid,
                discarded = self.discarded,
                "console buffer drained"
            );
            self.burst = false;
        }
    }

    fn read_master(&mut self) {
        let mut buf = [0u8; 4096];
        let want = self.to_guest.room().min(buf.len());
        if want == 0 {
            return;
        }
        match self.master.read(&mut buf[..want]) {
            Ok(n) => {
                self.to_guest.push_all(&buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => tracing::warn!(domid = self.domid, "pty: {e}"),
        }
    }

    fn client_event(&mut self, i: usize, revents: i16) {
        let Some(t) = &mut self.tcp else {
            return;
        };
        let mut alive = true;
        if revents & POLLOUT != 0 {
            alive = t.flush(i);
        }
        if alive && revents & !POLLOUT != 0 {
            alive = t.read(i, &mut self.to_guest);
        }
        if !alive {
            t.drop_client(self.domid, i);
        }
    }

    fn flush_serial(&mut self) {
        if let Serial::Up(s) = &mut self.serial
            && let Err(e) = self.to_guest.write_to(s)
        {
            tracing::info!(domid = self.domid, "serial write: {e}");
        }
    }

    /// Closes and opens the log again (SIGHUP).
    pub fn reopen_log(&mut self) {
        if let Some(l) = &mut self.log
            && let Err(e) = l.reopen()
        {
            tracing::error!(domid = self.domid, log = %l.path().display(), "reopening: {e}");
        }
    }

    /// Guest bytes discarded because the buffer toward the pty was full.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
