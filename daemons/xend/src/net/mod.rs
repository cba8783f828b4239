//! A domain's network cards: what [`crate::dm::prepare`] checks of each
//! `vif` ([`plan`]), and the backends [`crate::launch::run`] opens for
//! them (a tap on a bridge in system mode, passt in session mode), whose
//! fds qemu gets ([`crate::dm::netdev`]).

use crate::config::{Mac, Vif};
use crate::domain::Settings;

/// Network cards a domain may have.
pub const MAX_NICS: usize = 8;

/// One checked network card, before anything is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicPlan {
    /// Its place in `vif` (card N of domain D is `vifD.N`).
    pub index: usize,
    /// The config's card.
    pub vif: Vif,
    /// Its MAC (the config's, or one chosen from 00:16:3e).
    pub mac: Mac,
}

/// Why a domain's network cards were refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The config needs a feature this xend runs without.
    #[error(transparent)]
    Disabled(#[from] crate::features::Disabled),
    /// Not built yet.
    #[error("vif: network cards are not supported yet")]
    Unsupported,
}

/// Checks the network cards of a domain's config and makes nothing.
pub fn plan(s: &Settings, vifs: &[Vif]) -> Result<Vec<NicPlan>, NetError> {
    if vifs.is_empty() {
        return Ok(Vec::new());
    }
    if s.system {
        s.features
            .require(crate::features::Feature::Networking, "vif")?;
    }
    Err(NetError::Unsupported)
}
