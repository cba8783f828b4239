//! xend: the domain manager of xvm-lp.
//!
//! Built bottom-up; present so far:
//! - [`config`]: domain configs in xl.cfg(5) syntax, every refusal naming
//!   file, line and column, unsupported keys reported by name;
//! - [`dm`]: the device model, qemu started with no privilege at all.

pub mod config;
pub mod dm;
