//! WATCH, UNWATCH and RESET_WATCHES.
//!
//! # Format
//! WATCH and UNWATCH take exactly `path\0token\0`; the path is kept as
//! given (relative paths report relative events). A watch's first event,
//! `path\0token\0`, is sent at once after its `OK\0`.

use super::{Ctx, ParseError, Payload, Reply, ok, text};
use crate::daemon::{Daemon, Outgoing, event};
use crate::path::NodePath;
use crate::watch::Watch;
use crate::wire::{ABS_PATH_MAX, PAYLOAD_MAX, XsError};

/// WATCH's payload, `path\0token\0`: the watch to register. Refuses
/// (E2BIG) a watch whose events could not fit one frame.
pub fn parse(p: &Payload<'_>) -> Result<Watch, ParseError> {
    let [raw, token] = p.strings()?;
    let path = p.any_path(raw)?;
    let given = text(raw, "path")?.to_string();
    // Every event must fit one frame: `path\0token\0`, the path the
    // longest this watch can report (any absolute path beneath it, or
    // the special name itself).
    let longest = match &path {
        NodePath::Abs(_) => ABS_PATH_MAX.max(given.len()),
        NodePath::Special(_) => given.len(),
    };
    let event = longest.saturating_add(token.len()).saturating_add(2);
    if event > PAYLOAD_MAX {
        return Err(ParseError::EventTooLong(event));
    }
    Ok(Watch {
        given,
        path,
        token: token.to_vec(),
    })
}

/// WATCH: `OK\0`, and the watch's first event; EEXIST for a watch the
/// connection has, E2BIG past its role's watch quota.
pub fn watch(d: &mut Daemon, cx: &Ctx, w: Watch, out: &mut Vec<Outgoing>) -> Reply {
    let max = d.limits.watch_nb(cx.role);
    let c = d.conn_mut(cx.conn)?;
    if c.watches
        .iter()
        .any(|x| x.given == w.given && x.token == w.token)
    {
        return Err(XsError::Eexist);
    }
    if max.is_some_and(|max| c.watches.len() >= max) {
        return Err(XsError::E2big);
    }
    out.push(Outgoing {
        conn: cx.conn,
        frame: event(&w.given, &w.token),
    });
    c.watches.push(w);
    Ok(ok())
}

/// UNWATCH: removes a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unwatch {
    /// The path as given to WATCH.
    pub given: String,
    /// The token given to WATCH.
    pub token: Vec<u8>,
}

impl Unwatch {
    /// From `path\0token\0`.
    pub fn parse(p: &Payload<'_>) -> Result<Unwatch, ParseError> {
        let [raw, token] = p.strings()?;
        Ok(Unwatch {
            given: text(raw, "path")?.to_string(),
            token: token.to_vec(),
        })
    }

    /// `OK\0`; ENOENT for a watch the connection does not have.
    pub fn apply(self, d: &mut Daemon, cx: &Ctx) -> Reply {
        let c = d.conn_mut(cx.conn)?;
        let before = c.watches.len();
        c.watches
            .retain(|w| !(w.given == self.given && w.token == self.token));
        if c.watches.len() == before {
            return Err(XsError::Enoent);
        }
        Ok(ok())
    }
}

/// RESET_WATCHES: forgets the connection's watches and transactions.
pub fn reset(d: &mut Daemon, cx: &Ctx) -> Reply {
    let c = d.conn_mut(cx.conn)?;
    c.watches.clear();
    c.txns.clear();
    Ok(ok())
}
