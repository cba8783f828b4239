//! A unix listening socket made in three steps, so its mode and owner are
//! right before anyone can connect: bind (not yet listening), fix the node
//! through an O_PATH handle that never follows a symlink, then listen.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check_io as check;

/// Creates a bound, not yet listening, unix stream socket at `path`.
pub fn bind_unix(path: &Path) -> io::Result<OwnedFd> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data; zeroed is an empty address.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    addr.sun_family = libc::sa_family_t::try_from(libc::AF_UNIX).unwrap_or(1);
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = libc::c_char::from_ne_bytes([*s]);
    }
    // SAFETY: socket takes integers only.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_un>()).unwrap_or(110);
    // SAFETY: `addr` is a live sockaddr_un of the size passed.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) })?;
    Ok(fd)
}

/// Sets mode and owner of the socket node at `path`, refusing anything
/// that is not a socket (a symlink put there is never followed).
pub fn fix_node(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated path; O_PATH|O_NOFOLLOW opens the node itself.
    let raw = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a live fd and a live stat buffer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a socket"));
    }
    if let Some((uid, gid)) = owner {
        // SAFETY: an empty path with AT_EMPTY_PATH acts on the O_PATH fd itself.
        check(unsafe {
            libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH)
        })?;
    }
    // chmod through the fd's /proc link: O_PATH fds take no fchmod.
    let via =
        CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated path naming our own open fd.
    check(unsafe { libc::chmod(via.as_ptr(), mode) })
}

/// Starts listening.
pub fn listen(fd: &OwnedFd, backlog: i32) -> io::Result<()> {
    // SAFETY: integers only.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) })
}

/// Sends `data` with one file descriptor attached (SCM_RIGHTS) on a
/// connected unix stream: how a listening socket's accepted client is
/// handed to a device model over QMP (`getfd`).
pub fn send_with_fd(
    sock: &std::os::unix::net::UnixStream,
    data: &[u8],
    fd: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    if data.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no data to carry the fd",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // Room for one int in a control message, suitably aligned.
    let mut cbuf = [0u64; 4];
    let fd_len = u32::try_from(size_of::<RawFdInt>()).unwrap_or(4);
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = usize::try_from(unsafe { libc::CMSG_SPACE(fd_len) }).map_err(io::Error::other)?;
    if space > size_of_val(&cbuf) {
        return Err(io::Error::other("control buffer too small"));
    }
    // SAFETY: msghdr is plain data; zeroed is an empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: msg_control points at a live buffer of msg_controllen bytes,
    // so CMSG_FIRSTHDR returns a header inside it.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    if cmsg.is_null() {
        return Err(io::Error::other("no room for the control message"));
    }
    // SAFETY: a pure size computation.
    let len = unsafe { libc::CMSG_LEN(fd_len) };
    // SAFETY: cmsghdr is plain data; zeroed, then its fields are set.
    let mut hdr: libc::cmsghdr = unsafe { std::mem::zeroed() };
    hdr.cmsg_level = libc::SOL_SOCKET;
    hdr.cmsg_type = libc::SCM_RIGHTS;
    hdr.cmsg_len = usize::try_from(len).map_err(io::Error::other)?;
    // SAFETY: `cmsg` points into `cbuf`, which has room for a header
    // (checked above); unaligned writes need no alignment.
    unsafe { std::ptr::write_unaligned(cmsg, hdr) };
    // SAFETY: CMSG_DATA of a header inside `cbuf` stays inside it.
    let data_ptr = unsafe { libc::CMSG_DATA(cmsg) };
    // SAFETY: `data_ptr` has room for one int within `cbuf` (CMSG_SPACE
    // was checked against its size).
    unsafe { std::ptr::write_unaligned(data_ptr.cast::<RawFdInt>(), fd.as_raw_fd()) };
    // SAFETY: a live socket fd and a fully built message whose buffers
    // outlive the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &raw const msg, libc::MSG_NOSIGNAL) };
    match usize::try_from(n) {
        Ok(k) if k == data.len() => Ok(()),
        Ok(_) => Err(io::Error::new(io::ErrorKind::WriteZero, "short send")),
        Err(_) => Err(io::Error::last_os_error()),
    }
}

type RawFdInt = libc::c_int;
