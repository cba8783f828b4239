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

/// Blocks `sigs` in the calling thread and returns a signalfd that reads
/// them, for an event loop that must notice SIGTERM without a handler.
/// Children started through [`crate::Spawn`] get an empty mask back.
pub fn signal_fd(sigs: &[i32]) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: sigset_t is plain data; sigemptyset makes it valid.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t.
    unsafe { libc::sigemptyset(&raw mut set) };
    for s in sigs {
        // SAFETY: `set` is a live, initialized sigset_t.
        if unsafe { libc::sigaddset(&raw mut set, *s) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: a live set; the old mask is not asked for.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut()) };
    if r != 0 {
        // pthread functions return the error rather than set errno.
        return Err(io::Error::from_raw_os_error(r));
    }
    // SAFETY: a live set; -1 asks for a new fd.
    let fd = unsafe { libc::signalfd(-1, &raw const set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The next signal waiting on a [`signal_fd`], if any.
pub fn read_signal(fd: &std::os::fd::OwnedFd) -> Option<i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: signalfd_siginfo is plain data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` is a live buffer of `size` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut info).cast(), size) };
    (usize::try_from(n).ok() == Some(size)).then(|| i32::try_from(info.ssi_signo).unwrap_or(0))
}
