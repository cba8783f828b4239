//! The daemon's state and one handler per message type.
//!
//! [`Daemon::handle`] takes one request of one connection and returns the
//! frames to send: the reply to that connection first, then any watch
//! events for any connection. It never blocks and never panics on peer
//! input; every error a client can cause becomes an error reply.

use std::collections::{BTreeMap, HashMap};

pub use crate::limits::{ControlLimits, Limits, ManageLimits};
use crate::path::{self, INTRODUCE_DOMAIN, NodePath, RELEASE_DOMAIN, domain_path};
use crate::perms::Perms;
use crate::store::{Applied, Caller, Store};
use crate::txn::{TxOp, Txn};
use crate::watch::{Watch, event_payload};
use crate::wire::{ABS_PATH_MAX, Frame, MsgType, PAYLOAD_MAX, XsError};

/// What a connection may do, decided once when it connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `xvm_control`: privileged dom0, every message type.
    Control,
    /// `virt_manage`: dom0 for node permissions, no privileged types, the
    /// management quotas ([`ManageLimits`]).
    Manage,
    /// The device model of domain N: permissions and quotas apply.
    Domain(u32),
}

impl Role {
    /// The caller for node permissions.
    pub fn caller(self) -> Caller {
        match self {
            Role::Control => Caller::Privileged,
            Role::Manage => Caller::Manage,
            Role::Domain(d) => Caller::Domain(d),
        }
    }

    /// The home domain for relative paths.
    pub fn home(self) -> u32 {
        match self {
            Role::Control | Role::Manage => 0,
            Role::Domain(d) => d,
        }
    }
}

/// What a request type needs, decided in one exhaustive `match` with no
/// wildcard: a type added to [`MsgType`] does not build until it is
/// placed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// Any admitted peer, on either socket.
    Read,
    /// Any admitted peer, not on `socket_ro`.
    Write,
    /// `xvm_control` only, on either socket.
    ControlRead,
    /// `xvm_control` only, not on `socket_ro`.
    ControlWrite,
    /// Sent by the daemon only: ENOSYS as a request.
    NotARequest,
}

fn gate(ty: MsgType) -> Gate {
    match ty {
        MsgType::Read
        | MsgType::Directory
        | MsgType::DirectoryPart
        | MsgType::GetPerms
        | MsgType::GetDomainPath
        | MsgType::Watch
        | MsgType::Unwatch
        | MsgType::ResetWatches => Gate::Read,
        MsgType::Write
        | MsgType::Mkdir
        | MsgType::Rm
        | MsgType::SetPerms
        | MsgType::TransactionStart
        | MsgType::TransactionEnd => Gate::Write,
        MsgType::IsDomainIntroduced => Gate::ControlRead,
        MsgType::Introduce
        | MsgType::Release
        | MsgType::Resume
        | MsgType::SetTarget
        | MsgType::Control => Gate::ControlWrite,
        MsgType::WatchEvent | MsgType::Error => Gate::NotARequest,
    }
}

/// A connection's state.
#[derive(Debug)]
pub struct Conn {
    /// What it may do.
    pub role: Role,
    /// Connected on `socket_ro`.
    pub read_only: bool,
    txns: HashMap<u32, Txn>,
    watches: Vec<Watch>,
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
    conns: HashMap<u64, Conn>,
    limits: Limits,
    next_tx: u32,
    /// Changes since the journal last took them.
    pub pending: Vec<Change>,
    /// Whether CONTROL `log on` asked for request logging.
    pub log_requests: bool,
}

fn ok() -> Vec<u8> {
    b"OK\0".to_vec()
}

fn text(b: &[u8]) -> Result<&str, XsError> {
    std::str::from_utf8(b).map_err(|_| XsError::Einval)
}

fn number<T: std::str::FromStr>(b: &[u8]) -> Result<T, XsError> {
    text(b)?.trim().parse().map_err(|_| XsError::Einval)
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

    /// Handles one request. No frame it returns holds more than
    /// [`PAYLOAD_MAX`] payload bytes: a reply that would is answered
    /// E2BIG, and an event that would (watch registration refuses the
    /// tokens that could make one) is not sent, with a log line.
    pub fn handle(&mut self, conn: u64, req: &Frame) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let reply = match self.dispatch(conn, req, &mut out) {
            Ok((_, payload)) if payload.len() > PAYLOAD_MAX => Frame::error(req, XsError::E2big),
            Ok((ty, payload)) => Frame::reply(req, ty, payload),
            Err(e) => Frame::error(req, e),
        };
        out.retain(|o| {
            let fits = o.frame.payload.len() <= PAYLOAD_MAX;
            if !fits {
                tracing::error!(
                    conn = o.conn,
                    bytes = o.frame.payload.len(),
                    "an event too long to encode is not sent"
                );
            }
            fits
        });
        out.insert(0, Outgoing { conn, frame: reply });
        out
    }

    fn resolve(&self, role: Role, raw: &[u8]) -> Result<String, XsError> {
        match path::resolve(raw, role.home(), self.limits.path_max)? {
            NodePath::Abs(p) => Ok(p),
            NodePath::Special(_) => Err(XsError::Einval),
        }
    }

    fn one_path(&self, role: Role, req: &Frame) -> Result<String, XsError> {
        match req.strings().as_slice() {
            [p] => self.resolve(role, p),
            _ => Err(XsError::Einval),
        }
    }

    fn dispatch(
        &mut self,
        id: u64,
        req: &Frame,
        out: &mut Vec<Outgoing>,
    ) -> Result<(MsgType, Vec<u8>), XsError> {
        let (role, read_only) = {
            let c = self.conns.get(&id).ok_or(XsError::Eio)?;
            (c.role, c.read_only)
        };
        let ty = MsgType::from_number(req.ty).ok_or(XsError::Enosys)?;
        match (gate(ty), role) {
            (Gate::NotARequest, _) => return Err(XsError::Enosys),
            (Gate::Write | Gate::ControlWrite, _) if read_only => return Err(XsError::Erofs),
            (Gate::ControlRead | Gate::ControlWrite, Role::Manage | Role::Domain(_)) => {
                return Err(XsError::Eacces);
            }
            (Gate::Read | Gate::Write, _)
            | (Gate::ControlRead | Gate::ControlWrite, Role::Control) => {}
        }
        let caller = role.caller();
        let tx = req.tx_id;
        if tx != 0
            && !matches!(
                ty,
                MsgType::Watch | MsgType::Unwatch | MsgType::TransactionStart
            )
        {
            let known = self
                .conns
                .get(&id)
                .is_some_and(|c| c.txns.contains_key(&tx));
            if !known {
                return Err(XsError::Enoent);
            }
        }
        let payload = match ty {
            MsgType::Read => {
                let p = self.one_path(role, req)?;
                if tx != 0 {
                    self.with_txn(id, tx, |t, s| t.read(s, caller, &p))?
                } else {
                    self.store.read(caller, &p)?.to_vec()
                }
            }
            MsgType::Directory => {
                let p = self.one_path(role, req)?;
                let names = self.children(id, tx, caller, &p)?;
                let mut v = Vec::new();
                for n in names {
                    v.extend_from_slice(n.as_bytes());
                    v.push(0);
                }
                v
            }
            MsgType::DirectoryPart => self.directory_part(id, role, req)?,
            MsgType::GetPerms => {
                let p = self.one_path(role, req)?;
                let perms = if tx != 0 {
                    self.with_txn(id, tx, |t, s| t.get_perms(s, caller, &p))?
                } else {
                    self.store.get_perms(caller, &p)?.clone()
                };
                perms.to_wire()
            }
            MsgType::Write => {
                let at = req
                    .payload
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or(XsError::Einval)?;
                let p = self.resolve(role, &req.payload[..at])?;
                let value = req.payload[at + 1..].to_vec();
                self.change(id, tx, caller, TxOp::Write(p, value), out)?;
                ok()
            }
            MsgType::Mkdir => {
                let p = self.one_path(role, req)?;
                self.change(id, tx, caller, TxOp::Mkdir(p), out)?;
                ok()
            }
            MsgType::Rm => {
                let p = self.one_path(role, req)?;
                self.change(id, tx, caller, TxOp::Rm(p), out)?;
                ok()
            }
            MsgType::SetPerms => {
                let strings = req.strings();
                let (p, perms) = strings.split_first().ok_or(XsError::Einval)?;
                if let Ok(NodePath::Special(name)) =
                    path::resolve(p, role.home(), self.limits.path_max)
                {
                    // Permissions on @introduceDomain/@releaseDomain are accepted.
                    return if name == INTRODUCE_DOMAIN || name == RELEASE_DOMAIN {
                        Perms::parse(perms).map(|_| (ty, ok()))
                    } else {
                        Err(XsError::Einval)
                    };
                }
                let p = self.resolve(role, p)?;
                let perms = Perms::parse(perms)?;
                self.change(id, tx, caller, TxOp::SetPerms(p, perms), out)?;
                ok()
            }
            MsgType::Watch => self.watch(id, role, req, out)?,
            MsgType::Unwatch => {
                let [p, token] = req.strings()[..] else {
                    return Err(XsError::Einval);
                };
                let given = text(p)?.to_string();
                let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
                let before = c.watches.len();
                c.watches
                    .retain(|w| !(w.given == given && w.token == token));
                if c.watches.len() == before {
                    return Err(XsError::Enoent);
                }
                ok()
            }
            MsgType::ResetWatches => {
                let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
                c.watches.clear();
                c.txns.clear();
                ok()
            }
            MsgType::TransactionStart => {
                let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
                if tx != 0 && c.txns.contains_key(&tx) {
                    return Err(XsError::Ebusy);
                }
                if self
                    .limits
                    .transactions(role)
                    .is_some_and(|max| c.txns.len() >= max)
                {
                    return Err(XsError::Enospc);
                }
                let n = self.next_tx;
                self.next_tx = self.next_tx.checked_add(1).filter(|n| *n != 0).unwrap_or(1);
                c.txns.insert(n, Txn::new(self.limits.txn));
                format!("{n}\0").into_bytes()
            }
            MsgType::TransactionEnd => self.transaction_end(id, caller, req, out)?,
            MsgType::GetDomainPath => {
                let [d] = req.strings()[..] else {
                    return Err(XsError::Einval);
                };
                let d: u32 = number(d)?;
                let mut v = domain_path(d).into_bytes();
                v.push(0);
                v
            }
            MsgType::IsDomainIntroduced => {
                let [d] = req.strings()[..] else {
                    return Err(XsError::Einval);
                };
                let d: u32 = number(d)?;
                if d == 0 || self.domains.contains_key(&d) {
                    b"T\0".to_vec()
                } else {
                    b"F\0".to_vec()
                }
            }
            MsgType::Introduce => {
                let s = req.strings();
                if s.len() < 3 {
                    return Err(XsError::Einval);
                }
                let d: u32 = number(s[0])?;
                let info = DomainInfo {
                    mfn: number(s[1])?,
                    port: number(s[2])?,
                    target: None,
                };
                if d == 0 || info.port == 0 {
                    return Err(XsError::Einval);
                }
                if let Some(known) = self.domains.get_mut(&d) {
                    // As Xen: introducing a known domain again only
                    // rebinds its event channel; no watch fires.
                    known.port = info.port;
                    self.pending.push(Change::Introduce(d, known.clone()));
                } else {
                    self.domains.insert(d, info.clone());
                    self.pending.push(Change::Introduce(d, info));
                    self.special_event(INTRODUCE_DOMAIN, out);
                }
                ok()
            }
            MsgType::Release => {
                let [d] = req.strings()[..] else {
                    return Err(XsError::Einval);
                };
                let d: u32 = number(d)?;
                if d == 0 {
                    return Err(XsError::Einval);
                }
                self.domains.remove(&d).ok_or(XsError::Enoent)?;
                self.pending.push(Change::Release(d));
                self.special_event(RELEASE_DOMAIN, out);
                ok()
            }
            MsgType::Resume => {
                let [d] = req.strings()[..] else {
                    return Err(XsError::Einval);
                };
                let d: u32 = number(d)?;
                if d == 0 {
                    return Err(XsError::Einval);
                }
                self.domains.get(&d).ok_or(XsError::Enoent)?;
                ok()
            }
            MsgType::SetTarget => {
                let [d, t] = req.strings()[..] else {
                    return Err(XsError::Einval);
                };
                let (d, t): (u32, u32) = (number(d)?, number(t)?);
                if !self.domains.contains_key(&t) {
                    return Err(XsError::Enoent);
                }
                self.domains.get_mut(&d).ok_or(XsError::Enoent)?.target = Some(t);
                self.pending.push(Change::SetTarget(d, t));
                ok()
            }
            MsgType::Control => self.control(req)?,
            MsgType::WatchEvent | MsgType::Error => return Err(XsError::Enosys),
        };
        Ok((ty, payload))
    }

    fn with_txn<T>(
        &mut self,
        id: u64,
        tx: u32,
        f: impl FnOnce(&mut Txn, &Store) -> Result<T, XsError>,
    ) -> Result<T, XsError> {
        let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
        let t = c.txns.get_mut(&tx).ok_or(XsError::Enoent)?;
        f(t, &self.store)
    }

    fn children(
        &mut self,
        id: u64,
        tx: u32,
        caller: Caller,
        p: &str,
    ) -> Result<Vec<String>, XsError> {
        if tx != 0 {
            self.with_txn(id, tx, |t, s| t.directory(s, caller, p))
        } else {
            Ok(self
                .store
                .directory(caller, p)?
                .into_iter()
                .map(str::to_string)
                .collect())
        }
    }

    /// # Format
    /// Request `path\0offset\0`; reply `generation\0` then whole `name\0`
    /// entries from byte `offset` of the full list, and one more `\0`
    /// after the last chunk.
    fn directory_part(&mut self, id: u64, role: Role, req: &Frame) -> Result<Vec<u8>, XsError> {
        let [p, off] = req.strings()[..] else {
            return Err(XsError::Einval);
        };
        let p = self.resolve(role, p)?;
        let off: usize = number(off)?;
        let names = self.children(id, req.tx_id, role.caller(), &p)?;
        let generation = self.store.generation_of(&p).unwrap_or(0);
        let mut out = format!("{generation}\0").into_bytes();
        let room = PAYLOAD_MAX - out.len() - 1;
        let mut pos = 0usize;
        let mut taken = 0usize;
        let mut done = true;
        for n in &names {
            let len = n.len() + 1;
            if pos >= off {
                if taken + len > room {
                    done = false;
                    break;
                }
                out.extend_from_slice(n.as_bytes());
                out.push(0);
                taken += len;
            }
            pos += len;
        }
        if done {
            out.push(0);
        }
        Ok(out)
    }

    /// Applies (or, in a transaction, records) one change and fires watches.
    fn change(
        &mut self,
        id: u64,
        tx: u32,
        caller: Caller,
        op: TxOp,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), XsError> {
        if tx != 0 {
            let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
            let t = c.txns.get_mut(&tx).ok_or(XsError::Enoent)?;
            let s = &self.store;
            return match &op {
                TxOp::Write(p, v) => t.write(s, caller, p, v),
                TxOp::Mkdir(p) => t.mkdir(s, caller, p),
                TxOp::Rm(p) => t.rm(s, caller, p),
                TxOp::SetPerms(p, perms) => t.set_perms(s, caller, p, perms.clone()),
            };
        }
        // The same write path as a commit: one operation instead of many.
        let done = self.store.apply(caller, std::slice::from_ref(&op))?;
        for a in done {
            self.applied(&op, &a, out);
        }
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

    fn special_event(&self, name: &str, out: &mut Vec<Outgoing>) {
        for (cid, c) in &self.conns {
            if matches!(c.role, Role::Domain(_)) {
                continue;
            }
            for w in c
                .watches
                .iter()
                .filter(|w| w.path == NodePath::Special(name.to_string()))
            {
                out.push(Outgoing {
                    conn: *cid,
                    frame: event(&w.given, &w.token),
                });
            }
        }
    }

    /// # Format
    /// Request `path\0token\0` (exactly two strings); reply `OK\0`, then
    /// at once an event `path\0token\0` for the watch itself.
    fn watch(
        &mut self,
        id: u64,
        role: Role,
        req: &Frame,
        out: &mut Vec<Outgoing>,
    ) -> Result<Vec<u8>, XsError> {
        let [p, token] = req.strings()[..] else {
            return Err(XsError::Einval);
        };
        let path = path::resolve(p, role.home(), self.limits.path_max)?;
        let given = text(p)?.to_string();
        // Every event must fit one frame: `path\0token\0`, the path the
        // longest this watch can report (any absolute path beneath it, or
        // the special name itself).
        let longest = match &path {
            NodePath::Abs(_) => ABS_PATH_MAX.max(given.len()),
            NodePath::Special(_) => given.len(),
        };
        if longest.saturating_add(token.len()).saturating_add(2) > PAYLOAD_MAX {
            return Err(XsError::E2big);
        }
        let max = self.limits.watch_nb(role);
        let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
        if c.watches
            .iter()
            .any(|w| w.given == given && w.token == token)
        {
            return Err(XsError::Eexist);
        }
        if max.is_some_and(|max| c.watches.len() >= max) {
            return Err(XsError::E2big);
        }
        c.watches.push(Watch {
            given: given.clone(),
            path,
            token: token.to_vec(),
        });
        out.push(Outgoing {
            conn: id,
            frame: event(&given, token),
        });
        Ok(ok())
    }

    fn transaction_end(
        &mut self,
        id: u64,
        caller: Caller,
        req: &Frame,
        out: &mut Vec<Outgoing>,
    ) -> Result<Vec<u8>, XsError> {
        let commit = match req.strings()[..] {
            [b"T"] => true,
            [b"F"] => false,
            _ => return Err(XsError::Einval),
        };
        let c = self.conns.get_mut(&id).ok_or(XsError::Eio)?;
        let t = c.txns.remove(&req.tx_id).ok_or(XsError::Enoent)?;
        if commit {
            // All or nothing: a refused commit applied nothing, so it has
            // nothing to journal or announce.
            let from = self.pending.len();
            for (op, done) in t.commit(&mut self.store, caller)? {
                self.applied(&op, &done, out);
            }
            drop_repeats(&mut self.pending, from);
        }
        Ok(ok())
    }

    /// CONTROL: `log on|off`, `quota`, `memreport`, `help`.
    fn control(&mut self, req: &Frame) -> Result<Vec<u8>, XsError> {
        let s = req.strings();
        let (cmd, args) = s.split_first().ok_or(XsError::Einval)?;
        let reply = match (*cmd, args) {
            (b"help", _) => "log [on|off]\nquota\nmemreport\nhelp\n".to_string(),
            (b"log", [b"on"]) => {
                self.log_requests = true;
                "OK".to_string()
            }
            (b"log", [b"off"]) => {
                self.log_requests = false;
                "OK".to_string()
            }
            (b"quota", []) => {
                let l = self.limits;
                let m = l.manage;
                let c = l.control;
                let rows: [(&str, usize, &str); 17] = [
                    ("nodes", l.quota.entry_nb, "Nodes per domain"),
                    ("watches", l.watch_nb, "Watches per domain"),
                    ("transactions", l.transaction, "Transactions per domain"),
                    ("node-size", l.quota.entry_size, "Max size of a node"),
                    ("path-max", l.path_max, "Max length of a node path"),
                    (
                        "permissions",
                        l.quota.perm_nb,
                        "Max number of permissions per node",
                    ),
                    (
                        "transaction-nodes",
                        l.txn.nodes,
                        "Max. number of accessed nodes per transaction",
                    ),
                    (
                        "transaction-ops",
                        l.txn.ops,
                        "Max. number of changes per transaction",
                    ),
                    (
                        "transaction-memory",
                        l.txn.bytes,
                        "Max. bytes held by a transaction",
                    ),
                    (
                        "control-watches",
                        c.watch_nb,
                        "Watches per xvm_control connection",
                    ),
                    (
                        "control-transactions",
                        c.transaction,
                        "Transactions per xvm_control connection",
                    ),
                    (
                        "manage-nodes",
                        m.quota.entry_nb,
                        "Nodes created by virt_manage peers",
                    ),
                    (
                        "manage-watches",
                        m.watch_nb,
                        "Watches per virt_manage connection",
                    ),
                    (
                        "manage-transactions",
                        m.transaction,
                        "Transactions per virt_manage connection",
                    ),
                    (
                        "manage-node-size",
                        m.quota.entry_size,
                        "Max size of a node (virt_manage)",
                    ),
                    (
                        "manage-permissions",
                        m.quota.perm_nb,
                        "Max number of permissions per node (virt_manage)",
                    ),
                    (
                        "manage-used",
                        self.store.counted(Caller::Manage),
                        "Nodes virt_manage peers created (since start)",
                    ),
                ];
                let mut text = String::from("Quota settings:\n");
                for (name, value, what) in rows {
                    text.push_str(&format!("{name:<17}: {value:>8} {what}\n"));
                }
                text
            }
            (b"memreport", []) => format!(
                "nodes: {}\nconnections: {}\ndomains: {}\n",
                self.store.len(),
                self.conns.len(),
                self.domains.len()
            ),
            _ => return Err(XsError::Einval),
        };
        let mut v = reply.into_bytes();
        v.push(0);
        Ok(v)
    }
}

/// Drops, from `changes[from..]`, each store operation that repeats one
/// before it with no RM in between. Every operation journaled for a commit
/// carries the final state of its path (see [`Daemon::applied`]), so a
/// repeat sets again what is already set: a path written 255 times in one
/// transaction is journaled once.
fn drop_repeats(changes: &mut Vec<Change>, from: usize) {
    let mut seen: std::collections::HashSet<TxOp> = std::collections::HashSet::new();
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

fn event(path: &str, token: &[u8]) -> Frame {
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
