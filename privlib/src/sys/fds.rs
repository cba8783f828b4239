//! File descriptors: pipes, socket pairs, moving fds into place for a
//! child, and passing one fd over a unix socket (SCM_RIGHTS).

use std::io;
use std::mem::size_of;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::errno;

/// The most file descriptors one spawn passes on.
pub const MAX_PASSED_FDS: usize = 64;

/// Takes ownership of an fd the kernel just returned.
pub(super) fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass only fds fresh from the kernel that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Makes a close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((own(fds[0]), own(fds[1])))
}

/// Asks for a pipe's buffer to hold `bytes` (`F_SETPIPE_SZ`); the size
/// the kernel gave it. An unprivileged process gets at most
/// `/proc/sys/fs/pipe-max-size` (and less once its user holds many pipe
/// pages): past that, an error, the pipe as it was.
pub fn set_pipe_size(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ takes an integer argument; it fails on an fd
    // that is not a pipe.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
    usize::try_from(r).map_err(|_| io::Error::last_os_error())
}

/// Makes a close-on-exec unix socket pair.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((own(fds[0]), own(fds[1])))
}

/// Duplicates `fd` to the lowest free number at or above `floor`, close-on-exec.
pub fn dup_above(fd: RawFd, floor: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer argument and returns a new fd.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Whether `fd` is open.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only inspects the fd table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Moves each `from` to `to` and marks every other fd above 2 close-on-exec.
/// Two phases, so that a source numbered like another pair's target is
/// never clobbered: first copy all sources above every number in use.
pub(super) fn remap_fds(pairs: &[(RawFd, RawFd)]) -> Result<(), i32> {
    if pairs.len() > MAX_PASSED_FDS {
        return Err(libc::E2BIG);
    }
    let floor = pairs.iter().map(|p| p.0.max(p.1)).max().unwrap_or(2) + 1;
    let mut tmp = [0 as RawFd; MAX_PASSED_FDS];
    for (i, (from, _)) in pairs.iter().enumerate() {
        // SAFETY: F_DUPFD_CLOEXEC takes integer arguments only.
        let r = unsafe { libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, floor) };
        if r < 0 {
            return Err(errno());
        }
        tmp[i] = r;
    }
    // SAFETY: close_range with CLOEXEC only flags fds; integers only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    for (i, (_, to)) in pairs.iter().enumerate() {
        // dup2 leaves the new fd without FD_CLOEXEC: it survives exec.
        // SAFETY: integer arguments only.
        if unsafe { libc::dup2(tmp[i], *to) } < 0 {
            return Err(errno());
        }
    }
    Ok(())
}

#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// The size of one fd in a control message.
#[allow(clippy::cast_possible_truncation)]
const FD_LEN: u32 = size_of::<RawFd>() as u32;

/// An iovec over one byte: SCM_RIGHTS needs at least one byte of payload.
fn one_byte(byte: &mut [u8; 1]) -> libc::iovec {
    libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    }
}

/// A message header over `iov` and the whole control buffer `buf`; both
/// must outlive every use of the header.
fn fd_msghdr(iov: &mut libc::iovec, buf: &mut CmsgBuf) -> libc::msghdr {
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = buf.0.len();
    msg
}

/// Sends one fd over a unix socket with SCM_RIGHTS, without allocating.
pub(super) fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), i32> {
    let mut byte = [0u8; 1];
    let mut iov = one_byte(&mut byte);
    let mut buf = CmsgBuf([0; 64]);
    let mut msg = fd_msghdr(&mut iov, &mut buf);
    let fd_len = FD_LEN;
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    // SAFETY: the control buffer is 64 aligned bytes, larger than
    // CMSG_SPACE(4), so CMSG_FIRSTHDR returns a header inside it.
    let c = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    let hdr = libc::cmsghdr {
        // SAFETY: CMSG_LEN is a pure size computation.
        cmsg_len: unsafe { libc::CMSG_LEN(fd_len) } as usize,
        cmsg_level: libc::SOL_SOCKET,
        cmsg_type: libc::SCM_RIGHTS,
    };
    // SAFETY: `c` points at a cmsghdr-sized, aligned slot inside `buf`.
    unsafe { c.write(hdr) };
    // SAFETY: CMSG_DATA(c) is within `buf`, with room for one fd after the header.
    let data = unsafe { libc::CMSG_DATA(c) };
    // SAFETY: `data` points at 4 writable bytes inside `buf`.
    unsafe { std::ptr::write_unaligned(data.cast::<RawFd>(), fd) };
    // SAFETY: `msg` points at live iovec and control buffers.
    if unsafe { libc::sendmsg(sock, &raw const msg, libc::MSG_NOSIGNAL) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// Receives one fd sent with [`send_fd`]; `None` when the peer closed first.
pub fn recv_fd(sock: RawFd) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = one_byte(&mut byte);
    let mut buf = CmsgBuf([0; 64]);
    let mut msg = fd_msghdr(&mut iov, &mut buf);
    // SAFETY: `msg` points at live buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(sock, &raw mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Ok(None);
    }
    // SAFETY: the kernel filled msg_control; CMSG_FIRSTHDR checks the length
    // and returns null when there is no header.
    let c = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    // SAFETY: `c` is non-null, so it points at a complete cmsghdr in `buf`.
    if c.is_null() || unsafe { (*c).cmsg_type } != libc::SCM_RIGHTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no fd in the message",
        ));
    }
    // SAFETY: `c` is a complete header inside `buf`, so its data pointer is too.
    let data = unsafe { libc::CMSG_DATA(c) };
    // SAFETY: an SCM_RIGHTS header carries at least one fd in its data.
    let fd = unsafe { std::ptr::read_unaligned(data.cast::<RawFd>()) };
    // The kernel installed this fd in our table for us alone.
    Ok(Some(own(fd)))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_pipe_grows_to_what_it_asks_and_a_socket_is_not_a_pipe() {
        let (r, _w) = pipe().expect("pipe");
        let got = set_pipe_size(r.as_fd(), 256 * 1024).expect("grown");
        assert!(got >= 256 * 1024, "{got}");
        let (s, _t) = socketpair().expect("pair");
        assert!(set_pipe_size(s.as_fd(), 256 * 1024).is_err());
    }
}
