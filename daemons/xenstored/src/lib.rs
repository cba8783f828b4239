//! xenstored: the XenStore of xvm-lp, speaking Xen 4.17's wire protocol so
//! that unmodified `xenstore-utils` work against it.
//!
//! - [`wire`]: frames, message types and error names; a frame reader that
//!   refuses oversized frames before allocating;
//! - [`path`], [`perms`], [`store`], [`txn`], [`watch`]: paths, node
//!   permissions, the node tree with its write rules and its one write
//!   path (all or nothing), bounded transactions over it, watches;
//! - [`limits`]: the quotas of domains and `virt_manage` peers, the
//!   bounds of a transaction;
//! - [`daemon`]: every request type, by the connection's role;
//! - [`journal`]: the durable store (`tdb`);
//! - [`server`]: the event loop and the privilege gate;
//! - [`client`]: the client library for xm, xend, virtd and tests;
//! - [`config`]: the run directory.

pub mod client;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod journal;
pub mod limits;
pub mod path;
pub mod perms;
pub mod role;
pub mod server;
pub mod start;
pub mod store;
pub mod txn;
pub mod watch;
pub mod wire;
