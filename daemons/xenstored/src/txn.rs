//! Transactions: an overlay over the store.
//!
//! The first time a transaction touches a node it copies it (value,
//! permissions, child names) into its overlay and notes the node's
//! generation (or that it was absent). Reads and writes then go to the
//! overlay; the operations are kept in order. At commit, if any node it
//! saw has another generation now, the commit fails with EAGAIN and
//! nothing is applied; otherwise the operations are replayed on the
//! store, which gives the same results, since nothing they depend on changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::path::{basename, is_within, parent};
use crate::perms::{Access, Perms};
use crate::store::{Caller, Store};
use crate::wire::XsError;

/// A change, kept for replay at commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOp {
    /// WRITE.
    Write(String, Vec<u8>),
    /// MKDIR.
    Mkdir(String),
    /// RM.
    Rm(String),
    /// SET_PERMS.
    SetPerms(String, Perms),
}

impl TxOp {
    /// The path it changes.
    pub fn path(&self) -> &str {
        match self {
            TxOp::Write(p, _) | TxOp::Mkdir(p) | TxOp::Rm(p) | TxOp::SetPerms(p, _) => p,
        }
    }
}

#[derive(Clone, Debug)]
enum Entry {
    Present {
        value: Vec<u8>,
        perms: Perms,
        children: BTreeSet<String>,
    },
    Absent,
}

/// Most nodes one transaction may touch (Xen's transaction-nodes quota).
pub const MAX_TOUCHED: usize = 1024;

/// One open transaction.
#[derive(Debug)]
pub struct Txn {
    seen: HashMap<String, Option<u64>>,
    over: BTreeMap<String, Entry>,
    ops: Vec<TxOp>,
}

impl Default for Txn {
    fn default() -> Txn {
        Txn::new()
    }
}

impl Txn {
    /// A fresh transaction.
    pub fn new() -> Txn {
        Txn {
            seen: HashMap::new(),
            over: BTreeMap::new(),
            ops: Vec::new(),
        }
    }

    /// Brings `path` into the overlay (as the store has it now).
    fn touch(&mut self, store: &Store, path: &str) -> Result<(), XsError> {
        if self.over.contains_key(path) {
            return Ok(());
        }
        // Beneath a node this transaction removed: absent.
        if self
            .over
            .iter()
            .any(|(p, e)| matches!(e, Entry::Absent) && is_within(path, p))
        {
            self.over.insert(path.to_string(), Entry::Absent);
            return Ok(());
        }
        if self.over.len() >= MAX_TOUCHED {
            return Err(XsError::Enospc);
        }
        self.seen
            .entry(path.to_string())
            .or_insert_with(|| store.generation_of(path));
        let entry = match store.read(Caller::Privileged, path) {
            Ok(value) => Entry::Present {
                value: value.to_vec(),
                perms: store
                    .get_perms(Caller::Privileged, path)
                    .cloned()
                    .map_err(|_| XsError::Eio)?,
                children: store
                    .directory(Caller::Privileged, path)
                    .map_err(|_| XsError::Eio)?
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            },
            Err(_) => Entry::Absent,
        };
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
                _ => Ok(e),
            },
        }
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
    ) -> Result<Vec<String>, XsError> {
        match self.present(store, c, path, Access::Read)? {
            Entry::Present { children, .. } => Ok(children.iter().cloned().collect()),
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

    /// Creates `path` and missing parents in the overlay.
    fn create(&mut self, store: &Store, c: Caller, path: &str) -> Result<(), XsError> {
        self.touch(store, path)?;
        if matches!(self.over.get(path), Some(Entry::Present { .. })) {
            return Ok(());
        }
        let par = parent(path).ok_or(XsError::Einval)?;
        self.touch(store, par)?;
        if matches!(self.over.get(par), Some(Entry::Absent)) {
            self.create(store, c, par)?;
        }
        let perms = match self.present(store, c, par, Access::Write)? {
            Entry::Present {
                perms, children, ..
            } => {
                children.insert(basename(path).to_string());
                match c {
                    Caller::Privileged => perms.clone(),
                    Caller::Domain(d) => perms.with_owner(d),
                }
            }
            Entry::Absent => return Err(XsError::Enoent),
        };
        self.over.insert(
            path.to_string(),
            Entry::Present {
                value: Vec::new(),
                perms,
                children: BTreeSet::new(),
            },
        );
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
        self.touch(store, path)?;
        if matches!(self.over.get(path), Some(Entry::Present { .. })) {
            self.present(store, c, path, Access::Write)?;
        } else {
            self.create(store, c, path)?;
        }
        if let Some(Entry::Present { value: v, .. }) = self.over.get_mut(path) {
            *v = value.to_vec();
        }
        self.ops.push(TxOp::Write(path.to_string(), value.to_vec()));
        Ok(())
    }

    /// MKDIR within the transaction.
    pub fn mkdir(&mut self, store: &Store, c: Caller, path: &str) -> Result<(), XsError> {
        self.touch(store, path)?;
        if matches!(self.over.get(path), Some(Entry::Present { .. })) {
            return Ok(());
        }
        self.create(store, c, path)?;
        self.ops.push(TxOp::Mkdir(path.to_string()));
        Ok(())
    }

    /// RM within the transaction.
    pub fn rm(&mut self, store: &Store, c: Caller, path: &str) -> Result<(), XsError> {
        let par = parent(path).ok_or(XsError::Einval)?;
        self.touch(store, path)?;
        if matches!(self.over.get(path), Some(Entry::Absent)) {
            self.touch(store, par)?;
            return match self.over.get(par) {
                Some(Entry::Present { .. }) => Ok(()),
                _ => Err(XsError::Enoent),
            };
        }
        self.present(store, c, path, Access::Write)?;
        self.touch(store, par)?;
        if let Some(Entry::Present { children, .. }) = self.over.get_mut(par) {
            children.remove(basename(path));
        }
        let below: Vec<String> = self
            .over
            .keys()
            .filter(|p| is_within(p, path))
            .cloned()
            .collect();
        for p in below {
            self.over.insert(p, Entry::Absent);
        }
        self.over.insert(path.to_string(), Entry::Absent);
        self.ops.push(TxOp::Rm(path.to_string()));
        Ok(())
    }

    /// SET_PERMS within the transaction.
    pub fn set_perms(
        &mut self,
        store: &Store,
        c: Caller,
        path: &str,
        new: Perms,
    ) -> Result<(), XsError> {
        if let Entry::Present { perms, .. } = self.present(store, c, path, Access::Write)? {
            if let Caller::Domain(d) = c
                && new.owner_id() != perms.owner_id()
                && new.owner_id() != d
            {
                return Err(XsError::Eperm);
            }
            *perms = new.clone();
        }
        self.ops.push(TxOp::SetPerms(path.to_string(), new));
        Ok(())
    }

    /// Commits: EAGAIN (and nothing applied) if anything it saw changed;
    /// otherwise replays its changes and returns each with the paths it
    /// created (for watches and the journal).
    pub fn commit(self, store: &mut Store, c: Caller) -> Result<Vec<(TxOp, Vec<String>)>, XsError> {
        if self.seen.iter().any(|(p, g)| store.generation_of(p) != *g) {
            return Err(XsError::Eagain);
        }
        // The entry quota is the one thing other writes can have moved:
        // check it first, so that the replay below cannot stop halfway.
        if let Caller::Domain(d) = c {
            let new = self
                .over
                .iter()
                .filter(|(p, e)| matches!(e, Entry::Present { .. }) && !store.exists(p))
                .count();
            if store.owned_by(d) + new > store.quota().entry_nb {
                return Err(XsError::Enospc);
            }
        }
        let mut done = Vec::with_capacity(self.ops.len());
        for op in self.ops {
            let created = match &op {
                TxOp::Write(p, v) => store.write(c, p, v)?,
                TxOp::Mkdir(p) => store.mkdir(c, p)?,
                TxOp::Rm(p) => store.rm(c, p).map(|_| Vec::new())?,
                TxOp::SetPerms(p, perms) => {
                    store.set_perms(c, p, perms.clone()).map(|()| Vec::new())?
                }
            };
            done.push((op, created));
        }
        Ok(done)
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
        let mut t = Txn::new();
        t.write(&s, Caller::Privileged, "/a/y", b"2")
            .expect("write");
        t.rm(&s, Caller::Privileged, "/a/x").expect("rm");
        assert_eq!(t.read(&s, Caller::Privileged, "/a/y"), Ok(b"2".to_vec()));
        assert_eq!(t.read(&s, Caller::Privileged, "/a/x"), Err(XsError::Enoent));
        assert_eq!(
            t.directory(&s, Caller::Privileged, "/a"),
            Ok(vec!["y".to_string()])
        );
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
        let mut t = Txn::new();
        assert_eq!(t.read(&s, Caller::Privileged, "/a/x"), Ok(b"1".to_vec()));
        t.write(&s, Caller::Privileged, "/b", b"mine")
            .expect("write");
        s.write(Caller::Privileged, "/a/x", b"other")
            .expect("concurrent write");
        assert_eq!(t.commit(&mut s, Caller::Privileged), Err(XsError::Eagain));
        assert!(!s.exists("/b"), "nothing applied");
        // A node that was absent and appeared meanwhile conflicts too.
        let mut t = Txn::new();
        assert_eq!(t.read(&s, Caller::Privileged, "/new"), Err(XsError::Enoent));
        s.write(Caller::Privileged, "/new", b"").expect("write");
        assert_eq!(t.commit(&mut s, Caller::Privileged), Err(XsError::Eagain));
    }

    #[test]
    fn permissions_apply_inside() {
        let mut s = store();
        let mut t = Txn::new();
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
        let mut t = Txn::new();
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
