//! smf: the service manifests of xvm-lp, and what runs them: the
//! restarter `svc-startd`, its control socket and tools (svcs, svcadm,
//! svcprop, svccfg), the systemd export, and `xvm-fixperms`.
//!
//! # Modules
//! - [`fmri`]: FMRIs such as `svc:/system/xvm/store:default`;
//! - [`manifest`]: SMF XML (service_bundle DTD 1) into a typed model,
//!   every refusal naming file, line and column: `model` (what a manifest
//!   says), `property` (types, values, `pg/prop`), `resolve` (an instance
//!   with its service folded in), `exec` (methods' command lines and their
//!   `%` tokens), `xml` (the reader, one file per part of the DTD);
//! - [`props`]: the administrator's property overrides, one file,
//!   replaced atomically, read bounded;
//! - [`restarter`]: svc-startd's state machine: `state`, `instances`
//!   (finding, dependencies, enabling), `lifecycle` (reap, stop, start),
//!   `launch` (a start method with its manifest's credential);
//! - [`control`]: the control socket: `limits`, `error`, `verb` (the one
//!   table of verbs), `handlers`, `wire` (bounded request, answer),
//!   `server` (the gate, threads, the loop's inbox), `client`;
//! - [`layout`]: the tree under `XVM_ROOT` as a host has it (the host's
//!   directories, svc-startd's, the daemons'), one table for all;
//! - [`paths`]: svc-startd's directories in system and session mode, and
//!   making them;
//! - [`fixperms`]: `xvm-fixperms`, laying out and fixing ownership of an
//!   installation without following a link;
//! - [`systemd`]: hardened units from manifests (`svccfg export --systemd`):
//!   `lines`, `unit`, `files`, `error`;
//! - [`cli`]: the tools' exit status and error line.
//!
//! Imports point one way (no cycle, at module or submodule level):
//! `control -> restarter -> props -> manifest -> fmri`; `paths ->
//! fixperms -> layout`; `systemd -> manifest, layout`. Every file a user
//! can write (manifests, the override file) is read through
//! `privlib::bounded` with a stated bound; the control socket reads with
//! its `LineReader`.

pub mod cli;
pub mod control;
pub mod fixperms;
pub mod fmri;
pub mod layout;
pub mod manifest;
pub mod paths;
pub mod props;
pub mod restarter;
pub mod systemd;
