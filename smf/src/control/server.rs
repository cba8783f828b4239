//! The connections' side of the socket and the restarter loop's inbox.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use privlib::names::xvm_control;
use privlib::{Policy, Slot, Ucred, Verdict, require_any};

use super::error::{Answer, ControlError};
use super::limits::{ANSWER_TIMEOUT, LIMITS};
use super::verb::{Access, Request, Verb};
use super::wire::{answer, read_request};

/// The accept-time decision for a peer: served (reserved slots for
/// `xvm_control`), or refused naming what it lacks. One audited decision.
pub fn admit(policy: &Policy, cred: &Ucred, endpoint: &str) -> Verdict {
    match require_any(policy, cred, endpoint, &Access::Read.privileges()) {
        Ok(g) if g.privilege == xvm_control() => Verdict::Reserved,
        Ok(_) => Verdict::Ordinary,
        Err(d) => Verdict::Refused(d.message()),
    }
}

/// Whether `cred` may send `verb` (every peer goes through the policy,
/// root too: the shipped policy grants uid 0 by `uids = [0]`; session
/// mode grants the owner).
pub fn authorize(
    policy: &Policy,
    cred: &Ucred,
    endpoint: &str,
    verb: Verb,
) -> Result<(), ControlError> {
    require_any(policy, cred, endpoint, &verb.access().privileges())
        .map(drop)
        .map_err(ControlError::Denied)
}

/// loop; [`Job::answer`] sends the result back to its connection.
#[derive(Debug)]
pub struct Job {
    /// The request.
    pub request: Request,
    reply: SyncSender<Answer>,
    /// Past this its client has been told there was no answer: the job
    /// is dropped, never done late.
    deadline: std::time::Instant,
}

impl Job {
    /// Gives the result to the waiting connection (gone: nothing to do).
    pub fn answer(self, result: Answer) {
        let _ = self.reply.try_send(result);
    }
}

/// The restarter loop's end of the channel: poll [`Inbox::fd`], then
/// take the [`Inbox::jobs`].
#[derive(Debug)]
pub struct Inbox {
    jobs: Receiver<Job>,
    wake: UnixStream,
}

impl Inbox {
    /// Readable when jobs may be waiting.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// The jobs waiting now (never blocks); jobs whose client has
    /// already been answered [`ControlError::NoAnswer`] are dropped.
    pub fn jobs(&self) -> Vec<Job> {
        let mut sink = [0u8; 256];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        let now = std::time::Instant::now();
        self.jobs.try_iter().filter(|j| now < j.deadline).collect()
    }
}

/// The connections' side: decides at accept, reads and authorizes each
/// request on the connection's thread, hands it to the [`Inbox`].
#[derive(Debug, Clone)]
pub struct ControlServer {
    policy: Arc<Policy>,
    endpoint: Arc<str>,
    jobs: SyncSender<Job>,
    wake: Arc<UnixStream>,
}

impl ControlServer {
    /// A server for `policy` on the socket named `endpoint` (for the
    /// audit), and the loop's [`Inbox`].
    pub fn new(policy: Policy, endpoint: &str) -> std::io::Result<(ControlServer, Inbox)> {
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        // At most one request per served connection is ever waiting, and
        // the gate bounds those: the queue can never fill.
        let (jobs, rx) = std::sync::mpsc::sync_channel(LIMITS.total);
        Ok((
            ControlServer {
                policy: Arc::new(policy),
                endpoint: endpoint.into(),
                jobs,
                wake: Arc::new(wake),
            },
            Inbox {
                jobs: rx,
                wake: wake_rx,
            },
        ))
    }

    /// The gate's verdict on a new peer (see [`admit`]).
    pub fn decide(&self, cred: &Ucred) -> Verdict {
        admit(&self.policy, cred, &self.endpoint)
    }

    /// Serves one admitted connection, on its own thread: reads and
    /// authorizes the request, waits for the restarter's loop to handle
    /// it, writes the answer; the slot is given back when this returns.
    pub fn serve(&self, stream: UnixStream, cred: Ucred, slot: Slot) {
        let result = read_request(&stream)
            .and_then(|req| {
                authorize(&self.policy, &cred, &self.endpoint, req.verb)?;
                Ok(req)
            })
            .and_then(|req| self.ask_loop(req));
        answer(&stream, result);
        drop(slot);
    }

    fn ask_loop(&self, request: Request) -> Answer {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        // A little short of the client's wait, so a job is either done
        // and answered, or dropped and answered NoAnswer: never both.
        let deadline =
            std::time::Instant::now() + ANSWER_TIMEOUT.saturating_sub(Duration::from_millis(500));
        match self.jobs.try_send(Job {
            request,
            reply,
            deadline,
        }) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => return Err(ControlError::Shutdown),
            // Cannot happen (see `new`); answered rather than waited for.
            Err(TrySendError::Full(_)) => return Err(ControlError::NoAnswer),
        }
        // A full wake socket already has a wake-up waiting.
        let _ = (&*self.wake).write(&[1]);
        match answer.recv_timeout(ANSWER_TIMEOUT) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(ControlError::NoAnswer),
            Err(RecvTimeoutError::Disconnected) => Err(ControlError::Shutdown),
        }
    }
}
