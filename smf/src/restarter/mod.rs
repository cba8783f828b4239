//! svc-startd's state machine: which instance is in which state, starting
//! them in dependency order with the credential their manifest gives,
//! restarting the ones that die, and putting one that keeps dying into
//! maintenance with the reason.
//!
//! States, as SMF names them: `uninitialized` (not looked at yet),
//! `offline` (enabled, waiting for dependencies), `online`, `disabled`,
//! `maintenance` (gave up; `svcadm clear` tries again).
//!
//! - [`state`]: the states, an instance ([`Svc`]), the restarter's
//!   configuration and state;
//! - [`instances`]: the instances from the manifests and the overrides,
//!   finding one by name, their dependencies, enabling and clearing;
//! - [`lifecycle`]: one round of reaping, stopping and starting, and the
//!   shutdown;
//! - [`launch`]: a start method run with its manifest's credential.
//!
//! Imports point one way: `lifecycle -> launch -> state`, `lifecycle ->
//! instances -> state`.

pub mod instances;
pub mod launch;
pub mod lifecycle;
pub mod state;

pub use state::{BURST, BURST_WINDOW, Config, Restarter, State, Svc, humantime};
