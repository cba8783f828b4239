//! The daemon's state, and the effects every request shares: a change
//! applied (or kept by a transaction), journaled and announced to the
//! watches it touches.
//!
//! Requests reach it through [`Daemon::handle`], which [`crate::cmd`]
//! defines: a frame is parsed into a typed request there, and each request
//! applies itself to this state.

use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::limits::{ControlLimits, Limits, ManageLimits};
use crate::path::NodePath;
pub use crate::role::Role;
use crate::store::{Applied, Caller, Store};
use crate::txn::{TxOp, Txn};
use crate::watch::{Watch, event_payload};
use crate::wire::{Frame, MsgType, XsError};

/// A connection's state.
#[derive(Debug)]
pub struct Conn {
    /// What it may do.
    pub role: Role,
    /// Connected on `socket_ro`.
    pub read_only: bool,
    pub(crate) txns: HashMap<u32, Txn>,
    pub(crate) watches: Vec<Watch>,
}

/// An introduced domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    /// The machine frame of its ring page, as given.
    pub mfn: u64,
    /// Its event channel, as given.
    pub port: u32,
    /// The domain it may act for (SET_TARGET).
    pub target: Option<u32>,
}

/// A frame for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The connection.
    pub conn: u64,
    /// The frame.
    pub frame: Frame,
}

/// What changed, for the journal: applied store operations and domain events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A store operation (as privileged, with the resulting permissions).
    Op(TxOp),
    /// INTRODUCE.
    Introduce(u32, DomainInfo),
    /// RELEASE.
    Release(u32),
    /// SET_TARGET: the first domain may act for the second.
    SetTarget(u32, u32),
}

/// The whole state.
#[derive(Debug)]
pub struct Daemon {
    /// The tree.
    pub store: Store,
    /// Introduced domains.
    pub domains: BTreeMap<u32, DomainInfo>,
    pub(crate) conns: HashMap<u64, Conn>,
    pub(crate) limits: Limits,
    pub(crate) next_tx: u32,
    /// Changes since the journal last took them.
    pub pending: Vec<Change>,
    /// Whether CONTROL `log on` asked for request logging.
    pub log_requests: bool,
}

impl Daemon {
    /// A daemon with `store` and `limits`; the store takes the node quotas
    /// of `virt_manage` peers from `limits.manage`.
    pub fn new(mut store: Store, limits: Limits) -> Daemon {
        store.set_manage_quota(limits.manage.quota);
        Daemon {
            store,
            domains: BTreeMap::new(),
            conns: HashMap::new(),
            limits,
            next_tx: 1,
            pending: Vec::new(),
            log_requests: false,
        }
    }

    /// Registers a connection.
    pub fn connect(&mut self, id: u64, role: Role, read_only: bool) {
        self.conns.insert(
            id,
            Conn {
                role,
                read_only,
                txns: HashMap::new(),
                watches: Vec::new(),
            },
        );
    }

    /// Forgets a connection, its watches and open transactions.
    pub fn disconnect(&mut self, id: u64) {
        self.conns.remove(&id);
    }

    /// Connections open.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The state of connection `id` (EIO: the server lost track of it).
    pub(crate) fn conn_mut(&mut self, id: u64) -> Result<&mut Conn, XsError> {
        self.conns.get_mut(&id).ok_or(XsError::Eio)
    }

    /// Transaction `tx` of connection `id`, with the store beneath it.
    pub(crate) fn txn_mut(&mut self, id: u64, tx: u32) -> Result<(&mut Txn, &Store), XsError> {
        let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
        let t = c.txns.get_mut(&tx).ok_or(XsError::Enoent)?;
        Ok((t, &self.store))
    }

    /// The children's names of `p`, in transaction `tx` (0: none).
    pub(crate) fn children(
        &mut self,
        id: u64,
        tx: u32,
        caller: Caller,
        p: &str,
    ) -> Result<Vec<&str>, XsError> {
        if tx != 0 {
            let (t, s) = self.txn_mut(id, tx)?;
            t.directory(s, caller, p)
        } else {
            self.store.directory(caller, p)
        }
    }

    /// Applies (or, in transaction `tx`, records) one change and fires
    /// watches.
    pub(crate) fn change(
        &mut self,
        id: u64,
        tx: u32,
        caller: Caller,
        op: TxOp,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), XsError> {
        if tx != 0 {
            let (t, s) = self.txn_mut(id, tx)?;
            return t.change(s, caller, op);
        }
        // The same write path as a commit: one operation instead of many.
        let done = self.store.apply(caller, std::slice::from_ref(&op))?;
        for a in done {
            self.applied(&op, &a, out);
        }
        Ok(())
    }

    /// Commits `t` for `caller`: all or nothing, journaled once per path.
    pub(crate) fn commit(
        &mut self,
        t: Txn,
        caller: Caller,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), XsError> {
        // A refused commit applied nothing, so it has nothing to journal
        // or announce.
        let from = self.pending.len();
        for (op, done) in t.commit(&mut self.store, caller)? {
            self.applied(&op, &done, out);
        }
        drop_repeats(&mut self.pending, from);
        Ok(())
    }

    /// Journals an applied change (with the permissions of every node it
    /// created, which the journal replays as privileged) and fires the
    /// watches it touches; a change that changed nothing does neither.
    fn applied(&mut self, op: &TxOp, done: &Applied, out: &mut Vec<Outgoing>) {
        if !done.changed {
            return;
        }
        let created = &done.created;
        let p = op.path().to_string();
        let removed = matches!(op, TxOp::Rm(_));
        for c in created.iter().filter(|c| **c != p) {
            self.pending.push(Change::Op(TxOp::Mkdir(c.clone())));
            if let Ok(perms) = self.store.get_perms(Caller::Privileged, c) {
                self.pending
                    .push(Change::Op(TxOp::SetPerms(c.clone(), perms.clone())));
            }
        }
        // The journal replays as privileged: record what the store now holds.
        let journal_op = match op {
            TxOp::Rm(_) => op.clone(),
            _ => TxOp::Write(
                p.clone(),
                self.store
                    .read(Caller::Privileged, &p)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
            ),
        };
        self.pending.push(Change::Op(journal_op));
        if let Ok(perms) = self.store.get_perms(Caller::Privileged, &p) {
            self.pending
                .push(Change::Op(TxOp::SetPerms(p.clone(), perms.clone())));
        }
        self.fire(&p, removed, out);
    }

    fn fire(&self, changed: &str, removed: bool, out: &mut Vec<Outgoing>) {
        let readable_by = |d: u32| match self.store.read(Caller::Domain(d), changed) {
            Ok(_) => true,
            Err(XsError::Enoent) => true,
            Err(_) => false,
        };
        for (cid, c) in &self.conns {
            if let Role::Domain(d) = c.role
                && !readable_by(d)
            {
                continue;
            }
            for w in &c.watches {
                if let Some(path) = w.event_for(changed, removed, c.role.home()) {
                    out.push(Outgoing {
                        conn: *cid,
                        frame: event(&path, &w.token),
                    });
                }
            }
        }
    }

    /// Fires the watches on special path `name` (`@introduceDomain`,
    /// `@releaseDomain`) of every dom0 connection.
    pub(crate) fn special_event(&self, name: &str, out: &mut Vec<Outgoing>) {
        for (cid, c) in &self.conns {
            if matches!(c.role, Role::Domain(_)) {
                continue;
            }
            for w in c
                .watches
                .iter()
                .filter(|w| matches!(&w.path, NodePath::Special(n) if n == name))
            {
                out.push(Outgoing {
                    conn: *cid,
                    frame: event(&w.given, &w.token),
                });
            }
        }
    }
}

/// Drops, from `changes[from..]`, each store operation that repeats one
/// before it with no RM in between. Every operation journaled for a commit
/// carries the final state of its path (see [`Daemon::applied`]), so a
/// repeat sets again what is already set: a path written 255 times in one
/// transaction is journaled once.
fn drop_repeats(changes: &mut Vec<Change>, from: usize) {
    let mut seen: HashSet<TxOp> = HashSet::new();
    let tail: Vec<Change> = changes.drain(from..).collect();
    for c in tail {
        let keep = match &c {
            Change::Op(TxOp::Rm(_)) => {
                seen.clear();
                true
            }
            Change::Op(op) => seen.insert(op.clone()),
            Change::Introduce(..) | Change::Release(_) | Change::SetTarget(..) => true,
        };
        if keep {
            changes.push(c);
        }
    }
}

/// A WATCH_EVENT frame: `path\0token\0`.
pub(crate) fn event(path: &str, token: &[u8]) -> Frame {
    Frame {
        ty: MsgType::WatchEvent.number(),
        req_id: 0,
        tx_id: 0,
        payload: event_payload(path, token),
    }
}

#[cfg(test)]
#[path = "daemon_tests.rs"]
mod tests;
