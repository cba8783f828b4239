//! smf: the service manifests of xvm-lp, and what runs them.
//!
//! - [`fmri`]: FMRIs such as `svc:/system/xvm/store:default`;
//! - [`manifest`]: SMF XML (service_bundle DTD 1) into a typed model,
//!   every refusal naming file, line and column;
//! - [`props`]: administrator overrides, method command lines and their
//!   `%` tokens;
//! - [`systemd`]: hardened units from manifests (`svccfg export --systemd`);
//! - [`fixperms`]: `xvm-fixperms`, ownership of an existing installation.

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
