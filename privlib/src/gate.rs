//! The gate at accept: which connections get a slot, and how the others
//! are refused without costing the peers who are served anything.
//!
//! Every daemon socket is mode 0666, so every local user can connect, as
//! often as they like. The gate therefore decides *at accept*, from the
//! kernel's record of the peer ([`crate::Ucred`]), before the connection
//! takes a slot:
//!
//! - A peer the daemon refuses ([`Verdict::Refused`]) is handed to the
//!   refuser thread. It waits at most [`GateLimits::first_request`] for
//!   the peer's first request, answers it with the protocol's own error
//!   ([`Refusal::reply`]) and closes. Refused peers waiting there are
//!   bounded in total and per uid; past either bound the refusal is sent
//!   at once without waiting. They never count against the slots below.
//! - A served peer takes a [`Slot`], given back when the slot is dropped.
//!   Slots are bounded per uid ([`GateLimits::per_uid`]) and in total,
//!   and the last [`GateLimits::reserve`] of them are only for peers the
//!   daemon marks [`Verdict::Reserved`] (those holding `xvm_control`: the
//!   daemons themselves and root), so they still get in when ordinary
//!   peers have filled everything else. A peer over a bound is refused
//!   like any other, with a reason that says which bound.
//!
//! The gate is shared between threads (`&Gate` is enough to admit);
//! daemons with their own event loop call [`Gate::admit`] on each
//! accepted stream, threaded ones use [`crate::listener::UnixServer::serve_gated`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::sys::poll::{POLLERR, POLLHUP, POLLIN, poll, pollfd};

/// The bounds of a [`Gate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateLimits {
    /// Connections served at once, the reserve included.
    pub total: usize,
    /// Connections one uid may have served at once (ordinary peers).
    pub per_uid: usize,
    /// Slots of `total` that only [`Verdict::Reserved`] peers may take.
    pub reserve: usize,
    /// How long a refused peer may take to send its first request before
    /// it is answered anyway and closed.
    pub first_request: Duration,
    /// Refused peers waiting for their first request, in total.
    pub refusals_pending: usize,
    /// Refused peers of one uid waiting for their first request.
    pub refusals_per_uid: usize,
    /// How long a served connection may stay silent (threaded servers set
    /// it as the read and write timeout).
    pub idle: Duration,
}

impl Default for GateLimits {
    fn default() -> GateLimits {
        GateLimits {
            total: 1024,
            per_uid: 64,
            reserve: 64,
            first_request: Duration::from_secs(1),
            refusals_pending: 256,
            refusals_per_uid: 16,
            idle: Duration::from_secs(60),
        }
    }
}

impl GateLimits {
    /// Open files a daemon needs for these bounds: each served peer costs
    /// two (its socket and the duplicate its `Ucred` keeps), each waiting
    /// refusal one, plus room for everything else the daemon opens.
    pub fn files_needed(&self) -> u64 {
        let n = self
            .total
            .saturating_mul(2)
            .saturating_add(self.refusals_pending)
            .saturating_add(256);
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// What the daemon decided about a peer (through `require_any`, which
/// audits the decision).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Served, and may take a reserved slot (`xvm_control`).
    Reserved,
    /// Served within the ordinary bounds.
    Ordinary,
    /// Refused; the text names what is missing.
    Refused(String),
}

/// How a protocol says no.
pub trait Refusal: Send + Sync + 'static {
    /// Whether `first` holds enough of the peer's first request to answer
    /// it (for XenStore, its 16-byte header; for a line protocol, a
    /// newline). The refuser stops waiting then.
    fn complete(&self, first: &[u8]) -> bool;
    /// The bytes that refuse the request that starts with `first` (which
    /// may be empty, or cut anywhere), for the reason `why`.
    fn reply(&self, first: &[u8], why: &str) -> Vec<u8>;
}

/// Bytes of a refused peer's first request kept to answer it.
const FIRST_REQUEST_MAX: usize = 4096;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_uid: HashMap<u32, usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The counts stay consistent across a panicking holder: every change
    // is one increment or decrement.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Counts {
    fn add(&mut self, uid: u32) {
        self.total += 1;
        *self.by_uid.entry(uid).or_insert(0) += 1;
    }

    fn remove(&mut self, uid: u32) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_uid.get_mut(&uid) {
            *n -= 1;
            if *n == 0 {
                self.by_uid.remove(&uid);
            }
        }
    }

    fn of(&self, uid: u32) -> usize {
        self.by_uid.get(&uid).copied().unwrap_or(0)
    }
}

/// A served connection's place; dropping it gives the place back.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.counts).remove(self.uid);
    }
}

/// A refused peer waiting for its first request.
struct Pending {
    stream: UnixStream,
    uid: u32,
    why: String,
    first: Vec<u8>,
    deadline: Instant,
}

struct Refuser {
    refusal: Arc<dyn Refusal>,
    /// Refused peers not yet taken by the refuser thread.
    incoming: Mutex<Vec<Pending>>,
    /// Waiting refusals (incoming and the thread's), by uid.
    waiting: Mutex<Counts>,
    /// Written to wake the refuser thread.
    wake: UnixStream,
}

/// The gate of one or more listening sockets; see the module text.
pub struct Gate {
    limits: GateLimits,
    served: Arc<Mutex<Counts>>,
    refuser: Arc<Refuser>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("limits", &self.limits)
            .field("served", &lock(&self.served).total)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate with `limits` that refuses in the protocol of `refusal`.
    /// Starts the refuser thread (call it after `init_daemon_priv`, which
    /// wants a process with one thread) and raises the open-files limit
    /// to what the bounds need ([`GateLimits::files_needed`]).
    pub fn new(limits: GateLimits, refusal: impl Refusal) -> io::Result<Gate> {
        let have = crate::sys::rlimit::raise_nofile(limits.files_needed())?;
        if have < limits.files_needed() {
            tracing::warn!(
                have,
                need = limits.files_needed(),
                "the open-files limit is below what the connection bounds need"
            );
        }
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let refuser = Arc::new(Refuser {
            refusal: Arc::new(refusal),
            incoming: Mutex::new(Vec::new()),
            waiting: Mutex::new(Counts::default()),
            wake,
        });
        let r = Arc::clone(&refuser);
        std::thread::Builder::new()
            .name("refuser".into())
            .spawn(move || refuse_loop(&r, &wake_rx))?;
        Ok(Gate {
            limits,
            served: Arc::new(Mutex::new(Counts::default())),
            refuser,
        })
    }

    /// The bounds.
    pub fn limits(&self) -> &GateLimits {
        &self.limits
    }

    /// Connections served now.
    pub fn served(&self) -> usize {
        lock(&self.served).total
    }

    /// Decides on an accepted `stream` whose peer runs as `uid`: a slot
    /// for a served peer (with the stream back), or `None` when it was
    /// refused (by `verdict` or a bound) and handed to the refuser.
    pub fn admit(
        &self,
        stream: UnixStream,
        uid: u32,
        verdict: Verdict,
    ) -> Option<(UnixStream, Slot)> {
        let reserved = match verdict {
            Verdict::Refused(why) => {
                self.refuse(stream, uid, why);
                return None;
            }
            Verdict::Reserved => true,
            Verdict::Ordinary => false,
        };
        let full = {
            let mut c = lock(&self.served);
            let l = &self.limits;
            let full = if reserved {
                (c.total >= l.total)
                    .then(|| format!("the daemon serves its limit of {} connections", l.total))
            } else if c.total >= l.total.saturating_sub(l.reserve) {
                Some(format!(
                    "the daemon serves its limit of {} ordinary connections",
                    l.total.saturating_sub(l.reserve)
                ))
            } else if c.of(uid) >= l.per_uid {
                Some(format!(
                    "uid {uid} already has {} connections, the limit per user",
                    l.per_uid
                ))
            } else {
                None
            };
            if full.is_none() {
                c.add(uid);
            }
            full
        };
        match full {
            Some(why) => {
                tracing::warn!(uid, "connection refused: {why}");
                self.refuse(stream, uid, why);
                None
            }
            None => Some((
                stream,
                Slot {
                    counts: Arc::clone(&self.served),
                    uid,
                },
            )),
        }
    }

    /// Refuses `stream`: after its first request when the refuser has
    /// room for one more of `uid`, at once otherwise.
    pub fn refuse(&self, stream: UnixStream, uid: u32, why: String) {
        let r = &self.refuser;
        let room = {
            let mut w = lock(&r.waiting);
            let room =
                w.total < self.limits.refusals_pending && w.of(uid) < self.limits.refusals_per_uid;
            if room {
                w.add(uid);
            }
            room
        };
        if !room || stream.set_nonblocking(true).is_err() {
            answer(&stream, r.refusal.reply(&[], &why));
            if room {
                lock(&r.waiting).remove(uid);
            }
            return;
        }
        lock(&r.incoming).push(Pending {
            stream,
            uid,
            why,
            first: Vec::new(),
            deadline: Instant::now() + self.limits.first_request,
        });
        // A full wake pipe already has a wake-up waiting.
        let _ = (&r.wake).write(&[1]);
    }
}

/// Sends a refusal without waiting (the socket buffer of a new
/// connection takes a short reply whole), then closes.
fn answer(stream: &UnixStream, reply: Vec<u8>) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write(&reply);
    // Unread bytes left in our receive queue would reset the peer before
    // it reads the refusal; take what is there.
    let mut sink = [0u8; 1024];
    for _ in 0..16 {
        match (&*stream).read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

fn refuse_loop(r: &Refuser, wake_rx: &UnixStream) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut buf = [0u8; FIRST_REQUEST_MAX];
    loop {
        pending.append(&mut lock(&r.incoming));
        let now = Instant::now();
        let timeout = pending
            .iter()
            .map(|p| p.deadline.saturating_duration_since(now))
            .min()
            .map_or(-1, |d| {
                i32::try_from(d.as_millis().saturating_add(1)).unwrap_or(i32::MAX)
            });
        let mut fds = vec![pollfd(wake_rx.as_raw_fd(), POLLIN)];
        fds.extend(pending.iter().map(|p| pollfd(p.stream.as_raw_fd(), POLLIN)));
        if poll(&mut fds, timeout).is_err() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if fds[0].revents & POLLIN != 0 {
            while matches!((&*wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        }
        let now = Instant::now();
        let mut done = Vec::new();
        for (i, f) in fds[1..].iter().enumerate() {
            let p = &mut pending[i];
            let mut finished = now >= p.deadline;
            if f.revents & (POLLIN | POLLHUP | POLLERR) != 0 {
                let room = FIRST_REQUEST_MAX - p.first.len();
                match (&p.stream).read(&mut buf[..room]) {
                    Ok(0) => finished = true,
                    Ok(n) => {
                        p.first.extend_from_slice(&buf[..n]);
                        finished |=
                            r.refusal.complete(&p.first) || p.first.len() >= FIRST_REQUEST_MAX;
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => finished = true,
                }
            }
            if finished {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let p = pending.swap_remove(i);
            answer(&p.stream, r.refusal.reply(&p.first, &p.why));
            lock(&r.waiting).remove(p.uid);
        }
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
