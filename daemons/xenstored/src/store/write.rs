//! The write path: every change, direct or committed, is a batch of
//! operations applied all or nothing. Each step notes how to undo itself
//! in the batch's log; a refused step undoes the steps before it, node
//! generations and node counts included.

use super::node::Node;
use super::{Applied, Caller, Store, TxOp};
use crate::path::{basename, parent};
use crate::perms::{Access, Perms};
use crate::wire::XsError;

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

impl Store {
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
}
