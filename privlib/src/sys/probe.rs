//! Attempts that must fail after a privilege drop: the tests of invariant 2
//! make them, and `ppriv`-style checks may too. Each returns the kernel's
//! answer instead of acting on it.

use std::io;

/// `ptrace(PTRACE_ATTACH, pid)`; on success the tracee is detached again.
pub fn ptrace_attach(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: PTRACE_ATTACH with null addr/data takes integers only.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; detaching a tracee we just attached.
    unsafe {
        libc::ptrace(
            libc::PTRACE_DETACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    Ok(())
}

/// `kill(pid, 0)`: whether a signal could be sent.
pub fn can_signal(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: signal 0 only checks permission.
    if unsafe { libc::kill(pid, 0) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Duplicates `fd` *without* close-on-exec, as careless code would leave
/// one: tests use it to show that spawn closes fds it was not asked to pass.
pub fn dup_inheritable(fd: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup takes an integer and returns a new fd or -1.
    let r = unsafe { libc::dup(fd) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is a fresh fd owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r) })
}
