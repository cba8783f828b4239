//! TRANSACTION_START and TRANSACTION_END.
//!
//! # Format
//! TRANSACTION_START's payload is ignored; the reply is the new id,
//! `N\0`. TRANSACTION_END is `T\0` (commit) or `F\0` (abort), in the frame
//! of the transaction it ends.

use super::{Ctx, ParseError, Payload, Reply, ok};
use crate::daemon::{Daemon, Outgoing};
use crate::txn::Txn;
use crate::wire::XsError;

/// TRANSACTION_START: the new transaction's id. EBUSY if the frame names
/// one still open, ENOSPC past the role's quota of open transactions.
pub fn start(d: &mut Daemon, cx: &Ctx) -> Reply {
    let max = d.limits.transactions(cx.role);
    let txn = d.limits.txn;
    let n = d.next_tx;
    let c = d.conn_mut(cx.conn)?;
    if cx.tx != 0 && c.txns.contains_key(&cx.tx) {
        return Err(XsError::Ebusy);
    }
    if max.is_some_and(|max| c.txns.len() >= max) {
        return Err(XsError::Enospc);
    }
    c.txns.insert(n, Txn::new(txn));
    d.next_tx = n.checked_add(1).filter(|n| *n != 0).unwrap_or(1);
    Ok(format!("{n}\0").into_bytes())
}

/// TRANSACTION_END.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionEnd {
    /// Commit (`T`) or abort (`F`).
    pub commit: bool,
}

impl TransactionEnd {
    /// From `T\0` or `F\0`.
    pub fn parse(p: &Payload<'_>) -> Result<TransactionEnd, ParseError> {
        match p.strings().map_err(|_| ParseError::CommitFlag)? {
            [b"T"] => Ok(TransactionEnd { commit: true }),
            [b"F"] => Ok(TransactionEnd { commit: false }),
            [_] => Err(ParseError::CommitFlag),
        }
    }

    /// `OK\0`; EAGAIN (and nothing applied) when the commit meets a
    /// conflicting change.
    pub fn apply(self, d: &mut Daemon, cx: &Ctx, out: &mut Vec<Outgoing>) -> Reply {
        let t = d
            .conn_mut(cx.conn)?
            .txns
            .remove(&cx.tx)
            .ok_or(XsError::Enoent)?;
        if self.commit {
            d.commit(t, cx.role.caller(), out)?;
        }
        Ok(ok())
    }
}
