//! What the kernel recorded about the peer of a unix socket, and the
//! checks that decide whether `/proc` may be believed about it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const SO_PEERGROUPS: libc::c_int = 59;
const SO_PEERPIDFD: libc::c_int = 77;

/// The most supplementary groups accepted from the kernel (NGROUPS_MAX).
pub const MAX_GROUPS: usize = 65_536;

/// `SO_PEERCRED`: pid, effective uid and gid at connect (or socketpair) time.
pub fn peer_cred(fd: RawFd) -> io::Result<(i32, u32, u32)> {
    let mut c = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = libc::socklen_t::try_from(size_of::<libc::ucred>()).unwrap_or(12);
    // SAFETY: `c` is a live ucred and `len` its size; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut c).cast(),
            &raw mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((c.pid, c.uid, c.gid))
}

/// `SO_PEERGROUPS`: the peer's supplementary groups at connect time,
/// bounded by [`MAX_GROUPS`].
pub fn peer_groups(fd: RawFd) -> io::Result<Vec<u32>> {
    let mut buf = vec![0u32; 64];
    loop {
        let mut len = libc::socklen_t::try_from(buf.len() * 4).unwrap_or(0);
        // SAFETY: `buf` has room for `len` bytes; the kernel writes at most that.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                buf.as_mut_ptr().cast(),
                &raw mut len,
            )
        };
        let n = usize::try_from(len).unwrap_or(0) / 4;
        if r == 0 {
            buf.truncate(n.min(buf.len()));
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        // ERANGE: the kernel says how much it needs in `len`.
        if e.raw_os_error() != Some(libc::ERANGE) || n <= buf.len() || n > MAX_GROUPS {
            return Err(e);
        }
        buf.resize(n, 0);
    }
}

/// `SO_PEERPIDFD`: a pidfd for the process that connected (Linux 6.5+).
pub fn peer_pidfd(fd: RawFd) -> io::Result<OwnedFd> {
    let mut pidfd: libc::c_int = -1;
    let mut len = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: `pidfd` is a live int and `len` its size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            (&raw mut pidfd).cast(),
            &raw mut len,
        )
    };
    if r < 0 || pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel installed a fresh pidfd for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(pidfd) })
}

/// Whether the process behind `pidfd` is still running: signal 0 fails
/// with ESRCH once it has exited; EPERM means it lives but is not ours.
pub fn pidfd_alive(pidfd: &OwnedFd) -> bool {
    // SAFETY: signal 0 with a null siginfo only checks; integers otherwise.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<u8>(),
            0u32,
        )
    };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether the file at `path` (followed, as exec does) is set-uid,
/// set-gid or carries file capabilities.
pub fn is_privileged_file(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    if meta.permissions().mode() & 0o6000 != 0 {
        return Ok(true);
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let name = c"security.capability";
    // SAFETY: both strings are NUL-terminated; size 0 with a null buffer only asks for the size.
    let r = unsafe { libc::getxattr(c.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    if r >= 0 {
        return Ok(true);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(io::Error::last_os_error()),
    }
}
