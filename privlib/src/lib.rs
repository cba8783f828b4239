//! privlib: Solaris-style least privilege for the xVM daemons, on Linux.
//!
//! Solaris gives every process four privilege sets (E, I, P, L) and lets a
//! daemon keep only the privileges it needs (`init_daemon_priv`). Linux has
//! capabilities, securebits, no_new_privs, seccomp and Landlock instead;
//! privlib maps the one onto the other and adds the two privileges of the
//! xVM stack, `xvm_control` and `virt_manage`.
//!
//! How the modules fit:
//! - [`caps`]: Linux capabilities by number and name;
//! - [`names`]: the privilege table, and how each name is backed on Linux;
//! - [`set`]: privilege sets and their text forms (`basic,!proc_info`);
//! - [`basic`]: seccomp and Landlock for removed basic privileges;
//! - [`process`]: the calling process (`init_daemon_priv`, `priv_bracket`, ...);
//! - [`procfs`]: any process's sets, read from `/proc`;
//! - [`spawn`]: starting a program with a credential;
//! - [`subid`]: the device-model uid range owned by no user's namespace;
//! - [`peer`]: who is at the other end of a socket ([`peer::getpeerucred`],
//!   loopback TCP through sock_diag);
//! - [`policy`]: the policy file granting `xvm_control` and `virt_manage`;
//! - [`authz`]: [`authz::require_any`], the one decision, with its audit event;
//! - [`gate`]: who gets a connection slot, decided at accept; the refuser;
//! - [`listener`]: the unix socket every daemon listens on;
//! - [`log`]: the daemons' stderr log;
//! - [`ppriv`]: the `ppriv` tool's output;
//! - [`bounded`]: size- and time-bounded reads of lines and files;
//! - [`os`]: the safe system calls the daemons may make (openat2 helpers,
//!   accounts, poll, fd passing);
//! - `sys` (private): the only module with `unsafe`: the kernel calls, with
//!   a recording fake for tests;
//! - `testing` (feature `testing`, for tests only): hermetic accounts and
//!   users in a private mount namespace.

pub mod authz;
pub mod basic;
pub mod bounded;
pub mod caps;
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
