//! Process creation: fork, run a list of [`CredOp`]s in the child, exec.
//!
//! The child runs only raw system calls on data built by the parent before
//! the fork, so it is safe even when the parent has other threads. A failure
//! is reported to the parent as (step index, errno) over a close-on-exec
//! pipe; end-of-file on that pipe means the exec happened.

use std::ffi::{CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::fds;
use super::{CredOp, apply_raw, errno};

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

/// A function run in a forked child failed: what it said, as text, the one
/// thing that crosses back over the fork (no error value can); the parent
/// returns it as [`ForkCallError::Child`]. `?` turns any error a child
/// meets into one (by its `Display`; like `anyhow::Error`, it is not an
/// error type itself, so that blanket conversion can exist).
#[derive(Debug)]
pub struct ChildFailure(pub String);

impl<E: std::fmt::Display> From<E> for ChildFailure {
    fn from(e: E) -> ChildFailure {
        ChildFailure(e.to_string())
    }
}

/// What a function run in a forked child reports.
pub type ChildVerdict = Result<(), ChildFailure>;

/// Runs `f` in a forked child and returns its verdict. For tests and tools
/// only: the child may allocate, which glibc's fork keeps safe for malloc,
/// but a lock held by another parent thread at fork time would stay held.
pub fn fork_call(f: impl FnOnce() -> ChildVerdict) -> Result<(), ForkCallError> {
    let parent = |step| move |source| ForkCallError::Parent { step, source };
    let (r, w) = fds::pipe().map_err(parent("pipe"))?;
    // SAFETY: see the function comment; the child ends with _exit and never
    // returns into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(parent("fork")(io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(r);
        let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err(ChildFailure("child panicked".to_string())));
        let code = match verdict {
            Ok(()) => 0,
            Err(ChildFailure(msg)) => {
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
