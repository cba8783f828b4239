//! xenstored: the XenStore of xvm-lp, speaking Xen 4.17's wire protocol so
//! that unmodified `xenstore-utils` work against it.
//!
//! This crate is being built bottom-up. Present so far:
//! - [`wire`]: frames, message types and error names, with a frame
//!   reader that refuses oversized frames before allocating;
//! - [`path`]: path validation and relative-path resolution;
//! - [`perms`]: node permission lists and the access rule;
//! - [`store`]: the node tree with generations and per-domain entry counts.

pub mod client;
pub mod config;
pub mod daemon;
pub mod journal;
pub mod path;
pub mod perms;
pub mod server;
pub mod store;
pub mod txn;
pub mod watch;
pub mod wire;
