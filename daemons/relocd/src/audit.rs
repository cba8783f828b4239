//! Audit records of relocation peers: one `xvm::audit` event per
//! decision, as privlib's gate writes them for local peers, naming the
//! peer's address, the endpoint and the outcome.

use std::net::SocketAddr;

/// A peer let in by the allowed name its certificate carries.
pub fn granted(peer: SocketAddr, endpoint: &str, name: &str) {
    tracing::info!(
        target: "xvm::audit",
        peer = %peer,
        endpoint,
        outcome = "granted",
        "relocation peer {peer} granted as {name}"
    );
}

/// A peer refused, and why (before any byte of a domain moved).
pub fn refused(peer: SocketAddr, endpoint: &str, why: &str) {
    tracing::warn!(
        target: "xvm::audit",
        peer = %peer,
        endpoint,
        outcome = "denied",
        "relocation peer {peer} refused: {why}"
    );
}
