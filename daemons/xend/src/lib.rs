//! xend: the domain manager of xvm-lp.
//!
//! - [`config`]: domain configs in xl.cfg(5) syntax, every refusal naming
//!   file, line and column, unsupported keys reported by name;
//! - [`error`]: what a domain operation fails with ([`error::DomainError`]);
//! - [`dm`]: the device model, qemu started with no privilege at all;
//!   its log ([`dm::log`]) and how it is ended ([`dm::kill`]);
//! - [`disk`]: opening disk images beneath the image directories;
//! - [`launch`]: starting a reserved domain (prepare, then run) and
//!   ending one; [`entries`]: its xenstore entries;
//! - [`manager`]: the domains, their device models and xenstore entries;
//! - [`rpc`]: JSON-RPC 2.0 on xend's socket, and the client xm uses;
//! - [`server`]: serving clients concurrently over one locked manager;
//! - [`qmp`]: talking to a device model;
//! - [`privs`]: what xend holds, and when;
//! - [`testguest`]: the test guest's disk image.

pub mod api;
pub mod client;
pub mod config;
pub mod disk;
pub mod dm;
pub mod entries;
pub mod error;
pub mod launch;
pub mod layout;
pub mod manager;
pub mod privs;
pub mod qmp;
pub mod rpc;
pub mod server;
#[cfg(test)]
mod server_tests;
pub mod testguest;
pub mod uuid;
