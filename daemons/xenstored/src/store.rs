//! The node tree.
//!
//! Nodes live in an arena, children sorted by name, so a lookup is a
//! binary search per path component. Every change stamps the changed nodes
//! (and the parent whose child list changed) with a new generation from
//! one counter: transactions and DIRECTORY_PART detect change by it.
//! Entries are counted per owning domain for the entry quota.

use std::collections::HashMap;

use crate::path::{basename, parent};
use crate::perms::{Access, Perms};
use crate::wire::XsError;

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// Dom0 with privilege: node permissions do not apply.
    Privileged,
    /// Domain N: node permissions and quotas apply.
    Domain(u32),
}

impl Caller {
    /// The domid it acts as.
    pub fn domid(self) -> u32 {
        match self {
            Caller::Privileged => 0,
            Caller::Domain(d) => d,
        }
    }
}

/// Limits on unprivileged domains (Xen's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Nodes a domain may own (`--entry-nb`).
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

/// One node. Its name and value share one allocation (`data`: the name's
/// bytes, then the value's), which keeps 100,000 small nodes near 2x the
/// bytes they hold.
#[derive(Debug)]
struct Node {
    data: Box<[u8]>,
    name_len: u32,
    parent: u32,
    children: Vec<u32>,
    perms: Perms,
    generation: u64,
}

impl Node {
    fn new(name: &str, parent: u32, perms: Perms, generation: u64) -> Node {
        Node {
            data: name.as_bytes().into(),
            // Path components are bounded far below 4 GiB by the wire.
            name_len: u32::try_from(name.len()).unwrap_or(u32::MAX),
            parent,
            children: Vec::new(),
            perms,
            generation,
        }
    }

    fn name_bytes(&self) -> &[u8] {
        &self.data[..self.name_len as usize]
    }

    fn name(&self) -> &str {
        // Names come from `&str` path components, so this always holds.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        &self.data[self.name_len as usize..]
    }

    fn set_value(&mut self, value: &[u8]) {
        let mut data = Vec::with_capacity(self.name_len as usize + value.len());
        data.extend_from_slice(self.name_bytes());
        data.extend_from_slice(value);
        self.data = data.into_boxed_slice();
    }
}

/// The tree.
#[derive(Debug)]
pub struct Store {
    nodes: Vec<Option<Node>>,
    free: Vec<u32>,
    generation: u64,
    owned: HashMap<u32, usize>,
    quota: Quota,
}

const ROOT: u32 = 0;

impl Store {
    /// The initial tree: `/`, `/tool` and `/tool/xenstored`, owned by dom0
    /// with no access for others.
    pub fn new(quota: Quota) -> Store {
        let root = Node::new("", ROOT, Perms::owner(0), 0);
        let mut s = Store {
            nodes: vec![Some(root)],
            free: Vec::new(),
            generation: 0,
            owned: HashMap::new(),
            quota,
        };
        s.owned.insert(0, 1);
        for p in ["/tool", "/tool/xenstored"] {
            let _ = s.mkdir(Caller::Privileged, p);
        }
        s
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
            Caller::Privileged => Ok(()),
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

    /// The quotas in force.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Nodes owned by `domid`.
    pub fn owned_by(&self, domid: u32) -> usize {
        self.owned.get(&domid).copied().unwrap_or(0)
    }

    /// Nodes in the tree.
    pub fn len(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Whether the tree is just its root (never: it always has `/tool`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    /// Creates `path` and any missing parents; returns the node and the
    /// paths created. Write access on the nearest existing ancestor is
    /// needed; new nodes copy their parent's permissions, and an
    /// unprivileged creator becomes their owner.
    fn create(&mut self, c: Caller, path: &str) -> Result<(u32, Vec<String>), XsError> {
        if let Some(id) = self.lookup(path) {
            return Ok((id, Vec::new()));
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
        if let Caller::Domain(d) = c
            && self.owned_by(d) + missing.len() > self.quota.entry_nb
        {
            return Err(XsError::Enospc);
        }
        let mut created = Vec::with_capacity(missing.len());
        for p in missing.into_iter().rev() {
            let perms = match c {
                Caller::Privileged => self.node(base).perms.clone(),
                Caller::Domain(d) => self.node(base).perms.with_owner(d),
            };
            let generation = self.bump();
            let node = Node::new(basename(p), base, perms, generation);
            *self.owned.entry(node.perms.owner_id()).or_insert(0) += 1;
            let id = match self.free.pop() {
                Some(id) => {
                    self.nodes[id as usize] = Some(node);
                    id
                }
                None => {
                    self.nodes.push(Some(node));
                    u32::try_from(self.nodes.len() - 1).map_err(|_| XsError::Enospc)?
                }
            };
            let name = basename(p).to_string();
            let pos = match self.child(base, &name) {
                Ok(_) => unreachable!("a missing node was found"),
                Err(pos) => pos,
            };
            let parent_node = self.node_mut(base);
            parent_node.children.insert(pos, id);
            parent_node.generation = generation;
            created.push(p.to_string());
            base = id;
        }
        Ok((base, created))
    }

    /// WRITE: creates the node (and parents) if needed; returns the paths
    /// created, parents first.
    pub fn write(&mut self, c: Caller, path: &str, value: &[u8]) -> Result<Vec<String>, XsError> {
        if matches!(c, Caller::Domain(_)) && value.len() > self.quota.entry_size {
            return Err(XsError::Enospc);
        }
        let existing = self.lookup(path);
        if let Some(id) = existing {
            self.check(c, id, Access::Write)?;
        }
        let (id, created) = self.create(c, path)?;
        let generation = self.bump();
        let n = self.node_mut(id);
        n.set_value(value);
        n.generation = generation;
        Ok(created)
    }

    /// MKDIR: the paths created, parents first (none: it was there).
    pub fn mkdir(&mut self, c: Caller, path: &str) -> Result<Vec<String>, XsError> {
        self.create(c, path).map(|(_, created)| created)
    }

    /// RM: removes the node and everything beneath it. Absent with a
    /// present parent is fine (`false`); absent parent is ENOENT.
    pub fn rm(&mut self, c: Caller, path: &str) -> Result<bool, XsError> {
        if path == "/" {
            return Err(XsError::Einval);
        }
        let Some(id) = self.lookup(path) else {
            let p = parent(path).ok_or(XsError::Einval)?;
            return if self.exists(p) {
                Ok(false)
            } else {
                Err(XsError::Enoent)
            };
        };
        self.check(c, id, Access::Write)?;
        let par = self.node(id).parent;
        let generation = self.bump();
        let pn = self.node_mut(par);
        pn.children.retain(|x| *x != id);
        pn.generation = generation;
        let mut stack = vec![id];
        while let Some(x) = stack.pop() {
            if let Some(n) = self.nodes[x as usize].take() {
                if let Some(count) = self.owned.get_mut(&n.perms.owner_id()) {
                    *count = count.saturating_sub(1);
                }
                stack.extend(n.children);
                self.free.push(x);
            }
        }
        Ok(true)
    }

    /// SET_PERMS: needs write access; only a privileged caller may give a
    /// node to another owner.
    pub fn set_perms(&mut self, c: Caller, path: &str, perms: Perms) -> Result<(), XsError> {
        let id = self.lookup(path).ok_or(XsError::Enoent)?;
        self.check(c, id, Access::Write)?;
        if let Caller::Domain(d) = c {
            if perms.len() > self.quota.perm_nb {
                return Err(XsError::Enospc);
            }
            if perms.owner_id() != self.node(id).perms.owner_id() && perms.owner_id() != d {
                return Err(XsError::Eperm);
            }
        }
        let old_owner = self.node(id).perms.owner_id();
        let new_owner = perms.owner_id();
        if old_owner != new_owner {
            if let Some(count) = self.owned.get_mut(&old_owner) {
                *count = count.saturating_sub(1);
            }
            *self.owned.entry(new_owner).or_insert(0) += 1;
        }
        let generation = self.bump();
        let n = self.node_mut(id);
        n.perms = perms;
        n.generation = generation;
        Ok(())
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
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(Quota {
            entry_nb: 10,
            entry_size: 16,
            perm_nb: 3,
        })
    }

    #[test]
    fn write_creates_parents_and_read_returns_the_value() {
        let mut s = store();
        s.write(Caller::Privileged, "/a/b/c", b"v").expect("write");
        assert_eq!(s.read(Caller::Privileged, "/a/b/c"), Ok(&b"v"[..]));
        assert_eq!(s.read(Caller::Privileged, "/a/b"), Ok(&b""[..]));
        assert_eq!(s.directory(Caller::Privileged, "/"), Ok(vec!["a", "tool"]));
        assert_eq!(s.read(Caller::Privileged, "/nope"), Err(XsError::Enoent));
    }

    #[test]
    fn children_stay_sorted_and_rm_takes_the_subtree() {
        let mut s = store();
        for n in ["m", "b", "z", "a"] {
            s.write(Caller::Privileged, &format!("/d/{n}/x"), b"")
                .expect("write");
        }
        assert_eq!(
            s.directory(Caller::Privileged, "/d"),
            Ok(vec!["a", "b", "m", "z"])
        );
        let before = s.len();
        assert_eq!(s.rm(Caller::Privileged, "/d/m"), Ok(true));
        assert_eq!(s.len(), before - 2);
        assert_eq!(
            s.rm(Caller::Privileged, "/d/m"),
            Ok(false),
            "absent, parent present"
        );
        assert_eq!(s.rm(Caller::Privileged, "/nope/x"), Err(XsError::Enoent));
        assert_eq!(s.rm(Caller::Privileged, "/"), Err(XsError::Einval));
        // Freed slots are reused.
        s.write(Caller::Privileged, "/d/n", b"").expect("write");
        assert_eq!(s.len(), before - 1);
    }

    #[test]
    fn domains_meet_permissions_and_own_what_they_create() {
        let mut s = store();
        s.write(Caller::Privileged, "/local/domain/5", b"")
            .expect("write");
        assert_eq!(
            s.write(Caller::Domain(5), "/local/domain/5/x", b"v"),
            Err(XsError::Eacces)
        );
        s.set_perms(
            Caller::Privileged,
            "/local/domain/5",
            Perms::parse(&[b"n5"]).expect("perms"),
        )
        .expect("give");
        s.write(Caller::Domain(5), "/local/domain/5/x", b"v")
            .expect("own home");
        assert_eq!(
            s.get_perms(Caller::Domain(5), "/local/domain/5/x")
                .map(Perms::owner_id),
            Ok(5)
        );
        assert_eq!(
            s.read(Caller::Domain(6), "/local/domain/5/x"),
            Err(XsError::Eacces)
        );
        assert_eq!(s.read(Caller::Domain(5), "/tool"), Err(XsError::Eacces));
        // Only a privileged caller gives a node away.
        let other = Perms::parse(&[b"n6"]).expect("perms");
        assert_eq!(
            s.set_perms(Caller::Domain(5), "/local/domain/5/x", other.clone()),
            Err(XsError::Eperm)
        );
        s.set_perms(Caller::Privileged, "/local/domain/5/x", other)
            .expect("privileged");
    }

    #[test]
    fn quotas_bound_domains_only() {
        let mut s = store();
        s.write(Caller::Privileged, "/h", b"").expect("write");
        s.set_perms(
            Caller::Privileged,
            "/h",
            Perms::parse(&[b"n7"]).expect("perms"),
        )
        .expect("perms");
        assert_eq!(
            s.write(Caller::Domain(7), "/h/big", &[b'x'; 17]),
            Err(XsError::Enospc)
        );
        s.write(Caller::Privileged, "/h/big", &[b'x'; 100])
            .expect("privileged is unbounded");
        let mut n = 0;
        while s.write(Caller::Domain(7), &format!("/h/n{n}"), b"").is_ok() {
            n += 1;
        }
        assert_eq!(s.owned_by(7), 10, "entry quota");
        assert_eq!(
            s.write(Caller::Domain(7), &format!("/h/n{n}"), b""),
            Err(XsError::Enospc)
        );
        let many = Perms::parse(&[b"n7", b"r1", b"r2", b"r3"]).expect("perms");
        assert_eq!(
            s.set_perms(Caller::Domain(7), "/h/n0", many),
            Err(XsError::Enospc)
        );
        s.rm(Caller::Domain(7), "/h/n0").expect("rm");
        assert_eq!(s.owned_by(7), 9, "removal gives quota back");
    }

    #[test]
    fn generations_move_with_every_change() {
        let mut s = store();
        s.write(Caller::Privileged, "/g/x", b"1").expect("write");
        let (g, x) = (s.generation_of("/g"), s.generation_of("/g/x"));
        s.write(Caller::Privileged, "/g/x", b"2").expect("write");
        assert!(s.generation_of("/g/x") > x);
        assert_eq!(s.generation_of("/g"), g, "a value change leaves the parent");
        s.write(Caller::Privileged, "/g/y", b"").expect("write");
        assert!(s.generation_of("/g") > g, "a new child changes the parent");
        assert_eq!(s.mkdir(Caller::Privileged, "/g/y"), Ok(vec![]));
    }
}
