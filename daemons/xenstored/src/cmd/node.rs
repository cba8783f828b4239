//! The requests on nodes: READ, DIRECTORY, DIRECTORY_PART, GET_PERMS,
//! WRITE, MKDIR, RM, SET_PERMS. Each reads the store, or the connection's
//! transaction when the frame names one; each change goes through
//! [`Daemon::change`], the one write path.
//!
//! # Format
//! A path is one NUL-terminated string, absolute or relative to the
//! connection's home domain. READ, DIRECTORY, GET_PERMS, MKDIR and RM take
//! exactly the path. WRITE is `path\0value` (the value to the end of the
//! payload, NULs and all). SET_PERMS is `path\0perm\0perm\0...`, the first
//! entry the owner. DIRECTORY_PART is `path\0offset\0`.

use super::{Ctx, ParseError, Payload, Reply, number, ok};
use crate::daemon::{Daemon, Outgoing};
use crate::path::{INTRODUCE_DOMAIN, NodePath, RELEASE_DOMAIN};
use crate::perms::Perms;
use crate::txn::TxOp;
use crate::wire::PAYLOAD_MAX;

/// A request on one node that takes nothing else: READ, DIRECTORY,
/// GET_PERMS, MKDIR, RM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnNode {
    /// The node's absolute path.
    pub path: String,
}

impl OnNode {
    /// From `path\0`.
    pub fn parse(p: &Payload<'_>) -> Result<OnNode, ParseError> {
        let [path] = p.strings()?;
        p.node(path).map(|path| OnNode { path })
    }
}

/// READ: the node's value.
pub fn read(d: &mut Daemon, cx: &Ctx, path: &str) -> Reply {
    let caller = cx.role.caller();
    if cx.tx != 0 {
        let (t, s) = d.txn_mut(cx.conn, cx.tx)?;
        t.read(s, caller, path)
    } else {
        d.store.read(caller, path).map(<[u8]>::to_vec)
    }
}

/// DIRECTORY: `name\0` for each child, sorted.
pub fn directory(d: &mut Daemon, cx: &Ctx, path: &str) -> Reply {
    let names = d.children(cx.conn, cx.tx, cx.role.caller(), path)?;
    let mut v = Vec::new();
    for n in names {
        v.extend_from_slice(n.as_bytes());
        v.push(0);
    }
    Ok(v)
}

/// GET_PERMS: `perm\0` for each entry, the owner first.
pub fn get_perms(d: &mut Daemon, cx: &Ctx, path: &str) -> Reply {
    let caller = cx.role.caller();
    let perms = if cx.tx != 0 {
        let (t, s) = d.txn_mut(cx.conn, cx.tx)?;
        t.get_perms(s, caller, path)?
    } else {
        d.store.get_perms(caller, path)?.clone()
    };
    Ok(perms.to_wire())
}

/// Applies (or records in the frame's transaction) the request's one
/// change: `OK\0`. MKDIR, RM, and WRITE and SET_PERMS after parsing.
pub fn change(d: &mut Daemon, cx: &Ctx, op: TxOp, out: &mut Vec<Outgoing>) -> Reply {
    d.change(cx.conn, cx.tx, cx.role.caller(), op, out)
        .map(|()| ok())
}

/// DIRECTORY_PART: one chunk of a long list of children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryPart {
    /// The node.
    pub path: String,
    /// The byte offset into the full `name\0` list.
    pub offset: usize,
}

impl DirectoryPart {
    /// From `path\0offset\0`.
    pub fn parse(p: &Payload<'_>) -> Result<DirectoryPart, ParseError> {
        let [path, offset] = p.strings()?;
        Ok(DirectoryPart {
            path: p.node(path)?,
            offset: number(offset, "offset")?,
        })
    }

    /// # Format
    /// `generation\0`, then the whole `name\0` entries from byte `offset`
    /// of the full list that fit, and one more `\0` after the last chunk.
    pub fn apply(self, d: &mut Daemon, cx: &Ctx) -> Reply {
        let generation = d.store.generation_of(&self.path).unwrap_or(0);
        let names = d.children(cx.conn, cx.tx, cx.role.caller(), &self.path)?;
        let mut out = format!("{generation}\0").into_bytes();
        let room = PAYLOAD_MAX - out.len() - 1;
        let mut pos = 0usize;
        let mut taken = 0usize;
        let mut done = true;
        for n in &names {
            let len = n.len() + 1;
            if pos >= self.offset {
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
}

/// WRITE: sets a node's value, creating it and missing parents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The node.
    pub path: String,
    /// The value.
    pub value: Vec<u8>,
}

impl Write {
    /// From `path\0value`.
    pub fn parse(p: &Payload<'_>) -> Result<Write, ParseError> {
        let at = p
            .bytes
            .iter()
            .position(|b| *b == 0)
            .ok_or(ParseError::NoValue)?;
        Ok(Write {
            path: p.node(&p.bytes[..at])?,
            value: p.bytes[at + 1..].to_vec(),
        })
    }

    /// `OK\0`.
    pub fn apply(self, d: &mut Daemon, cx: &Ctx, out: &mut Vec<Outgoing>) -> Reply {
        change(d, cx, TxOp::Write(self.path, self.value), out)
    }
}

/// What SET_PERMS sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermsOn {
    /// A node.
    Node(String),
    /// `@introduceDomain` or `@releaseDomain`: accepted, and nothing
    /// kept (their watches are for dom0 connections only).
    Special,
}

/// SET_PERMS: replaces a node's permission list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPerms {
    /// The node.
    pub on: PermsOn,
    /// The new list.
    pub perms: Perms,
}

impl SetPerms {
    /// From `path\0perm\0...`.
    pub fn parse(p: &Payload<'_>) -> Result<SetPerms, ParseError> {
        let strings = p.at_least(1, "at least 1")?;
        let (path, perms) = strings.split_first().ok_or(ParseError::Strings {
            want: "at least 1",
            got: 0,
        })?;
        let on = match p.any_path(path) {
            Ok(NodePath::Special(name)) if name == INTRODUCE_DOMAIN || name == RELEASE_DOMAIN => {
                PermsOn::Special
            }
            Ok(NodePath::Special(name)) => return Err(ParseError::Special(name)),
            Ok(NodePath::Abs(node)) => PermsOn::Node(node),
            Err(e) => return Err(e),
        };
        Ok(SetPerms {
            on,
            perms: Perms::parse(perms).map_err(ParseError::Perms)?,
        })
    }

    /// `OK\0`.
    pub fn apply(self, d: &mut Daemon, cx: &Ctx, out: &mut Vec<Outgoing>) -> Reply {
        match self.on {
            PermsOn::Special => Ok(ok()),
            PermsOn::Node(path) => change(d, cx, TxOp::SetPerms(path, self.perms), out),
        }
    }
}
