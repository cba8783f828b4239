//! The control protocol's bounds.

use std::time::Duration;

use privlib::GateLimits;

/// Longest request line.
pub const MAX_LINE: usize = 64 * 1024;
/// How long a peer may take to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection waits for the restarter's loop to answer (it
/// may be stopping every service at once).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(25);

/// The control socket's gate: a few dozen administrators' tools at once
/// is plenty; one uid gets 8 (a `virt_manage` user cannot fill the
/// socket), and 16 slots are kept for `xvm_control` peers (root's `svcs`
/// gets in whatever ordinary users hold).
pub const LIMITS: GateLimits = GateLimits {
    total: 64,
    per_uid: 8,
    reserve: 16,
    first_request: Duration::from_secs(1),
    refusals_pending: 64,
    refusals_per_uid: 8,
    idle: READ_TIMEOUT,
};
