//! Installing a seccomp filter (in a child, raw calls only) and answering
//! the one exec a listener lets through.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::bpf::BpfInsn;
use super::{errno, fds};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
/// `SECCOMP_FILTER_FLAG_TSYNC`: apply to every thread of the process.
pub const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: return a notification fd.
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const BpfInsn,
}

/// Installs `prog` with `flags`; with NEW_LISTENER, sends the listener fd
/// on the unix socket `listener_to`.
pub(super) fn install(prog: &[BpfInsn], flags: u64, listener_to: Option<RawFd>) -> Result<(), i32> {
    let len = u16::try_from(prog.len()).map_err(|_| libc::E2BIG)?;
    let fprog = SockFprog {
        len,
        filter: prog.as_ptr(),
    };
    // SAFETY: `fprog` points at `len` live instructions for the duration of
    // the call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &raw const fprog,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    // With TSYNC the kernel reports a thread it could not synchronise by
    // returning its id, and then installs the filter on no thread at all.
    if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
        return Err(libc::EBUSY);
    }
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        let listener = RawFd::try_from(r).map_err(|_| libc::EBADF)?;
        let sent = match listener_to {
            Some(sock) => fds::send_fd(sock, listener),
            None => Err(libc::EINVAL),
        };
        // SAFETY: `listener` is the fd seccomp just returned; we own it.
        unsafe { libc::close(listener) };
        sent?;
    }
    Ok(())
}

/// Answers the first `execve`/`execveat` notification of `pid` with
/// "continue", then closes the listener: every later exec of the child and
/// its descendants fails (ENOSYS), which is how a program is started
/// without `proc_exec`. Returns once the exec went through or the child
/// is gone.
pub fn allow_first_exec(listener: OwnedFd, pid: libc::pid_t, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one live pollfd.
    let r = unsafe { libc::poll(&raw mut pfd, 1, ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "child did not reach exec",
        ));
    }
    if pfd.revents & libc::POLLIN == 0 {
        return Ok(()); // child exited before exec; the error pipe says why
    }
    let mut notif = MaybeUninit::<libc::seccomp_notif>::zeroed();
    // SAFETY: NOTIF_RECV fills a zeroed seccomp_notif, whose size the ioctl encodes.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            notif.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl succeeded and initialised the struct.
    let notif = unsafe { notif.assume_init() };
    let is_exec = i64::from(notif.data.nr) == libc::SYS_execve
        || i64::from(notif.data.nr) == libc::SYS_execveat;
    let ours = libc::pid_t::try_from(notif.pid).ok() == Some(pid);
    let resp = libc::seccomp_notif_resp {
        id: notif.id,
        val: 0,
        error: if is_exec && ours { 0 } else { -libc::EPERM },
        flags: if is_exec && ours {
            u32::try_from(libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE).unwrap_or(1)
        } else {
            0
        },
    };
    // SAFETY: NOTIF_SEND reads one live seccomp_notif_resp.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &raw const resp,
        )
    };
    // ENOENT: the child died meanwhile; nothing to allow.
    if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT) {
        return Err(io::Error::last_os_error());
    }
    drop(listener);
    Ok(())
}
