//! The node tree, and the one place where its write rules live.
//!
//! Nodes live in an arena, children sorted by name, so a lookup is a
//! binary search per path component. Every change stamps the changed nodes
//! (and the parent whose child list changed) with a new generation from
//! one counter: transactions and DIRECTORY_PART detect change by it.
//!
//! Every change, direct or committed by a transaction, goes through
//! [`Store::apply`] (the single-operation methods are that with one
//! operation): a list of operations applied all or nothing. Each step
//! notes how to undo itself; a refused step undoes the steps before it,
//! node generations included, so a refused commit leaves nothing behind.
//!
//! The rules a change must pass are [`Store::check_value`] (value size),
//! [`Store::check_perms`] (permission count, who may give a node away, a
//! node taken counts) and [`Store::check_new_nodes`] (node quota). The
//! store asks them on every change; the transaction overlay asks the same
//! ones when it records an operation, so a client hears of a refusal at
//! the operation and the commit is refused only if the node quota was used
//! up meanwhile (and then applies nothing). Path length is the resolver's
//! rule ([`crate::path::resolve`]), which every request's path passes
//! before it reaches either.
//!
//! Node quotas are counted per account: a domain's account is the nodes it
//! owns; `virt_manage` peers share one account, the nodes they created.

use std::collections::HashMap;

use crate::path::{basename, parent};
use crate::perms::{Access, Perms};
use crate::wire::XsError;

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// `xvm_control`: node permissions and quotas do not apply.
    Privileged,
    /// `virt_manage`: dom0 for node permissions, bound by the management
    /// quotas.
    Manage,
    /// Domain N: node permissions and the domain quotas apply.
    Domain(u32),
}

impl Caller {
    /// The domid it acts as.
    pub fn domid(self) -> u32 {
        match self {
            Caller::Privileged | Caller::Manage => 0,
            Caller::Domain(d) => d,
        }
    }
}

/// Limits on one class of caller: domains (Xen's defaults), or
/// `virt_manage` peers ([`Quota::manage_default`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Nodes the account may hold (`--entry-nb`).
    pub entry_nb: usize,
    /// Bytes of one node's value (`--entry-size`).
    pub entry_size: usize,
    /// Entries of one permission list (`--perm-nb`).
    pub perm_nb: usize,
}

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            entry_nb: 1000,
            entry_size: 2048,
            perm_nb: 5,
        }
    }
}

impl Quota {
    /// The defaults for `virt_manage` peers, together: room for the
    /// configuration of a few hundred domains, Xen's node size and a
    /// permission list naming a domain, its device model and a few more.
    pub fn manage_default() -> Quota {
        Quota {
            entry_nb: 10_000,
            entry_size: 2048,
            perm_nb: 16,
        }
    }
}

/// A change to the tree: a direct request, or one a transaction keeps for
/// its commit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

/// What one applied operation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The paths it created, parents first.
    pub created: Vec<String>,
    /// Whether anything changed: MKDIR of a present node and RM of an
    /// absent one change nothing (and fire no watch).
    pub changed: bool,
}

/// One node. Its name and value share one allocation (`data`: the name's
/// bytes, then the value's), which keeps 100,000 small nodes near 2x the
/// bytes they hold.
#[derive(Debug)]
struct Node {
    data: Box<[u8]>,
    children: Vec<u32>,
    perms: Perms,
    generation: u64,
    parent: u32,
    // A name is one path component, below ABS_PATH_MAX (3072) bytes.
    name_len: u16,
    /// Created by a `virt_manage` peer: counts in their account.
    by_manage: bool,
}

impl Node {
    fn new(
        name: &str,
        parent: u32,
        perms: Perms,
        generation: u64,
        by_manage: bool,
    ) -> Result<Node, XsError> {
        Ok(Node {
            data: name.as_bytes().into(),
            name_len: u16::try_from(name.len()).map_err(|_| XsError::Einval)?,
            parent,
            children: Vec::new(),
            perms,
            generation,
            by_manage,
        })
    }

    fn name_bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.name_len)]
    }

    fn name(&self) -> &str {
        // Names come from `&str` path components, so this always holds.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        &self.data[usize::from(self.name_len)..]
    }

    /// Sets the value; returns the old data (for undo).
    fn set_value(&mut self, value: &[u8]) -> Box<[u8]> {
        let mut data = Vec::with_capacity(usize::from(self.name_len) + value.len());
        data.extend_from_slice(self.name_bytes());
        data.extend_from_slice(value);
        std::mem::replace(&mut self.data, data.into_boxed_slice())
    }
}

/// How to take back one step of a batch.
#[derive(Debug)]
enum Undo {
    /// A node the batch created (a leaf again by the time it is undone).
    Created(u32),
    /// A value replaced.
    Value {
        id: u32,
        data: Box<[u8]>,
        generation: u64,
    },
    /// A permission list replaced.
    Perms {
        id: u32,
        perms: Perms,
        generation: u64,
    },
    /// A subtree taken out of its parent, kept until the batch is done.
    Unlinked(u32),
    /// A parent's generation, moved when its child list changed.
    Generation { id: u32, generation: u64 },
}

/// The tree.
#[derive(Debug)]
pub struct Store {
    nodes: Vec<Option<Node>>,
    free: Vec<u32>,
    generation: u64,
    owned: HashMap<u32, usize>,
    manage_nodes: usize,
    quota: Quota,
    manage_quota: Quota,
}

const ROOT: u32 = 0;

impl Store {
    /// The initial tree: `/`, `/tool` and `/tool/xenstored`, owned by dom0
    /// with no access for others. `quota` binds domains; `virt_manage`
    /// peers get [`Quota::manage_default`] until
    /// [`Store::set_manage_quota`].
    pub fn new(quota: Quota) -> Store {
        let root = Node {
            data: Box::default(),
            children: Vec::new(),
            perms: Perms::owner(0),
            generation: 0,
            parent: ROOT,
            name_len: 0,
            by_manage: false,
        };
        let mut s = Store {
            nodes: vec![Some(root)],
            free: Vec::new(),
            generation: 0,
            owned: HashMap::new(),
            manage_nodes: 0,
            quota,
            manage_quota: Quota::manage_default(),
        };
        s.owned.insert(0, 1);
        for p in ["/tool", "/tool/xenstored"] {
            let _ = s.mkdir(Caller::Privileged, p);
        }
        s
    }

    /// The quotas of `virt_manage` peers.
    pub fn set_manage_quota(&mut self, quota: Quota) {
        self.manage_quota = quota;
    }

    fn node(&self, id: u32) -> &Node {
        self.nodes[id as usize]
            .as_ref()
            .unwrap_or_else(|| unreachable!("dangling node id"))
    }

    fn node_mut(&mut self, id: u32) -> &mut Node {
        self.nodes[id as usize]
            .as_mut()
            .unwrap_or_else(|| unreachable!("dangling node id"))
    }

    fn child(&self, id: u32, name: &str) -> Result<u32, usize> {
        let n = self.node(id);
        n.children
            .binary_search_by(|c| self.node(*c).name_bytes().cmp(name.as_bytes()))
            .map(|i| n.children[i])
    }

    fn lookup(&self, path: &str) -> Option<u32> {
        let mut id = ROOT;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            id = self.child(id, comp).ok()?;
        }
        Some(id)
    }

    fn check(&self, c: Caller, id: u32, want: Access) -> Result<(), XsError> {
        match c {
            Caller::Privileged | Caller::Manage => Ok(()),
            Caller::Domain(d) if self.node(id).perms.allows(d, want) => Ok(()),
            Caller::Domain(_) => Err(XsError::Eacces),
        }
    }

    fn bump(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Whether a node exists.
    pub fn exists(&self, path: &str) -> bool {
        self.lookup(path).is_some()
    }

    /// The generation of a node (None: absent). Does not check permissions.
    pub fn generation_of(&self, path: &str) -> Option<u64> {
        self.lookup(path).map(|id| self.node(id).generation)
    }

    /// The quotas of domains.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The quotas of `virt_manage` peers.
    pub fn manage_quota(&self) -> Quota {
        self.manage_quota
    }

    /// Nodes owned by `domid`.
    pub fn owned_by(&self, domid: u32) -> usize {
        self.owned.get(&domid).copied().unwrap_or(0)
    }

    /// Nodes counted against `c`'s node quota (0 for the privileged).
    pub fn counted(&self, c: Caller) -> usize {
        match c {
            Caller::Privileged => 0,
            Caller::Manage => self.manage_nodes,
            Caller::Domain(d) => self.owned_by(d),
        }
    }

    /// Nodes in the tree.
    pub fn len(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Whether the tree is just its root (never: it always has `/tool`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn quota_of(&self, c: Caller) -> Option<&Quota> {
        match c {
            Caller::Privileged => None,
            Caller::Manage => Some(&self.manage_quota),
            Caller::Domain(_) => Some(&self.quota),
        }
    }

    /// The value rule: ENOSPC for a value longer than `c` may store.
    pub fn check_value(&self, c: Caller, value: &[u8]) -> Result<(), XsError> {
        match self.quota_of(c) {
            Some(q) if value.len() > q.entry_size => Err(XsError::Enospc),
            _ => Ok(()),
        }
    }

    /// The node quota: ENOSPC unless `c` may hold `more` nodes beyond
    /// those counted now and the `pending` a transaction has counted.
    pub fn check_new_nodes(&self, c: Caller, pending: usize, more: usize) -> Result<(), XsError> {
        match self.quota_of(c) {
            Some(q)
                if self.counted(c).saturating_add(pending).saturating_add(more) > q.entry_nb =>
            {
                Err(XsError::Enospc)
            }
            _ => Ok(()),
        }
    }

    /// The SET_PERMS rule for a node owned by `old_owner`: ENOSPC for a
    /// list longer than `c` may set; a domain gives a node to no one but
    /// itself (EPERM); a node a domain takes counts against its node quota
    /// (beyond `pending`). Returns the nodes it adds to `c`'s count.
    pub fn check_perms(
        &self,
        c: Caller,
        old_owner: u32,
        new: &Perms,
        pending: usize,
    ) -> Result<usize, XsError> {
        if let Some(q) = self.quota_of(c)
            && new.len() > q.perm_nb
        {
            return Err(XsError::Enospc);
        }
        if let Caller::Domain(d) = c {
            if new.owner_id() != old_owner && new.owner_id() != d {
                return Err(XsError::Eperm);
            }
            if new.owner_id() == d && old_owner != d {
                self.check_new_nodes(c, pending, 1)?;
                return Ok(1);
            }
        }
        Ok(0)
    }

    /// READ.
    pub fn read(&self, c: Caller, path: &str) -> Result<&[u8], XsError> {
        let id = self.lookup(path).ok_or(XsError::Enoent)?;
        self.check(c, id, Access::Read)?;
        Ok(self.node(id).value())
    }

    /// DIRECTORY: the children's names, sorted.
    pub fn directory(&self, c: Caller, path: &str) -> Result<Vec<&str>, XsError> {
        let id = self.lookup(path).ok_or(XsError::Enoent)?;
        self.check(c, id, Access::Read)?;
        Ok(self
            .node(id)
            .children
            .iter()
            .map(|c| self.node(*c).name())
            .collect())
    }

    /// GET_PERMS.
    pub fn get_perms(&self, c: Caller, path: &str) -> Result<&Perms, XsError> {
        let id = self.lookup(path).ok_or(XsError::Enoent)?;
        self.check(c, id, Access::Read)?;
        Ok(&self.node(id).perms)
    }

    /// Applies `ops` in order, all or nothing: the first refusal undoes
    /// every step before it and is returned.
    pub fn apply(&mut self, c: Caller, ops: &[TxOp]) -> Result<Vec<Applied>, XsError> {
        self.batch(|s, log| {
            ops.iter()
                .map(|op| match op {
                    TxOp::Write(p, v) => s.write_in(c, p, v, log),
                    TxOp::Mkdir(p) => s.mkdir_in(c, p, log),
                    TxOp::Rm(p) => s.rm_in(c, p, log),
                    TxOp::SetPerms(p, perms) => s.set_perms_in(c, p, perms.clone(), log),
                })
                .collect()
        })
    }

    /// WRITE: creates the node (and parents) if needed.
    pub fn write(&mut self, c: Caller, path: &str, value: &[u8]) -> Result<Applied, XsError> {
        self.batch(|s, log| s.write_in(c, path, value, log))
    }

    /// MKDIR (nothing created, nothing changed: it was there).
    pub fn mkdir(&mut self, c: Caller, path: &str) -> Result<Applied, XsError> {
        self.batch(|s, log| s.mkdir_in(c, path, log))
    }

    /// RM: removes the node and everything beneath it. Absent with a
    /// present parent is fine (`false`); absent parent is ENOENT.
    pub fn rm(&mut self, c: Caller, path: &str) -> Result<bool, XsError> {
        self.batch(|s, log| s.rm_in(c, path, log))
            .map(|a| a.changed)
    }

    /// SET_PERMS: needs write access; only a privileged caller may give a
    /// node to another owner.
    pub fn set_perms(&mut self, c: Caller, path: &str, perms: Perms) -> Result<(), XsError> {
        self.batch(|s, log| s.set_perms_in(c, path, perms, log))
            .map(|_| ())
    }

    /// Runs `f` with an undo log: undone if it fails, settled if not.
    fn batch<T>(
        &mut self,
        f: impl FnOnce(&mut Store, &mut Vec<Undo>) -> Result<T, XsError>,
    ) -> Result<T, XsError> {
        let mut log = Vec::new();
        match f(self, &mut log) {
            Ok(v) => {
                self.settle(log);
                Ok(v)
            }
            Err(e) => {
                self.undo(log);
                Err(e)
            }
        }
    }

    /// Adds (`up`) or takes away one node from its accounts.
    fn count(&mut self, owner: u32, by_manage: bool, up: bool) {
        let n = self.owned.entry(owner).or_insert(0);
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
        if by_manage {
            self.manage_nodes = if up {
                self.manage_nodes + 1
            } else {
                self.manage_nodes.saturating_sub(1)
            };
        }
    }

    fn count_subtree(&mut self, id: u32, up: bool) {
        let mut stack = vec![id];
        while let Some(x) = stack.pop() {
            let n = self.node(x);
            let (owner, by_manage) = (n.perms.owner_id(), n.by_manage);
            stack.extend_from_slice(&n.children);
            self.count(owner, by_manage, up);
        }
    }

    fn free_subtree(&mut self, id: u32) {
        let mut stack = vec![id];
        while let Some(x) = stack.pop() {
            if let Some(n) = self.nodes[x as usize].take() {
                stack.extend(n.children);
                self.free.push(x);
            }
        }
    }

    fn link(&mut self, id: u32) {
        let par = self.node(id).parent;
        let name = self.node(id).name().to_string();
        if let Err(pos) = self.child(par, &name) {
            self.node_mut(par).children.insert(pos, id);
        }
    }

    fn unlink(&mut self, id: u32) {
        let par = self.node(id).parent;
        self.node_mut(par).children.retain(|x| *x != id);
    }

    /// Takes back `log`, last step first.
    fn undo(&mut self, log: Vec<Undo>) {
        for u in log.into_iter().rev() {
            match u {
                Undo::Created(id) => {
                    self.unlink(id);
                    self.count_subtree(id, false);
                    self.free_subtree(id);
                }
                Undo::Value {
                    id,
                    data,
                    generation,
                } => {
                    let n = self.node_mut(id);
                    n.data = data;
                    n.generation = generation;
                }
                Undo::Perms {
                    id,
                    perms,
                    generation,
                } => {
                    let now = self.node(id).perms.owner_id();
                    if now != perms.owner_id() {
                        self.count(now, false, false);
                        self.count(perms.owner_id(), false, true);
                    }
                    let n = self.node_mut(id);
                    n.perms = perms;
                    n.generation = generation;
                }
                Undo::Unlinked(id) => {
                    self.link(id);
                    self.count_subtree(id, true);
                }
                Undo::Generation { id, generation } => self.node_mut(id).generation = generation,
            }
        }
    }

    /// A batch went through: frees what it removed.
    fn settle(&mut self, log: Vec<Undo>) {
        for u in log {
            if let Undo::Unlinked(id) = u {
                self.free_subtree(id);
            }
        }
    }

    /// Creates `path` and any missing parents; returns the node and what
    /// was created (changed: something was). Write access on the nearest existing ancestor is
    /// needed; new nodes copy their parent's permissions, and an
    /// unprivileged creator becomes their owner.
    fn create(
        &mut self,
        c: Caller,
        path: &str,
        log: &mut Vec<Undo>,
    ) -> Result<(u32, Applied), XsError> {
        if let Some(id) = self.lookup(path) {
            return Ok((id, Applied::default()));
        }
        // Find the nearest existing ancestor and what is missing below it.
        let mut missing = vec![path];
        let mut at = parent(path).ok_or(XsError::Einval)?;
        let mut base = loop {
            if let Some(id) = self.lookup(at) {
                break id;
            }
            missing.push(at);
            at = parent(at).ok_or(XsError::Einval)?;
        };
        self.check(c, base, Access::Write)?;
        self.check_new_nodes(c, 0, missing.len())?;
        let mut created = Vec::with_capacity(missing.len());
        for p in missing.into_iter().rev() {
            let perms = match c {
                Caller::Domain(d) => self.node(base).perms.with_owner(d),
                Caller::Privileged | Caller::Manage => self.node(base).perms.clone(),
            };
            let generation = self.bump();
            let node = Node::new(basename(p), base, perms, generation, c == Caller::Manage)?;
            let id = match self.free.last() {
                Some(id) => *id,
                None => u32::try_from(self.nodes.len()).map_err(|_| XsError::Enospc)?,
            };
            self.count(node.perms.owner_id(), node.by_manage, true);
            if self.free.pop().is_some() {
                self.nodes[id as usize] = Some(node);
            } else {
                self.nodes.push(Some(node));
            }
            log.push(Undo::Generation {
                id: base,
                generation: self.node(base).generation,
            });
            self.link(id);
            self.node_mut(base).generation = generation;
            log.push(Undo::Created(id));
            created.push(p.to_string());
            base = id;
        }
        Ok((
            base,
            Applied {
                created,
                changed: true,
            },
        ))
    }

    fn write_in(
        &mut self,
        c: Caller,
        path: &str,
        value: &[u8],
        log: &mut Vec<Undo>,
    ) -> Result<Applied, XsError> {
        self.check_value(c, value)?;
        if let Some(id) = self.lookup(path) {
            self.check(c, id, Access::Write)?;
        }
        let (id, created) = self.create(c, path, log)?;
        let generation = self.bump();
        let n = self.node_mut(id);
        let old = (n.set_value(value), n.generation);
        n.generation = generation;
        log.push(Undo::Value {
            id,
            data: old.0,
            generation: old.1,
        });
        Ok(Applied {
            changed: true,
            ..created
        })
    }

    fn mkdir_in(&mut self, c: Caller, path: &str, log: &mut Vec<Undo>) -> Result<Applied, XsError> {
        self.create(c, path, log).map(|(_, created)| created)
    }

    fn rm_in(&mut self, c: Caller, path: &str, log: &mut Vec<Undo>) -> Result<Applied, XsError> {
        if path == "/" {
            return Err(XsError::Einval);
        }
        let Some(id) = self.lookup(path) else {
            let p = parent(path).ok_or(XsError::Einval)?;
            return if self.exists(p) {
                Ok(Applied::default())
            } else {
                Err(XsError::Enoent)
            };
        };
        self.check(c, id, Access::Write)?;
        let par = self.node(id).parent;
        log.push(Undo::Generation {
            id: par,
            generation: self.node(par).generation,
        });
        let generation = self.bump();
        self.node_mut(par).generation = generation;
        self.unlink(id);
        self.count_subtree(id, false);
        log.push(Undo::Unlinked(id));
        Ok(Applied {
            created: Vec::new(),
            changed: true,
        })
    }

    fn set_perms_in(
        &mut self,
        c: Caller,
        path: &str,
        perms: Perms,
        log: &mut Vec<Undo>,
    ) -> Result<Applied, XsError> {
        let id = self.lookup(path).ok_or(XsError::Enoent)?;
        self.check(c, id, Access::Write)?;
        let old_owner = self.node(id).perms.owner_id();
        self.check_perms(c, old_owner, &perms, 0)?;
        let new_owner = perms.owner_id();
        if old_owner != new_owner {
            self.count(old_owner, false, false);
            self.count(new_owner, false, true);
        }
        let generation = self.bump();
        let n = self.node_mut(id);
        let old = std::mem::replace(&mut n.perms, perms);
        log.push(Undo::Perms {
            id,
            perms: old,
            generation: n.generation,
        });
        n.generation = generation;
        Ok(Applied {
            created: Vec::new(),
            changed: true,
        })
    }

    /// Every node with its value and permissions, parents before children
    /// (for snapshots).
    pub fn walk(&self) -> Vec<(String, &[u8], &Perms)> {
        let mut out = Vec::with_capacity(self.len());
        let mut stack = vec![(ROOT, String::from("/"))];
        while let Some((id, path)) = stack.pop() {
            let n = self.node(id);
            for c in n.children.iter().rev() {
                let child = self.node(*c).name();
                let p = if path == "/" {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                };
                stack.push((*c, p));
            }
            out.push((path, n.value(), &n.perms));
        }
        out
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
