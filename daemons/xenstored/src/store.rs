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
//! That write path is `store/write.rs`; a node's layout is
//! `store/node.rs`; the quotas it counts against are [`crate::quota`].
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

use crate::perms::{Access, Perms};
pub use crate::quota::Quota;
use crate::wire::XsError;

mod node;
mod write;

use node::Node;

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
