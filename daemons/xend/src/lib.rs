//! xend: the domain manager of xvm-lp.
//!
//! A request travels down this map, and an answer back up:
//!
//! - The protocol: [`api`] types it once (method names, params, replies,
//!   error codes), [`rpc`] frames it (bounded lines, decoding),
//!   [`server`] serves it (the gate, a thread per peer, one locked
//!   manager; `main.rs` only parses arguments, builds and serves), and
//!   [`client`] speaks it for xm and virtd.
//! - The domain table: [`manager`] (domains, reservations, busy and
//!   ending ones), beside it what survives xend and adoption
//!   ([`manager::saved`]), managed configs ([`manager::managed`]),
//!   Domain-0's size ([`manager::host`]) and looking after running
//!   domains ([`manager::watch`]).
//! - A domain's life: [`launch`] starts a reserved domain (prepare, then
//!   run) and ends one; [`entries`] writes its xenstore entries; [`dm`]
//!   is the device model, qemu with no privilege at all, its log
//!   ([`dm::log`]) and how it is ended ([`dm::kill`]); [`disk`] opens
//!   disk images beneath the image directories; [`qmp`] talks to it.
//! - What a domain is: [`config`], xl.cfg(5) with every refusal naming
//!   file, line and column; [`uuid`]; [`error`], what a domain operation
//!   fails with ([`error::DomainError`]).
//! - The host: [`layout`], where xend keeps things and making sure it
//!   can; [`privs`], what xend holds and when; [`testguest`], the test
//!   guest's disk image.

pub mod api;
pub mod client;
pub mod config;
pub mod disk;
pub mod dm;
pub mod domain;
pub mod entries;
pub mod error;
pub mod launch;
pub mod layout;
pub mod manager;
pub mod privs;
pub mod procstat;
pub mod qmp;
pub mod rpc;
pub mod saved;
#[cfg(test)]
mod scratch;
pub mod server;
#[cfg(test)]
mod server_tests;
pub mod testguest;
pub mod uuid;
