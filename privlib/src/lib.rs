//! privlib: Solaris-style least privilege for the xVM daemons, on Linux.
//!
//! Solaris gives every process four privilege sets (E, I, P, L) and lets a
//! daemon keep only the privileges it needs (`init_daemon_priv`). Linux has
//! capabilities, securebits, no_new_privs, seccomp and Landlock instead;
//! privlib maps the one onto the other and adds the two privileges of the
//! xVM stack, `xvm_control` and `virt_manage`.
//!
//! How the modules fit (imports point down the list, never back up):
//! - [`caps`]: Linux capabilities by number and name;
//! - [`names`]: the privilege table, and how each name is backed on Linux;
//! - [`set`]: privilege sets and their text forms (`basic,!proc_info`);
//! - [`basic`]: taking basic privileges away for real: what a removal
//!   takes (`basic`), the seccomp rules per privilege (`basic::seccomp`),
//!   Landlock rulesets and a daemon's own [`confine_fs`] (`basic::landlock`);
//! - [`process`]: the calling process, each call a thin wrapper over its
//!   `_with` form that the fake can check: `init_daemon_priv` and
//!   `fini_daemon_priv` (`process::daemon`), `setppriv` and the one path
//!   every set change takes (`process::sets`), bracketing and the set-uid
//!   calls (`process::bracket`);
//! - [`procfs`]: any process's sets, read from `/proc` (bounded);
//! - [`spawn`]: starting a program with a credential: the builder
//!   (`spawn`), its errors, the checked [`spawn::Plan`] of the child's
//!   steps (made through `Sys` only), and the fork and exec (`spawn::run`);
//! - [`subid`]: the device-model uid range owned by no user's namespace;
//! - [`mode`]: system or session mode, and the session run directory rule;
//! - [`peer`]: who is at the other end of a socket ([`peer::getpeerucred`],
//!   loopback TCP through sock_diag);
//! - [`policy`]: the policy file granting `xvm_control` and `virt_manage`;
//! - [`authz`]: [`authz::require_any`], the one decision, with its audit event;
//! - [`gate`]: who gets a connection slot, decided at accept; the refuser;
//! - [`cli`]: the command-line flags the daemons and clients share;
//! - [`listener`]: the unix socket every daemon listens on;
//! - [`log`]: the daemons' stderr log;
//! - [`ppriv`]: the `ppriv` tool's output;
//! - [`bounded`]: size- and time-bounded reads of lines and files;
//! - [`os`]: the safe system calls the daemons may make (openat2 helpers,
//!   accounts, poll, fd passing);
//! - `sys` (private): the only module with `unsafe`. The `Sys` trait is
//!   the kernel as privlib sees it: queries, the file and fd questions a
//!   plan asks, and `CredOp`s (`sys::credop`) applied one by one. `Linux`
//!   (`sys::linux`) makes the calls; `sys::fake::Recording` answers from
//!   data and records every op and question, so a plan under it makes no
//!   system call. Below: raw application in a forked child (`sys::apply`,
//!   `sys::capset`, `sys::seccomp`), process creation (`sys::child`), fds
//!   and SCM_RIGHTS (`sys::fds`), pidfds, Landlock, BPF, sock_diag, openat2
//!   (`sys::openat`), unix sockets (`sys::sock`), accounts, namespaces,
//!   poll, rlimits;
//! - `testing` (feature `testing`, for tests only): hermetic accounts and
//!   users in a private mount namespace, typed `TestingError`s.

pub mod authz;
pub mod basic;
pub mod bounded;
pub mod caps;
pub mod cli;
pub mod gate;
pub mod listener;
pub mod log;
pub mod mode;
pub mod names;
pub mod os;
pub mod peer;
pub mod policy;
pub mod ppriv;
pub mod process;
pub mod procfs;
pub mod set;
pub mod spawn;
pub mod subid;
// The system layer is private: the daemons get [`os`]'s safe facades. The
// `testing` feature opens it to privlib's own root tests, which check the
// layer itself (the raw child path, seccomp assembly, capability state).
#[cfg(not(feature = "testing"))]
#[allow(unreachable_pub, dead_code)]
mod sys;
#[cfg(feature = "testing")]
pub mod sys;
#[cfg(feature = "testing")]
pub mod testing;

pub use authz::{Denied, Grant, require_any};
pub use basic::landlock::{LandlockError, confine_fs};
pub use gate::{Gate, GateLimits, Refusal, Slot, Verdict};
pub use peer::{Ucred, getpeerucred};
pub use policy::{Policy, PolicyError};
pub use process::{
    InitFlags, PrivError, PrivOp, fini_daemon_priv, getppriv, init_daemon_priv, init_suid_priv,
    priv_bracket, priv_bracket_init, relinquish, setppriv,
};
pub use set::{PrivSet, PrivSets, SetError, SetSpec, Which};
pub use spawn::{Child, FsAccess, Spawn, SpawnError};

/// The running kernel's highest capability number.
pub fn last_cap() -> u8 {
    sys::kernel_last_cap()
}

/// Reads a privilege set expression against the running kernel.
pub fn parse_set(text: &str) -> Result<PrivSet, SetError> {
    PrivSet::parse(text, last_cap())
}
