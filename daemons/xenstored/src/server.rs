//! The event loop: sockets, the gate, framing, bounded buffers.
//!
//! One thread polls the listening sockets and every connection. A new
//! connection gets its role once, at accept, from its credentials: the
//! device-model uid of an introduced domain acts as that domain; anyone
//! else must hold `xvm_control` or `virt_manage` ([`privlib::require_any`],
//! audited). privlib's [`Gate`] then decides whether it gets a slot: a peer
//! holding neither never does; the gate's refuser waits at most a second
//! for its first frame, answers EACCES ([`XsRefusal`]) and closes it.
//! Served connections are bounded per uid and in total, with a reserve
//! for `xvm_control` peers (the daemons, root).
//! Each request's changes are journaled before its reply is queued.
//! Output is bounded per connection: a client that stops reading its
//! replies is not read from; one that lets watch events pile up past the
//! bound is cut off, with a log line.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use privlib::listener::UnixServer;
use privlib::names::{virt_manage, xvm_control};
use privlib::os::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, poll, pollfd};
use privlib::peer::Ucred;
use privlib::{Denied, Gate, GateLimits, Policy, Refusal, Slot, Verdict, require_any};

use crate::daemon::{Daemon, Role};
use crate::journal::Journal;
use crate::wire::{Frame, FrameReader, HEADER_LEN, Header, MsgType, XsError};

/// Bytes of replies and events one connection may have waiting.
pub const MAX_PENDING_OUT: usize = 1 << 20;
/// Connections taken from one listener per turn of the loop.
const ACCEPT_BATCH: usize = 64;

/// How XenStore refuses a peer: EACCES for its first request (with that
/// request's ids when its header arrived), then the connection closes.
#[derive(Clone, Copy, Debug, Default)]
pub struct XsRefusal;

impl Refusal for XsRefusal {
    fn complete(&self, first: &[u8]) -> bool {
        first.len() >= HEADER_LEN
    }

    fn reply(&self, first: &[u8], _why: &str) -> Vec<u8> {
        // The reason is in the audit record; the protocol has its errno.
        let (req_id, tx_id) = match first
            .get(..HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
        {
            Some(h) => {
                let h = Header::parse(h);
                (h.req_id, h.tx_id)
            }
            None => (0, 0),
        };
        let req = Frame {
            ty: MsgType::Error.number(),
            req_id,
            tx_id,
            payload: Vec::new(),
        };
        Frame::error(&req, XsError::Eacces).to_bytes()
    }
}

/// The uids of device models: domain N runs as `base + N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmUids {
    /// The uid of domain 0's slot (never used: dom0 has no device model).
    pub base: u32,
    /// How many domids the range covers.
    pub count: u32,
}

impl DmUids {
    /// The domid whose device model runs as `uid`, if any.
    pub fn domid(&self, uid: u32) -> Option<u32> {
        uid.checked_sub(self.base)
            .filter(|d| *d > 0 && *d < self.count)
    }
}

struct Io {
    stream: UnixStream,
    reader: FrameReader,
    out: Vec<u8>,
    /// Requests read but not yet served, because the client has not read
    /// the replies before them ([`MAX_PENDING_OUT`]); at most one read's
    /// worth.
    backlog: VecDeque<Frame>,
    /// A frame too long came after the backlog: close once it is served.
    too_long: bool,
    close_after_flush: bool,
    /// Its place among the served connections, given back on close.
    _slot: Slot,
}

/// One listening socket.
pub struct Endpoint {
    /// The socket.
    pub server: UnixServer,
    /// `socket_ro`: writes get EROFS.
    pub read_only: bool,
}

/// The running daemon.
pub struct Server {
    /// The state.
    pub daemon: Daemon,
    journal: Option<Journal>,
    policy: Policy,
    dm: DmUids,
    endpoints: Vec<Endpoint>,
    io: HashMap<u64, Io>,
    next_id: u64,
    trace: Option<std::fs::File>,
    limits: GateLimits,
    gate: Option<Gate>,
}

impl Server {
    /// A server over `daemon`, answering on `endpoints`.
    pub fn new(
        daemon: Daemon,
        journal: Option<Journal>,
        policy: Policy,
        dm: DmUids,
        endpoints: Vec<Endpoint>,
    ) -> Server {
        Server {
            daemon,
            journal,
            policy,
            dm,
            endpoints,
            io: HashMap::new(),
            next_id: 1,
            trace: None,
            limits: GateLimits::default(),
            gate: None,
        }
    }

    /// Sets the connection bounds (before [`Server::run`]).
    pub fn limits(&mut self, limits: GateLimits) {
        self.limits = limits;
    }

    /// Logs every frame in and out to `file` (`-T`).
    pub fn trace_to(&mut self, file: std::fs::File) {
        self.trace = Some(file);
    }

    fn role_for(&self, cred: &Ucred, endpoint: &str) -> Result<Role, Denied> {
        if let Some(d) = self.dm.domid(cred.euid)
            && self.daemon.domains.contains_key(&d)
        {
            tracing::info!(target: "xvm::audit", pid = cred.pid, uid = cred.euid, gid = cred.egid, endpoint, asked = "domain", held = %format!("dom{d}"), outcome = "granted", "device model of domain {d}");
            return Ok(Role::Domain(d));
        }
        let g = require_any(
            &self.policy,
            cred,
            endpoint,
            &[xvm_control(), virt_manage()],
        )?;
        Ok(if g.privilege == xvm_control() {
            Role::Control
        } else {
            Role::Manage
        })
    }

    /// Accepts and decides on one connection; `false` when there was
    /// none to take.
    fn accept(&mut self, which: usize, gate: &Gate) -> bool {
        let (stream, cred) = match self.endpoints[which].server.accept_one() {
            Ok(Some(c)) => c,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!("accept: {e}");
                return false;
            }
        };
        let ro = self.endpoints[which].read_only;
        let endpoint = self.endpoints[which].server.path().display().to_string();
        let role = self.role_for(&cred, &endpoint);
        let verdict = match &role {
            Ok(Role::Control) => Verdict::Reserved,
            Ok(_) => Verdict::Ordinary,
            Err(denied) => Verdict::Refused(denied.message()),
        };
        let Some((stream, slot)) = gate.admit(stream, cred.euid, verdict) else {
            return true;
        };
        let Ok(role) = role else {
            return true;
        };
        if let Err(e) = stream.set_nonblocking(true) {
            tracing::warn!("nonblocking: {e}");
            return true;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.daemon.connect(id, role, ro);
        self.io.insert(
            id,
            Io {
                stream,
                reader: FrameReader::default(),
                out: Vec::new(),
                backlog: VecDeque::new(),
                too_long: false,
                close_after_flush: false,
                _slot: slot,
            },
        );
        true
    }

    fn queue(&mut self, conn: u64, frame: &Frame, is_reply: bool) {
        if let Some(t) = &mut self.trace {
            let _ = writeln!(t, "OUT conn {conn} {frame}");
        }
        let Some(io) = self.io.get_mut(&conn) else {
            return;
        };
        let bytes = frame.to_bytes();
        if !is_reply && io.out.len() + bytes.len() > MAX_PENDING_OUT {
            tracing::warn!(
                "connection {conn} does not read its watch events ({} bytes waiting): cut off",
                io.out.len()
            );
            self.close(conn);
            return;
        }
        io.out.extend_from_slice(&bytes);
    }

    fn close(&mut self, conn: u64) {
        self.io.remove(&conn);
        self.daemon.disconnect(conn);
    }

    fn handle_frame(&mut self, conn: u64, frame: Frame) {
        if let Some(t) = &mut self.trace {
            let _ = writeln!(t, "IN  conn {conn} {frame}");
        }
        let out = self.daemon.handle(conn, &frame);
        let changes = std::mem::take(&mut self.daemon.pending);
        if let Some(j) = &mut self.journal {
            // Durability before the reply: if the journal cannot take the
            // change, the client must not be told it is done.
            if let Err(e) = j.record(&changes) {
                tracing::error!("journal: {e}; answering EIO");
                self.queue(conn, &Frame::error(&frame, XsError::Eio), true);
                return;
            }
            if let Err(e) = j.maybe_compact(&self.daemon) {
                tracing::error!("journal snapshot: {e}");
            }
        }
        for (i, o) in out.into_iter().enumerate() {
            self.queue(
                o.conn,
                &o.frame,
                i == 0 && o.frame.ty != MsgType::WatchEvent.number(),
            );
        }
    }

    fn read_from(&mut self, conn: u64) {
        let mut buf = [0u8; 16 * 1024];
        let Some(io) = self.io.get_mut(&conn) else {
            return;
        };
        let n = match io.stream.read(&mut buf) {
            Ok(0) => return self.close(conn),
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return;
            }
            Err(_) => return self.close(conn),
        };
        let mut frames = Vec::new();
        // Frames before a too-long one are served first, then the
        // connection goes.
        if let Err(e) = io.reader.push_into(&buf[..n], &mut frames) {
            tracing::warn!("connection {conn}: {e}; dropped after the frames before it");
            io.too_long = true;
        }
        io.backlog.extend(frames);
        self.serve_backlog(conn);
    }

    /// Serves the requests read so far while the client's unread replies
    /// stay under [`MAX_PENDING_OUT`] (replies count too: a burst of
    /// small requests with large answers must not pin megabytes); the
    /// rest wait until it reads.
    fn serve_backlog(&mut self, conn: u64) {
        loop {
            let Some(io) = self.io.get_mut(&conn) else {
                return;
            };
            if io.out.len() >= MAX_PENDING_OUT {
                break;
            }
            let Some(f) = io.backlog.pop_front() else {
                if io.too_long {
                    return self.close(conn);
                }
                break;
            };
            self.handle_frame(conn, f);
        }
        // Answer at once rather than after another poll: a socket with
        // room takes the reply now, one without keeps it for POLLOUT.
        if self.io.get(&conn).is_some_and(|io| !io.out.is_empty()) {
            self.write_to(conn);
        }
    }

    fn write_to(&mut self, conn: u64) {
        let Some(io) = self.io.get_mut(&conn) else {
            return;
        };
        match io.stream.write(&io.out) {
            Ok(n) => {
                io.out.drain(..n);
                if io.out.is_empty() && io.close_after_flush {
                    self.close(conn);
                }
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.close(conn),
        }
    }

    /// Serves until polling fails. Starts the gate's refuser thread (so
    /// call it after the privilege drop).
    pub fn run(&mut self) -> io::Result<()> {
        let gate = match self.gate.take() {
            Some(g) => g,
            None => Gate::new(self.limits, XsRefusal)?,
        };
        let r = self.serve(&gate);
        self.gate = Some(gate);
        r
    }

    fn serve(&mut self, gate: &Gate) -> io::Result<()> {
        // Accepting never blocks the loop: a burst is taken in batches.
        for e in &self.endpoints {
            e.server.listener().set_nonblocking(true)?;
        }
        loop {
            let mut fds = Vec::with_capacity(self.endpoints.len() + self.io.len());
            for e in &self.endpoints {
                fds.push(pollfd(e.server.listener().as_raw_fd(), POLLIN));
            }
            let ids: Vec<u64> = self.io.keys().copied().collect();
            for id in &ids {
                let io = &self.io[id];
                // A client that does not read its replies is not read from.
                let mut ev = if io.out.len() < MAX_PENDING_OUT / 2
                    && io.backlog.is_empty()
                    && !io.close_after_flush
                {
                    POLLIN
                } else {
                    0
                };
                if !io.out.is_empty() {
                    ev |= POLLOUT;
                }
                fds.push(pollfd(io.stream.as_raw_fd(), ev));
            }
            poll(&mut fds, -1)?;
            let n_end = self.endpoints.len();
            for (i, id) in ids.iter().enumerate() {
                let re = fds[n_end + i].revents;
                if re & (POLLIN | POLLHUP | POLLERR) != 0 {
                    self.read_from(*id);
                }
                if re & POLLOUT != 0 {
                    self.write_to(*id);
                    if self.io.get(id).is_some_and(|io| {
                        !io.backlog.is_empty() && io.out.len() < MAX_PENDING_OUT / 2
                    }) {
                        self.serve_backlog(*id);
                    }
                }
            }
            let ready: Vec<usize> = fds[..n_end]
                .iter()
                .enumerate()
                .filter(|(_, f)| f.revents & POLLIN != 0)
                .map(|(i, _)| i)
                .collect();
            for i in ready {
                for _ in 0..ACCEPT_BATCH {
                    if !self.accept(i, gate) {
                        break;
                    }
                }
            }
        }
    }
}
