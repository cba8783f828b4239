//! Placeholder: filled in by its owner (see /tmp/contract.md).

use crate::error::VirError;
use crate::procs::Proc;
use crate::session::Session;
use crate::xdr::Dec;

use super::Reply;

/// Runs one of this module's procedures.
pub fn call(_s: &mut Session, p: Proc, _d: &mut Dec<'_>) -> Result<Reply, VirError> {
    Err(VirError::unknown_procedure(
        crate::packet::REMOTE_PROGRAM,
        p.number(),
    ))
}
