//! The system layer: the only place in privlib that makes privileged kernel
//! calls and the only place with `unsafe`.
//!
//! Everything that changes credentials is described as data first, a list of
//! [`CredOp`]s, and then applied through the [`Sys`] trait: [`Linux`] makes
//! the real calls, [`fake::Recording`] records them, so the plan of a
//! privilege drop is unit-tested without root. The same ops are executed by
//! a forked child in [`child`]; that path must not allocate, so every op
//! carries plain, pre-built data and [`apply_raw`] only makes raw system calls.

pub mod accounts;
mod apply;
pub mod bpf;
mod capset;
pub mod child;
mod credop;
pub mod diag;
pub mod fake;
pub mod fds;
pub mod held;
pub mod host;
pub mod landlock;
mod linux;
pub mod ns;
pub mod openat;
pub mod peer;
pub mod pidfd;
pub mod poll;
pub mod probe;
pub mod rlimit;
pub mod seccomp;
pub mod sock;
pub mod tap;
pub mod tty;

use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

pub use apply::{MAX_DEV_NODES, apply_raw};
pub use credop::{CredOp, PrivateDev};
pub use held::HeldFd;
use landlock::Ruleset;
pub use linux::{Linux, kernel_last_cap};
pub use seccomp::{SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_TSYNC};

use crate::caps::CapMask;

/// Whether the kernel ran this program as set-id or with file
/// capabilities for someone else (`AT_SECURE` in the auxiliary vector,
/// fixed at exec: it stays true after the program changes its ids).
pub fn secure_exec() -> bool {
    // SAFETY: getauxval only reads the process's auxiliary vector.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// `SECBIT_*` values.
pub mod secbit {
    /// uid 0 gets no capabilities at exec.
    pub const NOROOT: u32 = libc::SECBIT_NOROOT.cast_unsigned();
    /// NOROOT cannot be changed again.
    pub const NOROOT_LOCKED: u32 = libc::SECBIT_NOROOT_LOCKED.cast_unsigned();
    /// Leaving or entering uid 0 leaves the capability sets alone.
    pub const NO_SETUID_FIXUP: u32 = libc::SECBIT_NO_SETUID_FIXUP.cast_unsigned();
    /// NO_SETUID_FIXUP cannot be changed again.
    pub const NO_SETUID_FIXUP_LOCKED: u32 = libc::SECBIT_NO_SETUID_FIXUP_LOCKED.cast_unsigned();
    /// P survives leaving uid 0 (cleared at exec).
    pub const KEEP_CAPS: u32 = libc::SECBIT_KEEP_CAPS.cast_unsigned();
    /// What privlib sets: uid 0 is never special again, and set*id calls
    /// never touch capabilities; both locked.
    pub const LOCKED_NOROOT: u32 =
        NOROOT | NOROOT_LOCKED | NO_SETUID_FIXUP | NO_SETUID_FIXUP_LOCKED;
}

/// The three capability sets of the calling thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapState {
    /// Effective.
    pub effective: CapMask,
    /// Permitted.
    pub permitted: CapMask,
    /// Inheritable.
    pub inheritable: CapMask,
}

/// Real, effective and saved ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// Real, effective, saved uid.
    pub uid: [u32; 3],
    /// Real, effective, saved gid.
    pub gid: [u32; 3],
}

/// The kernel as privlib sees it: queries plus [`CredOp`]s.
pub trait Sys {
    /// Threads in this process.
    fn thread_count(&self) -> io::Result<usize>;
    /// The ids of the calling thread.
    fn ids(&self) -> Ids;
    /// Supplementary groups.
    fn groups(&self) -> io::Result<Vec<u32>>;
    /// The capability sets of the calling thread.
    fn caps(&self) -> io::Result<CapState>;
    /// The bounding set.
    fn bounding(&self) -> CapMask;
    /// The ambient set.
    fn ambient(&self) -> CapMask;
    /// The securebits.
    fn securebits(&self) -> u32;
    /// Whether no_new_privs is set.
    fn no_new_privs(&self) -> bool;
    /// The highest capability number the kernel knows.
    fn last_cap(&self) -> u8;
    /// The Landlock ABI version (0: none).
    fn landlock_abi(&self) -> u32;
    /// Whether `fd` is open in this process.
    fn fd_is_open(&self, fd: RawFd) -> bool;
    /// The caller's `PATH`, where a program to spawn is looked up.
    fn path_var(&self) -> Option<OsString>;
    /// Whether `path` is a regular file with an execute bit.
    fn is_executable(&self, path: &Path) -> bool;
    /// Checks that the device node `path` opens without following a symlink.
    fn check_node(&self, path: &Path) -> io::Result<()>;
    /// Opens /dev/null for reading and writing.
    fn open_devnull(&self) -> io::Result<HeldFd>;
    /// Creates a Landlock ruleset handling `handled_fs` and `scoped`.
    fn landlock_create(&self, abi: u32, handled_fs: u64, scoped: u64) -> io::Result<Ruleset>;
    /// Adds a rule to `rs` allowing `access` beneath `path`.
    fn landlock_allow(&self, rs: &mut Ruleset, path: &Path, access: u64) -> io::Result<()>;
    /// Applies one op to the calling thread; the error is an errno.
    fn apply(&mut self, op: &CredOp) -> Result<(), i32>;
}

pub(crate) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `prctl` with long arguments; returns the raw result.
pub(crate) fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> libc::c_int {
    // SAFETY: every prctl op privlib uses takes integer arguments only; no
    // pointer is passed, so no memory is read or written by the kernel.
    unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) }
}

pub(crate) fn check(r: libc::c_long) -> Result<(), i32> {
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// A libc call's `int` result as an `io::Result`: negative means failed,
/// with the cause in errno (read at once, before anything can change it).
pub(crate) fn check_io(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A `PR_CAP_AMBIENT` sub-operation as prctl's unsigned long argument.
pub(crate) fn ambient_op(sub: libc::c_int) -> libc::c_ulong {
    libc::c_ulong::from(sub.cast_unsigned())
}
