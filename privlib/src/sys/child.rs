//! Process creation: fork, run a list of [`CredOp`]s in the child, exec.
//!
//! The child runs only raw system calls on data built by the parent before
//! the fork, so it is safe even when the parent has other threads. A failure
//! is reported to the parent as (step index, errno) over a close-on-exec
//! pipe; end-of-file on that pipe means the exec happened.

use std::ffi::{CString, c_char};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::bpf::BpfInsn;
use super::{CredOp, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER, apply_raw, errno};

/// The most file descriptors one spawn passes on.
pub const MAX_PASSED_FDS: usize = 64;

/// A program and its argument and environment vectors, ready for `execve`.
#[derive(Debug)]
pub struct ExecImage {
    path: CString,
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl ExecImage {
    /// Builds the vectors; `args` includes argv[0].
    pub fn new(path: CString, args: Vec<CString>, env: Vec<CString>) -> ExecImage {
        let argv_len = args.len();
        let mut strings = args;
        strings.extend(env);
        let mut argv: Vec<*const c_char> = strings[..argv_len].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const c_char> = strings[argv_len..].iter().map(|s| s.as_ptr()).collect();
        envp.push(std::ptr::null());
        // The pointers stay valid: CString data lives on the heap and
        // `strings` is kept, unmodified, as long as the image.
        ExecImage {
            path,
            _strings: strings,
            argv,
            envp,
        }
    }

    /// The program path.
    pub fn path(&self) -> &CString {
        &self.path
    }
}

/// Takes ownership of an fd the kernel just returned.
fn own(fd: RawFd) -> OwnedFd {
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

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const BpfInsn,
}

#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// The size of one fd in a control message.
#[allow(clippy::cast_possible_truncation)]
const FD_LEN: u32 = size_of::<RawFd>() as u32;

/// Sends one fd over a unix socket with SCM_RIGHTS, without allocating.
fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), i32> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 64]);
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
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
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 64]);
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = buf.0.len();
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

pub(super) fn install_seccomp(
    prog: &[BpfInsn],
    flags: u64,
    listener_to: Option<RawFd>,
) -> Result<(), i32> {
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
    if flags & super::SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
        return Err(libc::EBUSY);
    }
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        let listener = RawFd::try_from(r).map_err(|_| libc::EBADF)?;
        let sent = match listener_to {
            Some(sock) => send_fd(sock, listener),
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

/// Reports (step, errno) on the error pipe and exits. Child side.
fn child_fail(err_fd: RawFd, step: usize, err: i32) -> ! {
    let step = u32::try_from(step).unwrap_or(u32::MAX);
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&step.to_ne_bytes());
    msg[4..].copy_from_slice(&err.to_ne_bytes());
    // SAFETY: write of 8 bytes from a live buffer.
    unsafe { libc::write(err_fd, msg.as_ptr().cast(), msg.len()) };
    // SAFETY: _exit runs no destructors or atexit handlers, so nothing of
    // the parent's state (shared with a vfork child) is touched.
    unsafe { libc::_exit(127) }
}

/// How the child is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own, as
    /// posix_spawn does: no page-table copy, the parent waits until the
    /// child execs or exits.
    Vfork,
    /// `fork()`: needed when the parent must act while the child is still
    /// before exec (the one-shot exec listener).
    Fork,
}

struct ChildCtx<'a> {
    ops: &'a [CredOp],
    image: &'a ExecImage,
    err_write: RawFd,
}

/// Gives every signal with a handler its default action back. In a child
/// that shares the parent's memory a handler would run the parent's code
/// on the parent's data; the parent blocks signals around the clone, so
/// none can arrive before this runs.
fn default_handlers() {
    for sig in 1..=libc::SIGRTMAX() {
        // SAFETY: sigaction is plain data; querying with a null new action
        // writes only `old`.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `old` is a live sigaction; a null act only queries.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &raw mut old) } != 0 {
            continue;
        }
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            // SAFETY: `dfl` is a zeroed sigaction set to SIG_DFL.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: installs the default action from a live struct.
            unsafe { libc::sigaction(sig, &raw const dfl, std::ptr::null_mut()) };
        }
    }
}

fn child_main(ctx: &ChildCtx<'_>) -> ! {
    default_handlers();
    for (i, op) in ctx.ops.iter().enumerate() {
        if let Err(e) = apply_raw(op) {
            child_fail(ctx.err_write, i, e);
        }
    }
    // SAFETY: path, argv and envp are NUL-terminated and null-terminated
    // arrays built by ExecImage, alive (and unchanged) while the child runs.
    unsafe {
        libc::execve(
            ctx.image.path.as_ptr(),
            ctx.image.argv.as_ptr(),
            ctx.image.envp.as_ptr(),
        )
    };
    child_fail(ctx.err_write, ctx.ops.len(), errno())
}

extern "C" fn vfork_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the &ChildCtx passed by `fork_exec`, which stays
    // alive because the parent is suspended (CLONE_VFORK) until we exec or exit.
    let ctx = unsafe { &*arg.cast::<ChildCtx<'_>>() };
    child_main(ctx)
}

/// The child's stack for [`ChildKind::Vfork`]: the child only runs
/// `apply_raw` and execve, a few KiB deep. 64 KiB leaves ample room and
/// stays below malloc's mmap threshold (no mmap/munmap per spawn).
const CHILD_STACK: usize = 64 * 1024;

/// Starts a child that applies `ops` in order and execs `image`; returns
/// its pid. The caller reads `err_read` (see [`read_child_error`]).
pub fn fork_exec(
    ops: &[CredOp],
    image: &ExecImage,
    err_write: RawFd,
    kind: ChildKind,
) -> io::Result<libc::pid_t> {
    let ctx = ChildCtx {
        ops,
        image,
        err_write,
    };
    // Block every signal around the clone: see `default_handlers`.
    // SAFETY: sigset_t is plain data, filled by sigfillset.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `all` is a live sigset_t.
    unsafe { libc::sigfillset(&raw mut all) };
    // SAFETY: live sigset_t pointers; changes only this thread's mask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old) };
    let pid = match kind {
        ChildKind::Fork => {
            // SAFETY: the child only runs `child_main`: raw system calls on
            // data built before the fork, no allocation, no locks; it ends
            // in execve or _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                child_main(&ctx);
            }
            pid
        }
        ChildKind::Vfork => {
            let mut stack = vec![0u8; CHILD_STACK];
            // The stack grows down from the end of the buffer, 16-byte aligned.
            let end = stack.len() - (stack.as_ptr() as usize + stack.len()) % 16;
            let top = stack[..end].as_mut_ptr_range().end;
            // SAFETY: `top` is the aligned end of a live buffer that outlives
            // the child's use of it (the parent is suspended until exec or
            // exit); the child shares our memory but only reads `ctx` and
            // writes its own stack (and errno, which the suspended parent
            // does not read until the clone returns).
            unsafe {
                libc::clone(
                    vfork_entry,
                    top.cast(),
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                    (&raw const ctx).cast_mut().cast(),
                )
            }
        }
    };
    let err = io::Error::last_os_error();
    // SAFETY: restores this thread's mask from a live sigset_t.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(err);
    }
    Ok(pid)
}

/// Reads the child's report: `None` if it exec'd, else (step, errno).
pub fn read_child_error(err_read: &OwnedFd) -> io::Result<Option<(usize, i32)>> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unread tail of a live buffer.
        let n = unsafe {
            libc::read(
                err_read.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        got += usize::try_from(n).unwrap_or(0);
    }
    if got == 0 {
        return Ok(None);
    }
    let step = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let err = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok(Some((usize::try_from(step).unwrap_or(usize::MAX), err)))
}

/// Kills and reaps a child that must not go on.
pub fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: signals our own, not yet reaped child: its pid cannot have
    // been recycled.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(pid);
}

/// Reaps a child that failed before exec.
pub fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for our own child, which has exited or is exiting;
    // `status` is a live int.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
}

/// `pidfd_open(pid)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    let fd = RawFd::try_from(r).map_err(|_| io::Error::last_os_error())?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh pidfd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits for the process behind `pidfd` and reaps it; returns the raw wait status.
pub fn wait_pidfd(pidfd: &OwnedFd) -> io::Result<i32> {
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: P_PIDFD with a live pidfd; `info` is a live siginfo_t.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                libc::id_t::try_from(pidfd.as_raw_fd()).unwrap_or(libc::id_t::MAX),
                &raw mut info,
                libc::WEXITED,
            )
        };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        // SAFETY: after a successful WEXITED wait, si_code and si_status are set.
        let (code, status) = unsafe { (info.si_code, info.si_status()) };
        return Ok(if code == libc::CLD_EXITED {
            (status & 0xff) << 8
        } else {
            status & 0x7f
        });
    }
}

/// Sends `sig` through a pidfd.
pub fn pidfd_kill(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments and a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Why [`fork_call`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ForkCallError {
    /// A step in the parent (pipe, fork, reading the verdict) failed.
    #[error("{step}: {source}")]
    Parent {
        /// The step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The child failed and said why: its error, as text, since no error
    /// value crosses a fork.
    #[error("{0}")]
    Child(String),
    /// The child ended without a verdict (killed, or exited non-zero
    /// without saying why).
    #[error("child ended with wait status {0:#x}")]
    Status(i32),
}

/// For the tests that run [`fork_call`] inside a function whose error is a
/// line of text.
impl From<ForkCallError> for String {
    fn from(e: ForkCallError) -> String {
        e.to_string()
    }
}

/// What a function run in a forked child reports: its failure as a line of
/// text, the one thing that crosses back over the fork (no error value
/// can), which the parent returns as [`ForkCallError::Child`].
pub type ChildVerdict = Result<(), String>;

/// Runs `f` in a forked child and returns its verdict. For tests and tools
/// only: the child may allocate, which glibc's fork keeps safe for malloc,
/// but a lock held by another parent thread at fork time would stay held.
pub fn fork_call(f: impl FnOnce() -> ChildVerdict) -> Result<(), ForkCallError> {
    let parent = |step| move |source| ForkCallError::Parent { step, source };
    let (r, w) = pipe().map_err(parent("pipe"))?;
    // SAFETY: see the function comment; the child ends with _exit and never
    // returns into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(parent("fork")(io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(r);
        let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err("child panicked".to_string()));
        let code = match verdict {
            Ok(()) => 0,
            Err(msg) => {
                // SAFETY: write from a live buffer.
                unsafe { libc::write(w.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
                1
            }
        };
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut msg = Vec::new();
    let mut file = std::fs::File::from(r);
    io::Read::read_to_end(&mut file, &mut msg).map_err(parent("read the child's verdict"))?;
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a live int.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if msg.is_empty() {
        Err(ForkCallError::Status(status))
    } else {
        Err(ForkCallError::Child(
            String::from_utf8_lossy(&msg).into_owned(),
        ))
    }
}

/// Detaches the (single-threaded) caller as a daemon: forks, the parent
/// exits at once, the child starts a new session and reads /dev/null.
pub fn daemonize() -> io::Result<()> {
    // SAFETY: called before any thread exists (daemons call it before
    // init_daemon_priv, which refuses threads); the parent only _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        // SAFETY: _exit ends the parent without running destructors.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: integer-only call.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    let null = std::fs::File::open("/dev/null")?;
    // SAFETY: integer arguments; replaces stdin with /dev/null.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
