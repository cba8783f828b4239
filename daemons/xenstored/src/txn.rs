//! Transactions: a bounded overlay over the store.
//!
//! The first time a transaction touches a node it copies it (value,
//! permissions, child names) into its overlay and notes the node's
//! generation (or that it was absent). Reads and writes then go to the
//! overlay; the operations are kept in order. Each operation passes the
//! store's own rules ([`Store::check_value`], [`Store::check_perms`],
//! [`Store::check_new_nodes`]) when it is recorded. At commit, if any node
//! it saw has another generation now, the commit fails with EAGAIN;
//! otherwise the operations go to [`Store::apply`], which applies them all
//! or none (ENOSPC if the node quota was used up meanwhile).
//!
//! A transaction is bounded ([`TxnLimits`]): the nodes it touches, the
//! operations it keeps, and the bytes its overlay and operations hold.
//! Past a bound the operation is refused with ENOSPC, the error Xen's C
//! daemon gives past its transaction-nodes quota; the transaction stays
//! open and what it holds is unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::path::{basename, is_within, parent};
use crate::perms::{Access, Perms};
pub use crate::store::TxOp;
use crate::store::{Applied, Caller, Store};
use crate::wire::XsError;

/// Bounds on one transaction. They hold for every role, `xvm_control`
/// included (Xen's C daemon bounds only unprivileged domains): they protect
/// the daemon's memory, not a share of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnLimits {
    /// Nodes it may touch (`--transaction-nodes`, Xen's
    /// `transaction-nodes` quota).
    pub nodes: usize,
    /// Operations it may keep for its commit (`--transaction-ops`).
    pub ops: usize,
    /// Bytes its overlay and operations may hold (`--transaction-memory`),
    /// counted as the bytes of paths, values, names and permissions plus a
    /// fixed cost per item.
    pub bytes: usize,
}

impl Default for TxnLimits {
    fn default() -> TxnLimits {
        TxnLimits {
            nodes: 1024,
            ops: 2048,
            bytes: 1 << 20,
        }
    }
}

/// What one overlay entry costs beyond its bytes (map slots, headers; its
/// path is held twice, in the overlay and in the generations seen).
const ENTRY_COST: usize = 96;
/// What one child name costs beyond its bytes.
const CHILD_COST: usize = 32;
/// What one kept operation costs beyond its bytes.
const OP_COST: usize = std::mem::size_of::<TxOp>() + 16;
/// Bytes of one permission entry.
const PERM_COST: usize = 8;

#[derive(Clone, Debug)]
enum Entry {
    Present {
        value: Vec<u8>,
        perms: Perms,
        children: BTreeSet<String>,
    },
    Absent,
}

/// One open transaction.
#[derive(Debug)]
pub struct Txn {
    seen: HashMap<String, Option<u64>>,
    over: BTreeMap<String, Entry>,
    ops: Vec<TxOp>,
    limits: TxnLimits,
    bytes: usize,
    /// Nodes its operations add to the caller's node quota.
    pending_nodes: usize,
}

impl Default for Txn {
    fn default() -> Txn {
        Txn::new(TxnLimits::default())
    }
}

impl Txn {
    /// A fresh transaction within `limits`.
    pub fn new(limits: TxnLimits) -> Txn {
        Txn {
            seen: HashMap::new(),
            over: BTreeMap::new(),
            ops: Vec::new(),
            limits,
            bytes: 0,
            pending_nodes: 0,
        }
    }

    /// The bytes it holds, as [`TxnLimits::bytes`] counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The operations it keeps.
    pub fn ops(&self) -> usize {
        self.ops.len()
    }

    fn charge(&mut self, n: usize) -> Result<(), XsError> {
        self.bytes = self
            .bytes
            .checked_add(n)
            .filter(|b| *b <= self.limits.bytes)
            .ok_or(XsError::Enospc)?;
        Ok(())
    }

    /// Records the operation `f` makes, within the bounds: `cost` is
    /// charged first and given back if `f` fails or has nothing to keep.
    fn record(
        &mut self,
        cost: usize,
        f: impl FnOnce(&mut Txn) -> Result<Option<TxOp>, XsError>,
    ) -> Result<(), XsError> {
        if self.ops.len() >= self.limits.ops {
            return Err(XsError::Enospc);
        }
        self.charge(cost)?;
        match f(self) {
            Ok(Some(op)) => {
                self.ops.push(op);
                Ok(())
            }
            Ok(None) => {
                self.bytes = self.bytes.saturating_sub(cost);
                Ok(())
            }
            Err(e) => {
                self.bytes = self.bytes.saturating_sub(cost);
                Err(e)
            }
        }
    }

    /// Brings `path` into the overlay (as the store has it now).
    fn touch(&mut self, store: &Store, path: &str) -> Result<(), XsError> {
        if self.over.contains_key(path) {
            return Ok(());
        }
        if self.over.len() >= self.limits.nodes {
            return Err(XsError::Enospc);
        }
        // Beneath a node this transaction removed: absent.
        if self
            .over
            .iter()
            .any(|(p, e)| matches!(e, Entry::Absent) && is_within(path, p))
        {
            self.charge(ENTRY_COST + path.len())?;
            self.over.insert(path.to_string(), Entry::Absent);
            return Ok(());
        }
        let entry = match store.read(Caller::Privileged, path) {
            Ok(value) => {
                let perms = store
                    .get_perms(Caller::Privileged, path)
                    .map_err(|_| XsError::Eio)?;
                let names = store
                    .directory(Caller::Privileged, path)
                    .map_err(|_| XsError::Eio)?;
                // Counted before anything is copied.
                let cost = names
                    .iter()
                    .map(|n| n.len() + CHILD_COST)
                    .fold(
                        ENTRY_COST + 2 * path.len() + value.len(),
                        usize::saturating_add,
                    )
                    .saturating_add(perms.len() * PERM_COST);
                self.charge(cost)?;
                Entry::Present {
                    value: value.to_vec(),
                    perms: perms.clone(),
                    children: names.into_iter().map(str::to_string).collect(),
                }
            }
            Err(_) => {
                self.charge(ENTRY_COST + 2 * path.len())?;
                Entry::Absent
            }
        };
        self.seen
            .entry(path.to_string())
            .or_insert_with(|| store.generation_of(path));
        self.over.insert(path.to_string(), entry);
        Ok(())
    }

    fn present(
        &mut self,
        store: &Store,
        c: Caller,
        path: &str,
        want: Access,
    ) -> Result<&mut Entry, XsError> {
        self.touch(store, path)?;
        let e = self.over.get_mut(path).ok_or(XsError::Eio)?;
        match e {
            Entry::Absent => Err(XsError::Enoent),
            Entry::Present { perms, .. } => match c {
                Caller::Domain(d) if !perms.allows(d, want) => Err(XsError::Eacces),
                Caller::Domain(_) | Caller::Privileged | Caller::Manage => Ok(e),
            },
        }
    }

    fn is_present(&self, path: &str) -> bool {
        matches!(self.over.get(path), Some(Entry::Present { .. }))
    }

    /// READ within the transaction.
    pub fn read(&mut self, store: &Store, c: Caller, path: &str) -> Result<Vec<u8>, XsError> {
        match self.present(store, c, path, Access::Read)? {
            Entry::Present { value, .. } => Ok(value.clone()),
            Entry::Absent => Err(XsError::Enoent),
        }
    }

    /// DIRECTORY within the transaction.
    pub fn directory(
        &mut self,
        store: &Store,
        c: Caller,
        path: &str,
    ) -> Result<Vec<&str>, XsError> {
        match self.present(store, c, path, Access::Read)? {
            Entry::Present { children, .. } => Ok(children.iter().map(String::as_str).collect()),
            Entry::Absent => Err(XsError::Enoent),
        }
    }

    /// GET_PERMS within the transaction.
    pub fn get_perms(&mut self, store: &Store, c: Caller, path: &str) -> Result<Perms, XsError> {
        match self.present(store, c, path, Access::Read)? {
            Entry::Present { perms, .. } => Ok(perms.clone()),
            Entry::Absent => Err(XsError::Enoent),
        }
    }

    /// Creates `path` and missing parents in the overlay, as
    /// the store's create does: write access on the nearest present
    /// ancestor, the node quota for all that is missing, then (nothing
    /// left to refuse) the nodes, parents first, with that ancestor's
    /// permissions (owned by a domain that creates them).
    fn create(&mut self, store: &Store, c: Caller, path: &str) -> Result<(), XsError> {
        self.touch(store, path)?;
        if self.is_present(path) {
            return Ok(());
        }
        let mut missing = vec![path.to_string()];
        let mut at = parent(path).ok_or(XsError::Einval)?.to_string();
        loop {
            self.touch(store, &at)?;
            if self.is_present(&at) {
                break;
            }
            let up = parent(&at).ok_or(XsError::Einval)?.to_string();
            missing.push(std::mem::replace(&mut at, up));
        }
        let base = match self.present(store, c, &at, Access::Write)? {
            Entry::Present { perms, .. } => perms.clone(),
            Entry::Absent => return Err(XsError::Enoent),
        };
        store.check_new_nodes(c, self.pending_nodes, missing.len())?;
        let cost = missing
            .iter()
            .map(|p| ENTRY_COST + 2 * p.len() + CHILD_COST + basename(p).len())
            .fold(base.len() * PERM_COST, usize::saturating_add);
        self.charge(cost)?;
        let perms = match c {
            Caller::Domain(d) => base.with_owner(d),
            Caller::Privileged | Caller::Manage => base,
        };
        self.pending_nodes += missing.len();
        for p in missing.into_iter().rev() {
            if let Some(par) = parent(&p)
                && let Some(Entry::Present { children, .. }) = self.over.get_mut(par)
            {
                children.insert(basename(&p).to_string());
            }
            self.over.insert(
                p,
                Entry::Present {
                    value: Vec::new(),
                    perms: perms.clone(),
                    children: BTreeSet::new(),
                },
            );
        }
        Ok(())
    }

    /// WRITE within the transaction.
    pub fn write(
        &mut self,
        store: &Store,
        c: Caller,
        path: &str,
        value: &[u8],
    ) -> Result<(), XsError> {
        store.check_value(c, value)?;
        // The operation's copy and the overlay's.
        let cost = OP_COST + path.len() + 2 * value.len();
        self.record(cost, |t| {
            t.touch(store, path)?;
            if t.is_present(path) {
                t.present(store, c, path, Access::Write)?;
            } else {
                t.create(store, c, path)?;
            }
            if let Some(Entry::Present { value: v, .. }) = t.over.get_mut(path) {
                let old = std::mem::replace(v, value.to_vec());
                t.bytes = t.bytes.saturating_sub(old.len());
            }
            Ok(Some(TxOp::Write(path.to_string(), value.to_vec())))
        })
    }

    /// MKDIR within the transaction.
    pub fn mkdir(&mut self, store: &Store, c: Caller, path: &str) -> Result<(), XsError> {
        self.record(OP_COST + path.len(), |t| {
            t.touch(store, path)?;
            if t.is_present(path) {
                return Ok(None);
            }
            t.create(store, c, path)?;
            Ok(Some(TxOp::Mkdir(path.to_string())))
        })
    }

    /// RM within the transaction.
    pub fn rm(&mut self, store: &Store, c: Caller, path: &str) -> Result<(), XsError> {
        let par = parent(path).ok_or(XsError::Einval)?;
        self.record(OP_COST + path.len(), |t| {
            t.touch(store, path)?;
            if !t.is_present(path) {
                t.touch(store, par)?;
                return if t.is_present(par) {
                    Ok(None)
                } else {
                    Err(XsError::Enoent)
                };
            }
            t.present(store, c, path, Access::Write)?;
            t.touch(store, par)?;
            if let Some(Entry::Present { children, .. }) = t.over.get_mut(par) {
                children.remove(basename(path));
            }
            for (_, e) in t.over.iter_mut().filter(|(p, _)| is_within(p, path)) {
                *e = Entry::Absent;
            }
            Ok(Some(TxOp::Rm(path.to_string())))
        })
    }

    /// SET_PERMS within the transaction.
    pub fn set_perms(
        &mut self,
        store: &Store,
        c: Caller,
        path: &str,
        new: Perms,
    ) -> Result<(), XsError> {
        // The operation's copy and the overlay's.
        let cost = OP_COST + path.len() + 2 * new.len() * PERM_COST;
        self.record(cost, |t| {
            let pending = t.pending_nodes;
            let added = match t.present(store, c, path, Access::Write)? {
                Entry::Present { perms, .. } => {
                    let added = store.check_perms(c, perms.owner_id(), &new, pending)?;
                    *perms = new.clone();
                    added
                }
                Entry::Absent => return Err(XsError::Enoent),
            };
            t.pending_nodes += added;
            Ok(Some(TxOp::SetPerms(path.to_string(), new)))
        })
    }

    /// Records one change of any kind, as the methods above do.
    pub fn change(&mut self, store: &Store, c: Caller, op: TxOp) -> Result<(), XsError> {
        match op {
            TxOp::Write(p, v) => self.write(store, c, &p, &v),
            TxOp::Mkdir(p) => self.mkdir(store, c, &p),
            TxOp::Rm(p) => self.rm(store, c, &p),
            TxOp::SetPerms(p, perms) => self.set_perms(store, c, &p, perms),
        }
    }

    /// Commits: EAGAIN (and nothing applied) if anything it saw changed;
    /// otherwise applies its operations, all or none, and returns each
    /// with what it did (for watches and the journal).
    pub fn commit(self, store: &mut Store, c: Caller) -> Result<Vec<(TxOp, Applied)>, XsError> {
        if self.seen.iter().any(|(p, g)| store.generation_of(p) != *g) {
            return Err(XsError::Eagain);
        }
        let applied = store.apply(c, &self.ops)?;
        Ok(self.ops.into_iter().zip(applied).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Quota;

    fn store() -> Store {
        let mut s = Store::new(Quota::default());
        s.write(Caller::Privileged, "/a/x", b"1").expect("write");
        s
    }

    #[test]
    fn changes_are_invisible_until_commit() {
        let mut s = store();
        let mut t = Txn::default();
        t.write(&s, Caller::Privileged, "/a/y", b"2")
            .expect("write");
        t.rm(&s, Caller::Privileged, "/a/x").expect("rm");
        assert_eq!(t.read(&s, Caller::Privileged, "/a/y"), Ok(b"2".to_vec()));
        assert_eq!(t.read(&s, Caller::Privileged, "/a/x"), Err(XsError::Enoent));
        assert_eq!(t.directory(&s, Caller::Privileged, "/a"), Ok(vec!["y"]));
        assert_eq!(
            s.read(Caller::Privileged, "/a/x"),
            Ok(&b"1"[..]),
            "outside: unchanged"
        );
        assert!(!s.exists("/a/y"));
        let ops = t.commit(&mut s, Caller::Privileged).expect("commit");
        assert_eq!(ops.len(), 2);
        assert_eq!(s.read(Caller::Privileged, "/a/y"), Ok(&b"2"[..]));
        assert!(!s.exists("/a/x"));
    }

    #[test]
    fn a_conflicting_change_makes_the_commit_fail_whole() {
        let mut s = store();
        let mut t = Txn::default();
        assert_eq!(t.read(&s, Caller::Privileged, "/a/x"), Ok(b"1".to_vec()));
        t.write(&s, Caller::Privileged, "/b", b"mine")
            .expect("write");
        s.write(Caller::Privileged, "/a/x", b"other")
            .expect("concurrent write");
        assert_eq!(t.commit(&mut s, Caller::Privileged), Err(XsError::Eagain));
        assert!(!s.exists("/b"), "nothing applied");
        // A node that was absent and appeared meanwhile conflicts too.
        let mut t = Txn::default();
        assert_eq!(t.read(&s, Caller::Privileged, "/new"), Err(XsError::Enoent));
        s.write(Caller::Privileged, "/new", b"").expect("write");
        assert_eq!(t.commit(&mut s, Caller::Privileged), Err(XsError::Eagain));
    }

    #[test]
    fn permissions_apply_inside() {
        let mut s = store();
        let mut t = Txn::default();
        assert_eq!(t.read(&s, Caller::Domain(3), "/a/x"), Err(XsError::Eacces));
        assert_eq!(
            t.write(&s, Caller::Domain(3), "/a/z", b""),
            Err(XsError::Eacces)
        );
        s.set_perms(
            Caller::Privileged,
            "/a",
            Perms::parse(&[b"n3"]).expect("perms"),
        )
        .expect("perms");
        let mut t = Txn::default();
        t.write(&s, Caller::Domain(3), "/a/z", b"")
            .expect("owner writes");
        assert_eq!(
            t.get_perms(&s, Caller::Domain(3), "/a/z")
                .map(|p| p.owner_id()),
            Ok(3)
        );
        t.commit(&mut s, Caller::Domain(3)).expect("commit");
        assert_eq!(
            s.get_perms(Caller::Privileged, "/a/z").map(Perms::owner_id),
            Ok(3)
        );
    }
}
