//! The console stream: a domain's console pty bridged to a client after
//! `DOMAIN_OPEN_CONSOLE`, as libvirt's streams carry it.
//!
//! Two directions, two threads. The guest's output: a thread of its own
//! ([`Console::start`]) polls the pty and sends what it reads as stream
//! packets; a client that reads slowly holds it in the socket's write,
//! so nothing piles up in virtd. The client's input: the connection's
//! loop hands each stream packet to [`Console::handle`], which writes it
//! to the pty, waiting while the pty is full (back-pressure reaches the
//! client through its socket).
//!
//! # Format
//! Every packet carries the `OPEN_CONSOLE` call's program, version,
//! procedure and serial, type STREAM:
//! - server to client: status CONTINUE with data (at most
//!   [`MAX_STREAM_CHUNK`] bytes); CONTINUE with no data when the pty
//!   ends (libvirt's end of stream); ERROR with a `remote_error` when
//!   the console fails or another client takes it; OK with no data only
//!   to confirm the client's end (an OK unasked breaks libvirt's client).
//! - client to server: CONTINUE with data (to the guest); OK
//!   (`virStreamFinish`) or ERROR (`virStreamAbort`) to end: both
//!   confirmed with an empty OK, as libvirtd does.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use privlib::os::poll::{POLLIN, POLLOUT, poll, pollfd};

use crate::error::{Code, From, VirError};
use crate::packet::{Header, MAX_STREAM_CHUNK, MsgType, Packet, Status};
use crate::remote::lifecycle::ConsolePty;

/// The connection's writing half, shared by the connection loop, a
/// keepalive sender and a console's reader thread: every packet is
/// written whole under the lock ([`send`]).
pub type Out = Arc<Mutex<UnixStream>>;

/// The most the reader takes from the pty at once (a pty holds 4 KiB).
const READ_CHUNK: usize = if MAX_STREAM_CHUNK < 65536 {
    MAX_STREAM_CHUNK
} else {
    65536
};

fn lock(out: &Out) -> io::Result<MutexGuard<'_, UnixStream>> {
    out.lock()
        .map_err(|_| io::Error::other("the connection's writer panicked"))
}

/// Writes one packet whole under the lock, so a reply never interleaves
/// with a console's stream packet.
pub fn send(out: &Out, p: &Packet) -> io::Result<()> {
    lock(out)?.write_all(&p.encode())
}

/// What the connection does after a stream packet went to the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The console goes on.
    Open,
    /// It ended (confirmed to the client): drop it.
    Closed,
}

/// What [`Console::start`] bridges: an opened console, or a bare pty.
pub trait IntoPty {
    /// The console pty.
    fn into_pty(self) -> io::Result<ConsolePty>;
}

impl IntoPty for ConsolePty {
    fn into_pty(self) -> io::Result<ConsolePty> {
        Ok(self)
    }
}

impl IntoPty for File {
    fn into_pty(self) -> io::Result<ConsolePty> {
        ConsolePty::unclaimed(self)
    }
}

/// A console pty bridged to one client's stream.
#[derive(Debug)]
pub struct Console {
    pty: ConsolePty,
    out: Out,
    call: Header,
    confirmed: bool,
    reader: Option<JoinHandle<()>>,
}

fn stream_packet(call: &Header, status: Status, body: Vec<u8>) -> Packet {
    Packet::new(call.answer(MsgType::Stream, status), body)
}

/// Sends a stream packet unless the console was stopped (checked under
/// the writer's lock, so nothing follows the end's confirmation);
/// `Ok(false)` when it was.
fn send_unless_stopped(pty: &ConsolePty, out: &Out, p: &Packet) -> io::Result<bool> {
    let mut w = lock(out)?;
    if pty.stop().is_stopped() {
        return Ok(false);
    }
    w.write_all(&p.encode())?;
    Ok(true)
}

/// The stream's failure, as libvirt's client reads it.
fn stream_error(call: &Header, message: String) -> Packet {
    let e = VirError::new(Code::OperationFailed, From::Streams, message);
    stream_packet(call, Status::Error, e.encode())
}

fn taken_message(pid: i32) -> String {
    format!("console: taken over by another client (process {pid})")
}

/// Whether a read or write error is the pty's end (its master closed:
/// the domain is gone).
fn is_hangup(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO)
}

/// The reader thread: guest output to the client until the pty ends,
/// the console is stopped, or the client's socket fails.
fn pump(pty: &ConsolePty, out: &Out, call: &Header) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let mut fds = [
            pollfd(pty.file().as_raw_fd(), POLLIN),
            pollfd(pty.stop().wake_fd().as_raw_fd(), POLLIN),
        ];
        match poll(&mut fds, -1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = send_unless_stopped(pty, out, &stream_error(call, format!("console: {e}")));
                return;
            }
        }
        if pty.stop().is_stopped() {
            if let Some(pid) = pty.stop().taken_by() {
                let _ = send(out, &stream_error(call, taken_message(pid)));
            }
            return;
        }
        let sent = match pty.file().read(&mut buf) {
            Ok(0) => {
                let _ =
                    send_unless_stopped(pty, out, &stream_packet(call, Status::Continue, vec![]));
                return;
            }
            Ok(n) => send_unless_stopped(
                pty,
                out,
                &stream_packet(call, Status::Continue, buf[..n].to_vec()),
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) if is_hangup(&e) => {
                let _ =
                    send_unless_stopped(pty, out, &stream_packet(call, Status::Continue, vec![]));
                return;
            }
            Err(e) => {
                let _ = send_unless_stopped(pty, out, &stream_error(call, format!("console: {e}")));
                return;
            }
        };
        if !matches!(sent, Ok(true)) {
            return;
        }
    }
}

impl Console {
    /// Bridges `pty` to the client whose `DOMAIN_OPEN_CONSOLE` call had
    /// the header `call` (its program, version, procedure and serial go
    /// into every stream packet). Call it once the empty reply to that
    /// call is sent: the guest's output may follow at once.
    pub fn start(pty: impl IntoPty, out: Out, call: Header) -> io::Result<Console> {
        let pty = pty.into_pty()?;
        let (p, o) = (pty.clone(), Arc::clone(&out));
        let reader = std::thread::Builder::new()
            .name("virtd-console".into())
            .spawn(move || pump(&p, &o, &call))?;
        Ok(Console {
            pty,
            out,
            call,
            confirmed: false,
            reader: Some(reader),
        })
    }

    /// The serial the stream lives on.
    pub fn serial(&self) -> u32 {
        self.call.serial
    }

    /// Whether `p` is a packet of this stream.
    pub fn is_mine(&self, p: &Packet) -> bool {
        let h = &p.header;
        h.kind == MsgType::Stream
            && (h.prog, h.vers, h.proc_, h.serial)
                == (
                    self.call.prog,
                    self.call.vers,
                    self.call.proc_,
                    self.call.serial,
                )
    }

    /// One stream packet from the client: CONTINUE goes to the guest
    /// ([`Console::to_guest`]); OK and ERROR end the console
    /// ([`Console::finish`]). An error means the console is over and the
    /// client was told (a stream error) when it could be: drop it.
    pub fn handle(&mut self, p: &Packet) -> io::Result<Next> {
        if !self.is_mine(p) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "stream packet of serial {}, not {}",
                    p.header.serial,
                    self.serial()
                ),
            ));
        }
        match p.header.status {
            Status::Continue => match self.to_guest(&p.body) {
                Ok(()) => Ok(Next::Open),
                Err(e) => {
                    if self.pty.stop().taken_by().is_none() {
                        let _ = send_unless_stopped(
                            &self.pty,
                            &self.out,
                            &stream_error(&self.call, format!("console: {e}")),
                        );
                    }
                    self.pty.stop().stop();
                    Err(e)
                }
            },
            Status::Ok | Status::Error => {
                self.close()?;
                Ok(Next::Closed)
            }
        }
    }

    /// Writes the client's bytes to the guest, all of them, waiting while
    /// the pty is full.
    pub fn to_guest(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            if let Some(pid) = self.pty.stop().taken_by() {
                return Err(io::Error::other(taken_message(pid)));
            }
            if self.pty.stop().is_stopped() {
                return Err(io::Error::other("console: ended"));
            }
            match self.pty.file().write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [
                        pollfd(self.pty.file().as_raw_fd(), POLLOUT),
                        pollfd(self.pty.stop().wake_fd().as_raw_fd(), POLLIN),
                    ];
                    match poll(&mut fds, -1) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the console at the client's word (finish or abort): the
    /// reader stops, the end is confirmed with an empty OK.
    pub fn finish(mut self) -> io::Result<()> {
        self.close()
    }

    fn close(&mut self) -> io::Result<()> {
        self.pty.stop().stop();
        if self.confirmed {
            return Ok(());
        }
        self.confirmed = true;
        send(&self.out, &stream_packet(&self.call, Status::Ok, vec![]))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // The reader wakes and ends; it is not waited for (a client that
        // stopped reading holds it in a write until its socket closes).
        self.pty.stop().stop();
        drop(self.reader.take());
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
