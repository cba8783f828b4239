//! xend: the domain manager of xvm-lp.
//!
//! A request travels down this map, and an answer back up. Imports point
//! one way: a module uses only modules listed before it here (`crate::X`
//! never points to a later one, so there is no cycle):
//!
//! 1. The ground: [`uuid`]; [`config`], xl.cfg(5) with every refusal
//!    naming file, line and column; [`disk`], opening disk images beneath
//!    the image directories; [`qmp`], talking to a device model;
//!    [`procstat`], what xend reads of a process in /proc; [`features`],
//!    xend's features and the privileges each needs (the one table);
//!    [`privs`], what xend holds and when; [`layout`], where xend keeps things and
//!    making sure it can; [`api`], the protocol typed once (method names,
//!    params, replies, error codes), and [`rpc`], its framing (bounded
//!    lines, decoding); [`definition`], a typed definition (virtd's) to
//!    and from a config; [`testguest`], the test guest's disk image.
//! 2. What a domain is: [`vnc`], its VNC gate's rules (where it listens,
//!    whether this xend may open that address, who may connect, its
//!    store keys); [`domain`], the settings xend launches with, a
//!    running or reserved domain, the limits on them (plain data);
//!    [`net`], a domain's network cards (taps on bridges in system
//!    mode, passt in session mode).
//! 3. What survives xend: [`saved`], each domain's `state.json`.
//! 4. The device model and the store: [`dm`], qemu with no privilege at
//!    all, checked before it is started ([`dm::prepare`]), its log
//!    ([`dm::log`]) and how it is ended ([`dm::kill`]); [`entries`], a
//!    domain's xenstore entries.
//! 5. A domain's life: [`launch`] starts a reserved domain (prepare, then
//!    run: the one list of a launch's steps is there) and ends one,
//!    failing with its own
//!    [`launch::LaunchError`].
//! 6. What a domain operation fails with: [`error`]
//!    ([`error::DomainError`], which each lower error converts into).
//! 7. The domain table: [`manager`] (domains, reservations, busy and
//!    ending ones), adopting what a previous xend left running
//!    ([`manager::adopt`]), managed configs ([`manager::managed`]),
//!    Domain-0's size ([`manager::host`]) and looking after running
//!    domains ([`manager::watch`]).
//! 8. Serving: [`server`] (the gate, a thread per peer, one locked
//!    manager); beside it [`start`], xend's start-up steps in order, each
//!    failing with its own [`start::StartError`] (`main.rs` only parses
//!    arguments, calls it and prints the one line), and [`client`], which
//!    speaks the protocol ([`api`] over [`rpc`]) for xm and virtd;
//!    [`plugging`], the hot-plug methods served;
//!    [`defined`], the methods virtd adds (define, definition,
//!    autostart) and autostart at start; [`relocation`], `xm migrate`
//!    and the relocation server's methods, over [`jobs`], the migration
//!    jobs the server holds (plain bookkeeping, below the server).

pub mod api;
pub mod client;
pub mod config;
pub mod defined;
#[cfg(test)]
mod defined_tests;
pub mod definition;
pub mod disk;
pub mod dm;
pub mod domain;
pub mod entries;
pub mod error;
pub mod features;
pub mod jobs;
pub mod launch;
pub mod layout;
pub mod manager;
pub mod net;
pub mod plugging;
pub mod privs;
pub mod procstat;
pub mod qcow2;
pub mod qmp;
pub mod relocation;
pub mod rpc;
pub mod saved;
#[cfg(test)]
mod scratch;
pub mod server;
#[cfg(test)]
mod server_tests;
pub mod start;
pub mod testguest;
pub mod uuid;
pub mod vnc;
