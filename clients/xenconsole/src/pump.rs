//! The attached console: the user's terminal raw, bytes pumped both
//! ways with poll, and the terminal's modes given back on every way out.
//!
//! Ways out: Ctrl-] (0x1d, as Xen's xenconsole) typed by the user; end of
//! file on stdin; the console's end (the pty hangs up or reads EIO when
//! its master, xenconsoled's, closes); the user's terminal going away;
//! SIGTERM, SIGHUP, SIGINT or SIGQUIT (taken through a signalfd, so none
//! ends the process before the modes are restored). The modes are put
//! back by a guard's drop, which also runs when a panic unwinds.
//!
//! Bounds: one read of at most [`CHUNK`] bytes from either side at a
//! time; what the user typed waits in a buffer of at most [`CHUNK`]
//! bytes when the console cannot take it yet (stdin is not read until it
//! drains), so a stalled guest never grows this process and Ctrl-] is
//! still seen. The console fd is non-blocking; stdin and stdout keep
//! their flags (they are shared with the user's shell), so a write to a
//! terminal that stops reading waits: the guest's output then waits in
//! xenconsoled's bounded buffer, and a SIGTERM sent meanwhile is taken
//! once the write returns.

use std::fs::File;
use std::io::{self, IsTerminal as _, Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd};

use privlib::os::poll::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, poll, pollfd, read_signal};
use privlib::os::tty::{Modes, make_raw, set_modes};

/// The byte that detaches: Ctrl-] (GS).
pub(crate) const DETACH: u8 = 0x1d;

/// The most bytes moved by one read.
pub(crate) const CHUNK: usize = 4096;

/// The signals that end the session (with the terminal restored).
const SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

/// How the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The user typed Ctrl-].
    Detached,
    /// stdin reached its end.
    StdinEof,
    /// The console hung up (its daemon closed it, or the domain ended).
    ConsoleClosed,
    /// The user's terminal went away (stdout failed).
    TerminalGone,
    /// A signal ended it.
    Signal(i32),
}

/// Why the session failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PumpError {
    /// The terminal's modes could not be read or set.
    #[error("terminal modes: {0}")]
    Modes(#[source] io::Error),
    /// A stdio fd could not be duplicated, or the signalfd made.
    #[error("{what}: {source}")]
    Setup {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// poll or a read or write failed in a way that is not an end.
    #[error("console I/O: {0}")]
    Io(#[source] io::Error),
}

/// Gives the terminal its modes back when dropped.
struct Restore<'a> {
    fd: BorrowedFd<'a>,
    saved: Option<Modes>,
}

impl Restore<'_> {
    /// Restores now (once), reporting a failure.
    fn restore(&mut self) -> io::Result<()> {
        match self.saved.take() {
            Some(m) => set_modes(self.fd, &m),
            None => Ok(()),
        }
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

fn dup(fd: BorrowedFd<'_>, what: &'static str) -> Result<File, PumpError> {
    fd.try_clone_to_owned()
        .map(File::from)
        .map_err(|source| PumpError::Setup { what, source })
}

/// Whether an I/O error is a would-block or an interruption (retry later).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Attaches the user's terminal (stdin, stdout) to the console `tty`
/// until one of the ends in the module comment.
pub(crate) fn attach(tty: File) -> Result<End, PumpError> {
    let stdin_fd = io::stdin();
    let stdin_fd = stdin_fd.as_fd();
    let signals = privlib::os::poll::signal_fd(&SIGNALS).map_err(|source| PumpError::Setup {
        what: "signalfd",
        source,
    })?;
    let mut input = dup(stdin_fd, "duplicating stdin")?;
    let mut output = dup(io::stdout().as_fd(), "duplicating stdout")?;
    let saved = if input.is_terminal() {
        Some(make_raw(stdin_fd).map_err(PumpError::Modes)?)
    } else {
        None
    };
    let mut guard = Restore {
        fd: stdin_fd,
        saved,
    };
    let end = pump(&tty, &mut input, &mut output, &signals);
    guard.restore().map_err(PumpError::Modes)?;
    end
}

/// The loop: what the guest writes goes to `output`, what the user types
/// (up to Ctrl-]) goes to the guest.
fn pump(
    tty: &File,
    input: &mut File,
    output: &mut File,
    signals: &OwnedFd,
) -> Result<End, PumpError> {
    let mut console = tty;
    let mut buf = vec![0u8; CHUNK];
    let mut to_guest: Vec<u8> = Vec::with_capacity(CHUNK);
    loop {
        let mut fds = [
            pollfd(signals.as_raw_fd(), POLLIN),
            pollfd(
                tty.as_raw_fd(),
                POLLIN | if to_guest.is_empty() { 0 } else { POLLOUT },
            ),
            // While typed bytes wait, stdin is not read (the -1 is
            // skipped by poll).
            pollfd(
                if to_guest.is_empty() {
                    input.as_raw_fd()
                } else {
                    -1
                },
                POLLIN,
            ),
        ];
        poll(&mut fds, -1).map_err(PumpError::Io)?;
        if fds[0].revents & POLLIN != 0
            && let Some(sig) = read_signal(signals)
        {
            return Ok(End::Signal(sig));
        }
        let tty_ev = fds[1].revents;
        if tty_ev & POLLIN != 0 {
            match console.read(&mut buf) {
                Ok(0) => return Ok(End::ConsoleClosed),
                Ok(n) => {
                    if output.write_all(&buf[..n]).is_err() {
                        return Ok(End::TerminalGone);
                    }
                }
                Err(e) if transient(&e) => {}
                // EIO: the master side is gone.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(End::ConsoleClosed),
                Err(e) => return Err(PumpError::Io(e)),
            }
        } else if tty_ev & (POLLHUP | POLLERR | POLLNVAL) != 0 {
            return Ok(End::ConsoleClosed);
        }
        if !to_guest.is_empty() && tty_ev & (POLLOUT | POLLIN) != 0 {
            match console.write(&to_guest) {
                Ok(n) => drop(to_guest.drain(..n)),
                Err(e) if transient(&e) => {}
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(End::ConsoleClosed),
                Err(e) => return Err(PumpError::Io(e)),
            }
        }
        if fds[2].revents & (POLLIN | POLLHUP | POLLERR) != 0 {
            let n = match input.read(&mut buf) {
                Ok(0) => return Ok(End::StdinEof),
                Ok(n) => n,
                Err(e) if transient(&e) => continue,
                // EIO: the user's terminal hung up.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(End::StdinEof),
                Err(e) => return Err(PumpError::Io(e)),
            };
            let typed = &buf[..n];
            match typed.iter().position(|b| *b == DETACH) {
                Some(at) => {
                    to_guest.extend_from_slice(&typed[..at]);
                    if to_guest.is_empty() {
                        return Ok(End::Detached);
                    }
                    // What came before Ctrl-] still goes to the guest,
                    // once; a guest that cannot take it is not waited on.
                    let _ = console.write(&to_guest);
                    return Ok(End::Detached);
                }
                None => to_guest.extend_from_slice(typed),
            }
        }
    }
}
