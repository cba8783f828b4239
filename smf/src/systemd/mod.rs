//! `svccfg export --systemd`: each instance becomes a hardened unit.
//!
//! The manifest stays the one place the policy is written: user, group,
//! supplementary groups, and capabilities that come from `privileges` and
//! `limit_privileges` through privlib's table. Everything else a unit can
//! take away is taken away, except what the daemons need to do their job:
//! - no `PrivateUsers=`: SO_PEERCRED answers from inside a user namespace
//!   would map every peer to `nobody`, and the peer check is the gate;
//! - no `ProtectProc=invisible` for a daemon whose manifest sets
//!   `sandbox/peer-proc`: its peer check reads the peer's `/proc/PID` (it
//!   fails closed without it, so capability-backed grants would be lost).
//!
//! `sandbox/address-families` replaces the default `AF_UNIX` (`none` for a
//! program with no socket at all); `sandbox/ip-allow` names the only IP
//! traffic let past `IPAddressDeny=any` (`localhost`: a loopback gate);
//! `sandbox/syscalls` adds calls back to the system-call allow list.
//!
//! Bare program names in `exec` are taken from `bindir`.
//!
//! The unit runs as root, so every line is checked as it is written: a
//! value that would not stay on its line (a control character, which the
//! manifest reader refuses already, or a final `\` that would join the
//! next line to it) fails the export; it is never written.
//!
//! - [`lines`]: a unit written line by line, each line checked; command
//!   lines quoted for systemd;
//! - [`mod@unit`]: one instance's unit;
//! - [`files`]: `sysusers.d` and `tmpfiles.d`;
//! - [`error`]: why an instance could not be exported.
//!
//! Imports point one way: `unit -> lines -> error`.

pub mod error;
pub mod files;
pub mod lines;
#[cfg(test)]
mod tests;
pub mod unit;

pub use error::{LineProblem, UnitError};
pub use files::{sysusers, tmpfiles};
pub use lines::{DEFAULT_BINDIR, unit_name};
pub use unit::unit;
