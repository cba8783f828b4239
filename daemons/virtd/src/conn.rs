//! One client's connection: packets read (bounded), calls dispatched in
//! order, replies written whole ([`crate::stream::send`]), keepalive
//! answered, and at most one console stream bridged.
//!
//! # Order of checks, per packet
//! 1. The packet's length and header ([`crate::packet::read_packet`]): a
//!    bad length or a header field with no meaning closes the connection
//!    (the framing is lost).
//! 2. The program: keepalive's PING is answered with PONG; a CALL to a
//!    program virtd does not serve gets `VIR_ERR_RPC`; anything else of
//!    an unknown program is dropped (libvirt does the same).
//! 3. Stream packets go to the open console, if they are its own.
//! 4. A CALL: its procedure (unknown: `VIR_ERR_NO_SUPPORT`), the
//!    connection opened (else `VIR_ERR_INTERNAL_ERROR` "connection not
//!    open", as libvirtd), the connection writable for a procedure that
//!    changes state, then [`crate::remote::call`].

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use privlib::Ucred;

use crate::error::{Code, From, VirError};
use crate::packet::{
    Header, KEEPALIVE_PING, KEEPALIVE_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, MsgType, Packet,
    PacketError, REMOTE_PROGRAM, REMOTE_VERSION, Status, read_packet,
};
use crate::procs::Proc;
use crate::remote::{self, Reply};
use crate::session::{Env, Peer, Session};
use crate::stream::{self, Console, Next, Out};

/// How long a packet, once begun, may take to arrive whole: a peer
/// stalled mid-packet is cut off.
pub const PACKET_TIME: Duration = Duration::from_secs(10);
/// How long a reply or stream packet may wait for a client that does not
/// read.
pub const WRITE_TIME: Duration = Duration::from_secs(30);
/// How long a connection with no console open may send nothing.
pub const IDLE_TIME: Duration = Duration::from_secs(3600);

/// What may be called before `CONNECT_OPEN`.
fn before_open(p: Proc) -> bool {
    matches!(
        p,
        Proc::AuthList | Proc::ConnectSupportsFeature | Proc::ConnectOpen
    )
}

/// Serves one admitted client until it closes, breaks the protocol's
/// framing, or idles past [`IDLE_TIME`].
pub fn serve(stream: UnixStream, cred: &Ucred, ro_socket: bool, env: Arc<Env>) {
    let peer = Peer {
        pid: cred.pid,
        uid: cred.euid,
        gid: cred.egid,
    };
    if let Err(e) = run(stream, peer, ro_socket, env) {
        tracing::debug!(pid = peer.pid, uid = peer.uid, "client closed: {e}");
    }
}

fn run(stream: UnixStream, peer: Peer, ro_socket: bool, env: Arc<Env>) -> Result<(), PacketError> {
    stream
        .set_write_timeout(Some(WRITE_TIME))
        .and_then(|()| stream.set_read_timeout(Some(PACKET_TIME)))
        .map_err(PacketError::Io)?;
    let mut reader = stream.try_clone().map_err(PacketError::Io)?;
    let out: Out = Arc::new(Mutex::new(stream));
    let mut s = Session::new(peer, ro_socket, env);
    let mut console: Option<Console> = None;
    loop {
        // Idle between packets: only the time a whole connection may idle.
        let idle_ms = if console.is_some() {
            -1
        } else {
            i32::try_from(IDLE_TIME.as_millis()).unwrap_or(i32::MAX)
        };
        if !privlib::os::poll::readable(reader.as_fd(), idle_ms) {
            return Err(PacketError::Io(io::ErrorKind::TimedOut.into()));
        }
        let Some(p) = read_packet(&mut reader)? else {
            return Ok(());
        };
        let h = p.header;
        match (h.prog, h.kind) {
            (KEEPALIVE_PROGRAM, MsgType::Message) => {
                if h.proc_ == KEEPALIVE_PING && h.vers == KEEPALIVE_VERSION {
                    let pong = Header {
                        proc_: KEEPALIVE_PONG,
                        ..h
                    };
                    send(&out, Packet::new(pong, Vec::new()))?;
                }
            }
            (REMOTE_PROGRAM, MsgType::Stream) => {
                if let Some(c) = console.as_mut().filter(|c| c.is_mine(&p)) {
                    if !matches!(c.handle(&p), Ok(Next::Open)) {
                        console = None;
                    }
                } else {
                    tracing::debug!(
                        serial = h.serial,
                        "a stream packet of no open stream: dropped"
                    );
                }
            }
            (REMOTE_PROGRAM, MsgType::Call) if h.vers == REMOTE_VERSION => {
                if let Some(c) = call(&mut s, &out, &p, console.is_some())? {
                    console = Some(c);
                }
                if !s.opened && h.proc_ == Proc::ConnectClose.number() {
                    return Ok(());
                }
            }
            (_, MsgType::Call | MsgType::CallWithFds) => {
                let e = VirError::new(
                    Code::Rpc,
                    From::Rpc,
                    format!(
                        "virtd serves no program {:#x} version {} (only the remote program {:#x} version {}, and keepalive)",
                        h.prog, h.vers, REMOTE_PROGRAM, REMOTE_VERSION
                    ),
                );
                reply_error(&out, &h, &e)?;
            }
            _ => tracing::debug!(prog = h.prog, kind = ?h.kind, "a packet of no call: dropped"),
        }
    }
}

fn send(out: &Out, p: Packet) -> Result<(), PacketError> {
    stream::send(out, &p).map_err(PacketError::Io)
}

fn reply_error(out: &Out, h: &Header, e: &VirError) -> Result<(), PacketError> {
    send(
        out,
        Packet::new(h.answer(MsgType::Reply, Status::Error), e.encode()),
    )
}

/// One call: checked, run, answered. A console opened by it is returned.
fn call(
    s: &mut Session,
    out: &Out,
    p: &Packet,
    console_open: bool,
) -> Result<Option<Console>, PacketError> {
    let h = &p.header;
    let checked = Proc::from_number(h.proc_)
        .ok_or_else(|| VirError::unknown_procedure(h.prog, h.proc_))
        .and_then(|proc_| {
            if !s.opened && !before_open(proc_) {
                return Err(VirError::new(
                    Code::Internal,
                    From::Remote,
                    "connection not open: CONNECT_OPEN first",
                ));
            }
            s.check_writable(proc_)?;
            if proc_ == Proc::DomainOpenConsole && console_open {
                return Err(VirError::invalid(
                    "a console is already open on this connection",
                ));
            }
            Ok(proc_)
        });
    let answer = checked.and_then(|proc_| remote::call(s, proc_, &p.body));
    match answer {
        Ok(Reply::Body(body)) => {
            send(out, Packet::new(h.answer(MsgType::Reply, Status::Ok), body))?;
            Ok(None)
        }
        Ok(Reply::Console(pty)) => {
            send(
                out,
                Packet::new(h.answer(MsgType::Reply, Status::Ok), Vec::new()),
            )?;
            match Console::start(pty, Arc::clone(out), *h) {
                Ok(c) => Ok(Some(c)),
                Err(e) => {
                    tracing::warn!("console stream: {e}");
                    Ok(None)
                }
            }
        }
        Err(e) => {
            reply_error(out, h, &e)?;
            Ok(None)
        }
    }
}
