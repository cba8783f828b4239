//! xenstored: the XenStore of xvm-lp, speaking Xen 4.17's wire protocol so
//! that unmodified `xenstore-utils` work against it.
//!
//! A request goes bytes -> frame -> typed request -> applied, one module
//! per step (the layering of tokio-rs/mini-redis):
//!
//! - [`wire`]: frames, message types and error names; a frame reader that
//!   refuses oversized frames before allocating;
//! - [`cmd`]: a frame's payload parsed into a typed [`cmd::Request`] (one
//!   struct per request in `cmd/{node,watch,transaction,domain,control}.rs`,
//!   a [`cmd::ParseError`] naming what was wrong), the gate deciding per
//!   message type in one exhaustive `match` who may send it, and
//!   [`daemon::Daemon::handle`], which applies the request;
//! - [`daemon`]: the state (connections, domains, the pending journal
//!   changes) and the effects requests share: one change applied or kept
//!   by a transaction, journaled and announced to the watches it touches;
//! - [`store`]: the node tree and its write rules, with its all-or-nothing
//!   write path (`store/write.rs`) and node layout (`store/node.rs`);
//!   [`txn`]: bounded transactions over it; [`path`], [`perms`],
//!   [`watch`]: paths, node permissions, watches;
//! - [`role`], [`quota`], [`limits`]: what a connection may do, the node
//!   quotas, the per-role bounds of watches and transactions;
//! - [`journal`]: the durable store (`tdb`), replayed one bounded record
//!   at a time; [`journal::record`] encodes and decodes a record's body;
//! - [`server`]: the event loop and the privilege gate;
//! - [`client`]: the client library for xm, xend, virtd and tests;
//! - [`config`]: the run directory; [`start`]: why start-up failed, one
//!   variant per step of `main.rs`.
//!
//! Imports point one way: `cmd`, `journal` -> `daemon` -> `limits`,
//! `watch`, `txn` -> `role`, `store` -> `path`, `perms`, `quota` ->
//! `wire`; `server` -> `daemon`, `journal`; `start` -> `config`,
//! `journal`. No module imports one that imports it; the server reaches
//! `cmd` only through the `Daemon::handle` method it defines.

pub mod client;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod journal;
pub mod limits;
pub mod path;
pub mod perms;
pub mod quota;
pub mod role;
pub mod server;
pub mod start;
pub mod store;
pub mod txn;
pub mod watch;
pub mod wire;
