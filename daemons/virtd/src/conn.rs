//! One client connection, on a thread of its own: packets read one at a
//! time (every length bounded before it is read), calls answered in
//! order, keepalive, and at most one console stream beside the calls.
//!
//! # Timing
//! Between packets the loop waits: [`OPEN_TIME`] before `CONNECT_OPEN`
//! (a peer that never opens is cut off); for ever on an
//! opened connection without keepalive; on one that asked for keepalive
//! (`CONNECT_SUPPORTS_FEATURE` of the keepalive program, as virsh does),
//! [`KEEPALIVE_INTERVAL`] at a time, sending a PING after each silent
//! interval and closing after [`KEEPALIVE_COUNT`] of them, as libvirtd
//! does. Inside a packet the socket's read timeout ([`PACKET_TIME`])
//! cuts off a peer that stalls, and a client that does not read its
//! replies is cut off after [`WRITE_TIME`]; a bad length or header
//! closes the connection (the stream cannot be resynchronised), and so
//! does `CONNECT_CLOSE` once answered.
//!
//! # Answers
//! A call on another program or version gets libvirt's RPC error and the
//! connection goes on; an unknown procedure, `NO_SUPPORT`; a procedure
//! before `CONNECT_OPEN` (other than the three that open), "connection
//! not open"; a state-changing one on a read-only connection,
//! `OPERATION_DENIED`. A reply is written whole under the connection's
//! writer lock ([`stream::send`]) so it never interleaves with the
//! console's stream packets.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use privlib::Ucred;
use privlib::os::poll::{POLLIN, poll, pollfd};

use crate::error::{Code, From, VirError};
use crate::packet::{
    Header, KEEPALIVE_PING, KEEPALIVE_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, MAX_BODY,
    MsgType, Packet, PacketError, REMOTE_PROGRAM, REMOTE_VERSION, Status, read_packet,
};
use crate::procs::Proc;
use crate::remote::{self, Reply, connect};
use crate::session::{Env, Peer, Session};
use crate::stream::{self, Console, Next, Out};

/// Silence after which virtd pings a client that asked for keepalive
/// (libvirtd's `keepalive_interval`).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered intervals after which the client is taken for dead
/// (libvirtd's `keepalive_count`).
pub const KEEPALIVE_COUNT: u32 = 5;

/// How long a packet, once begun, may take to arrive whole.
pub const PACKET_TIME: Duration = Duration::from_secs(10);
/// How long a reply or stream packet may wait for a client that does not
/// read.
pub const WRITE_TIME: Duration = Duration::from_secs(30);
/// How long a connection may wait before `CONNECT_OPEN` (virsh opens at
/// once).
pub const OPEN_TIME: Duration = Duration::from_secs(60);

/// Serves one admitted client on `stream` (of `libvirt-sock-ro` when
/// `ro_socket`) until it closes, breaks the framing, or goes silent.
pub fn serve(stream: UnixStream, cred: &Ucred, ro_socket: bool, env: Arc<Env>) {
    let peer = Peer {
        pid: cred.pid,
        uid: cred.euid,
        gid: cred.egid,
    };
    let r = stream
        .set_write_timeout(Some(WRITE_TIME))
        .and_then(|()| stream.set_read_timeout(Some(PACKET_TIME)))
        .and_then(|()| Conn::new(stream, Session::new(peer, ro_socket, env), OPEN_TIME));
    let r = match r {
        Ok(c) => c.run(),
        Err(e) => Err(ConnError::Wait(e)),
    };
    if let Err(e) = r {
        tracing::debug!(pid = peer.pid, uid = peer.uid, "client closed: {e}");
    }
}

/// Why a connection ended (logged at debug: every end is the peer's).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// A packet could not be read (the peer closed inside one, stalled,
    /// or sent a bad length or header).
    #[error("{0}")]
    Packet(#[source] PacketError),
    /// Writing to the peer failed.
    #[error("writing to the client: {0}")]
    Write(#[source] io::Error),
    /// Waiting for the next packet failed.
    #[error("waiting for the client: {0}")]
    Wait(#[source] io::Error),
    /// Nothing came for [`OPEN_TIME`] on a connection never opened.
    #[error("no call for {0:?} before CONNECT_OPEN")]
    Idle(Duration),
    /// A client with keepalive stopped answering.
    #[error("no answer to {0} keepalive pings")]
    Keepalive(u32),
}

/// One connection's loop state.
pub struct Conn {
    s: Session,
    rd: UnixStream,
    out: Out,
    console: Option<Console>,
    keepalive: bool,
    idle: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.s.peer)
            .field("opened", &self.s.opened)
            .field("console", &self.console.is_some())
            .finish_non_exhaustive()
    }
}

/// What waiting for the next packet gave.
enum Wait {
    Readable,
    Silent,
}

impl Conn {
    /// A connection on `stream` for the session `s`; `idle` bounds the
    /// wait for `CONNECT_OPEN` (the stream's own timeouts bound a packet
    /// and a write).
    pub fn new(stream: UnixStream, s: Session, idle: Duration) -> io::Result<Conn> {
        let rd = stream.try_clone()?;
        Ok(Conn {
            s,
            rd,
            out: Arc::new(Mutex::new(stream)),
            console: None,
            keepalive: false,
            idle,
        })
    }

    /// Serves until the peer closes or fails; the console, if any, ends
    /// with the connection.
    pub fn run(mut self) -> Result<(), ConnError> {
        let mut silent = 0u32;
        loop {
            match self.wait()? {
                Wait::Readable => silent = 0,
                Wait::Silent if self.keepalive => {
                    if silent >= KEEPALIVE_COUNT {
                        return Err(ConnError::Keepalive(silent));
                    }
                    silent += 1;
                    self.send(&keepalive(KEEPALIVE_PING))?;
                    continue;
                }
                Wait::Silent => return Err(ConnError::Idle(self.idle)),
            }
            let Some(p) = read_packet(&mut self.rd).map_err(ConnError::Packet)? else {
                return Ok(());
            };
            let close = p.header.kind == MsgType::Call
                && p.header.prog == REMOTE_PROGRAM
                && p.header.proc_ == Proc::ConnectClose.number();
            self.packet(p)?;
            if close && !self.s.opened {
                return Ok(());
            }
        }
    }

    fn wait(&self) -> Result<Wait, ConnError> {
        let timeout = if self.keepalive {
            Some(KEEPALIVE_INTERVAL)
        } else if self.s.opened {
            None
        } else {
            Some(self.idle)
        };
        let ms = timeout.map_or(-1, |d| i32::try_from(d.as_millis()).unwrap_or(i32::MAX));
        let mut fds = [pollfd(self.rd.as_raw_fd(), POLLIN)];
        loop {
            match poll(&mut fds, ms) {
                Ok(0) => return Ok(Wait::Silent),
                // Readable, or hung up: the read says which.
                Ok(_) => return Ok(Wait::Readable),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::Wait(e)),
            }
        }
    }

    fn send(&self, p: &Packet) -> Result<(), ConnError> {
        stream::send(&self.out, p).map_err(ConnError::Write)
    }

    fn reply(&self, call: &Header, r: Result<Vec<u8>, VirError>) -> Result<(), ConnError> {
        let p = match r {
            Ok(body) if body.len() <= MAX_BODY => {
                Packet::new(call.answer(MsgType::Reply, Status::Ok), body)
            }
            Ok(body) => error_packet(
                call,
                &VirError::new(
                    Code::Rpc,
                    From::Rpc,
                    format!(
                        "the reply of {} bytes is over virtd's bound of {MAX_BODY}",
                        body.len()
                    ),
                ),
            ),
            Err(e) => error_packet(call, &e),
        };
        self.send(&p)
    }

    fn packet(&mut self, p: Packet) -> Result<(), ConnError> {
        let h = p.header;
        if h.prog == KEEPALIVE_PROGRAM {
            if h.kind == MsgType::Message && h.proc_ == KEEPALIVE_PING {
                self.send(&keepalive(KEEPALIVE_PONG))?;
            }
            // A PONG: the silence count was reset when it arrived.
            return Ok(());
        }
        match h.kind {
            MsgType::Call | MsgType::CallWithFds => self.call(p),
            MsgType::Stream => {
                self.stream(&p);
                Ok(())
            }
            MsgType::Reply | MsgType::Message | MsgType::ReplyWithFds | MsgType::StreamHole => {
                tracing::debug!(kind = ?h.kind, serial = h.serial, "ignored a packet a client does not send");
                Ok(())
            }
        }
    }

    fn stream(&mut self, p: &Packet) {
        let Some(c) = self.console.as_mut() else {
            tracing::debug!(
                serial = p.header.serial,
                "a stream packet with no console open"
            );
            return;
        };
        if !c.is_mine(p) {
            tracing::debug!(
                serial = p.header.serial,
                console = c.serial(),
                "a stream packet for another stream"
            );
            return;
        }
        match c.handle(p) {
            Ok(Next::Open) => {}
            Ok(Next::Closed) => self.console = None,
            Err(e) => {
                tracing::debug!("console ended: {e}");
                self.console = None;
            }
        }
    }

    fn call(&mut self, p: Packet) -> Result<(), ConnError> {
        let h = p.header;
        if h.prog != REMOTE_PROGRAM {
            let e = VirError::new(
                Code::Rpc,
                From::Rpc,
                format!(
                    "unknown program {:#x} (virtd serves libvirt's remote program {REMOTE_PROGRAM:#x})",
                    h.prog
                ),
            );
            return self.reply(&h, Err(e));
        }
        if h.vers != REMOTE_VERSION {
            let e = VirError::new(
                Code::Rpc,
                From::Rpc,
                format!(
                    "unknown protocol version {} of program {REMOTE_PROGRAM:#x} (virtd speaks {REMOTE_VERSION})",
                    h.vers
                ),
            );
            return self.reply(&h, Err(e));
        }
        if h.kind == MsgType::CallWithFds {
            let e = VirError::new(
                Code::NoSupport,
                From::Rpc,
                "virtd takes no file descriptors with a call",
            );
            return self.reply(&h, Err(e));
        }
        let Some(proc_) = Proc::from_number(h.proc_) else {
            return self.reply(&h, Err(VirError::unknown_procedure(h.prog, h.proc_)));
        };
        match self.checked(proc_, &p.body) {
            Err(e) => self.reply(&h, Err(e)),
            Ok(Reply::Body(b)) => {
                if proc_ == Proc::ConnectSupportsFeature
                    && connect::feature_asked(&p.body) == Some(connect::FEATURE_PROGRAM_KEEPALIVE)
                {
                    self.keepalive = true;
                }
                self.reply(&h, Ok(b))
            }
            Ok(Reply::Console(pty)) => {
                self.reply(&h, Ok(Vec::new()))?;
                match Console::start(pty, Arc::clone(&self.out), h) {
                    Ok(c) => self.console = Some(c),
                    Err(e) => {
                        // The client waits on a stream that will not
                        // come: tell it, on the stream.
                        tracing::warn!("starting the console stream: {e}");
                        let err = VirError::new(
                            Code::Internal,
                            From::Streams,
                            format!("starting the console stream: {e}"),
                        );
                        self.send(&Packet::new(
                            h.answer(MsgType::Stream, Status::Error),
                            err.encode(),
                        ))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The checks before a procedure runs, then the procedure.
    fn checked(&mut self, p: Proc, body: &[u8]) -> Result<Reply, VirError> {
        if !self.s.opened && !connect::before_open(p) {
            return Err(connect::not_open(p));
        }
        self.s.check_writable(p)?;
        if p == Proc::DomainOpenConsole && self.console.is_some() {
            return Err(VirError::invalid(
                "a console is already open on this connection",
            ));
        }
        remote::call(&mut self.s, p, body)
    }
}

/// A keepalive message (`proc` PING or PONG), which has no body.
fn keepalive(proc_: i32) -> Packet {
    Packet::new(
        Header {
            prog: KEEPALIVE_PROGRAM,
            vers: KEEPALIVE_VERSION,
            proc_,
            kind: MsgType::Message,
            serial: 0,
            status: Status::Ok,
        },
        Vec::new(),
    )
}

/// The error reply to `call`.
pub fn error_packet(call: &Header, e: &VirError) -> Packet {
    Packet::new(call.answer(MsgType::Reply, Status::Error), e.encode())
}
