//! `poll(2)` for the daemons' event loops.

use std::io;

pub use libc::pollfd as PollFd;
pub use libc::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT};

/// Waits for events on `fds` for at most `timeout_ms` (-1: forever).
/// Interrupted waits return 0 events.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    let n = libc::nfds_t::try_from(fds.len()).map_err(io::Error::other)?;
    // SAFETY: `fds` is a live slice of pollfd of the length passed; the
    // kernel writes only their revents.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), n, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    Ok(usize::try_from(r).unwrap_or(0))
}

/// A pollfd asking for `events` on `fd`.
pub fn pollfd(fd: std::os::fd::RawFd, events: i16) -> PollFd {
    PollFd {
        fd,
        events,
        revents: 0,
    }
}
