//! The policy file: who holds `xvm_control` and `virt_manage` as a peer.
//!
//! # Format
//! TOML, one table per shim privilege, each with optional `groups` (names),
//! `uids` and `capabilities` (`cap_*` names; a peer holding any of them,
//! believed as [`crate::peer`] says, holds the privilege):
//!
//! ```toml
//! [xvm_control]
//! groups = ["xvm"]
//! uids = [0]
//!
//! [virt_manage]
//! groups = ["xvm", "virt"]
//! capabilities = ["cap_sys_admin"]
//! ```
//!
//! Each privilege is one table, under one name: `[xvm_control]` beside
//! `[priv_xvm_control]` (or `[XVM_CONTROL]`) is refused, not merged.
//!
//! System mode reads `/etc/xvm/privileges.toml` (under `$XVM_ROOT` if set)
//! and refuses a file, or a directory the kernel passes through to reach
//! it, writable by anyone but root; and anything but a regular file of at
//! most [`MAX_POLICY_LEN`] bytes. Session mode serves only the invoking
//! user, who holds both.

mod file;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::caps::{CAP_NAMES, CapMask};
use crate::names::{self, Backing, PrivId};
use crate::peer::Ucred;
use crate::sys::accounts;

pub use file::MAX_POLICY_LEN;

/// A policy that cannot be used: says where and why.
#[derive(Debug, thiserror::Error)]
#[error("{}:{}:{}: {problem}", file.display(), line.max(&1), col.max(&1))]
pub struct PolicyError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong (boxed: a parse error is large, and this travels).
    #[source]
    pub problem: Box<Problem>,
}

/// What is wrong with a policy file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file, or a directory on the way to it, could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// What could not be opened.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed.
    #[error("cannot read: {0}")]
    Read(#[source] crate::bounded::FileError),
    /// Not a regular file (a device, a FIFO, a symlink, ...).
    #[error("{} is {kind}, not a regular file; refusing the policy", path.display())]
    NotRegular {
        /// The node.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than a policy file may be.
    #[error("the file holds {size} bytes, more than the {max} a policy file may hold")]
    TooLarge {
        /// Its size (or what was read of it).
        size: u64,
        /// The bound.
        max: u64,
    },
    /// It grew past the bound between the size check and the read.
    #[error("the file grew past the {max} bytes a policy file may hold while it was read")]
    Grew {
        /// The bound.
        max: u64,
    },
    /// The file, or a directory the kernel passes through to reach it, is
    /// not root's alone.
    #[error("{} is writable by someone other than root (owner uid {uid}, mode {mode:04o}); refusing the policy", path.display())]
    Writable {
        /// The node.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its mode bits.
        mode: u32,
    },
    /// Too many symlinks on the way.
    #[error("too many symbolic links on the way to {}", path.display())]
    SymlinkLoop {
        /// Where the walk stopped.
        path: PathBuf,
    },
    /// The file was replaced while it was being opened.
    #[error("{} was replaced while it was opened; refusing the policy", path.display())]
    Moved {
        /// The file.
        path: PathBuf,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8 text: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// Not valid TOML, or not of the policy's shape.
    #[error("{}", .0.message())]
    Syntax(#[source] toml::de::Error),
    /// A name that is no privilege.
    #[error("unknown privilege \"{0}\"")]
    UnknownPrivilege(String),
    /// A privilege the policy does not grant.
    #[error("\"{0}\" is not granted by policy (only xvm_control and virt_manage are)")]
    NotShim(String),
    /// The same privilege under two names (`[xvm_control]` and
    /// `[priv_xvm_control]`, or in another case).
    #[error(
        "\"{name}\" names {privilege} again (first as \"{first}\" at line {line}, column {col}); write each privilege once"
    )]
    Duplicate {
        /// The name used here.
        name: String,
        /// The privilege it names.
        privilege: &'static str,
        /// The name used first.
        first: String,
        /// Where the first is.
        line: usize,
        /// Its column.
        col: usize,
    },
    /// The account database could not be asked about a group.
    #[error("looking up group \"{group}\": {source}")]
    GroupLookup {
        /// The group.
        group: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A group the account database does not know.
    #[error("unknown group \"{0}\"")]
    UnknownGroup(String),
    /// A word that names no capability.
    #[error("unknown capability \"{0}\"")]
    UnknownCapability(String),
}

/// Why a peer holds a privilege.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Member of this group.
    Group(String),
    /// Its uid is listed.
    Uid(u32),
    /// It holds this capability.
    Capability(u8),
    /// Session mode: it is the invoking user.
    SameUser,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Group(g) => write!(f, "group {g}"),
            Why::Uid(u) => write!(f, "uid {u}"),
            Why::Capability(c) => write!(f, "capability {}", crate::caps::cap_name(*c)),
            Why::SameUser => f.write_str("session owner"),
        }
    }
}

/// What grants one privilege.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Groups, by name and gid.
    pub groups: Vec<(String, u32)>,
    /// Uids.
    pub uids: Vec<u32>,
    /// Capabilities.
    pub caps: CapMask,
}

/// The policy in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// System mode: grants per shim privilege.
    System(BTreeMap<PrivId, Grants>),
    /// Session mode: only this uid, holding every shim privilege.
    Session(u32),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    uids: Vec<Spanned<u32>>,
    #[serde(default)]
    capabilities: Vec<Spanned<String>>,
}

/// Converts a byte offset into 1-based line and column.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Policy {
    /// Reads policy text; `file` names it in errors. Groups are resolved
    /// through the account database. Tables are read in file order, so the
    /// first problem in the file is the one reported.
    pub fn parse(text: &str, file: &Path) -> Result<Policy, PolicyError> {
        let err = |span: std::ops::Range<usize>, problem: Problem| {
            let (line, col) = line_col(text, span.start);
            PolicyError {
                file: file.to_path_buf(),
                line,
                col,
                problem: Box::new(problem),
            }
        };
        let raw: BTreeMap<Spanned<String>, Spanned<RawGrants>> =
            toml::from_str(text).map_err(|e| {
                let span = e.span().unwrap_or(0..0);
                err(span, Problem::Syntax(e))
            })?;
        let mut tables: Vec<_> = raw.into_iter().collect();
        tables.sort_by_key(|(key, _)| key.span().start);
        let mut grants = BTreeMap::new();
        let mut seen: BTreeMap<PrivId, Spanned<String>> = BTreeMap::new();
        for (key, value) in tables {
            let name = key.get_ref();
            let id = names::lookup(name)
                .ok_or_else(|| err(key.span(), Problem::UnknownPrivilege(name.clone())))?;
            if id.info().backing != Backing::Shim {
                return Err(err(key.span(), Problem::NotShim(name.clone())));
            }
            // Two names of one privilege would each be a table of its own
            // to TOML, and one would silently win.
            if let Some(first) = seen.get(&id) {
                let (line, col) = line_col(text, first.span().start);
                return Err(err(
                    key.span(),
                    Problem::Duplicate {
                        name: name.clone(),
                        privilege: id.name(),
                        first: first.get_ref().clone(),
                        line,
                        col,
                    },
                ));
            }
            seen.insert(id, key.clone());
            let raw = value.into_inner();
            let mut g = Grants::default();
            for group in raw.groups {
                let found = accounts::group_by_name(group.get_ref()).map_err(|source| {
                    err(
                        group.span(),
                        Problem::GroupLookup {
                            group: group.get_ref().clone(),
                            source,
                        },
                    )
                })?;
                let found = found.ok_or_else(|| {
                    err(group.span(), Problem::UnknownGroup(group.get_ref().clone()))
                })?;
                g.groups.push((found.name, found.gid));
            }
            g.uids = raw.uids.into_iter().map(Spanned::into_inner).collect();
            for cap in raw.capabilities {
                let lower = cap.get_ref().to_ascii_lowercase();
                let n = CAP_NAMES.iter().position(|c| *c == lower).ok_or_else(|| {
                    err(
                        cap.span(),
                        Problem::UnknownCapability(cap.get_ref().clone()),
                    )
                })?;
                g.caps = g
                    .caps
                    .union(CapMask::of(&[u8::try_from(n).unwrap_or(u8::MAX)]));
            }
            grants.insert(id, g);
        }
        Ok(Policy::System(grants))
    }

    /// Loads a system-mode policy file, refusing one that anyone but root
    /// could have written or replaced: the file, and every directory the
    /// kernel passes through to reach it (symlink targets included); and
    /// refusing anything but a regular file of at most
    /// [`MAX_POLICY_LEN`] bytes.
    pub fn load_system(path: &Path) -> Result<Policy, PolicyError> {
        let text = file::read_root_only(path).map_err(|problem| whole(path, problem))?;
        Policy::parse(&text, path)
    }

    /// Loads a policy file of the invoking user's (session mode): bounded
    /// and a regular file as in system mode, owned by anyone.
    pub fn load_session_file(path: &Path) -> Result<Policy, PolicyError> {
        let text = file::read_bounded(path).map_err(|problem| whole(path, problem))?;
        Policy::parse(&text, path)
    }

    /// Loads the policy for the mode: system mode (`uid` 0, or `system`
    /// forced) reads [`system_path`]; session mode serves only `uid`, and
    /// a session file, if present, must still parse.
    pub fn load(system: bool, uid: u32) -> Result<Policy, PolicyError> {
        if system {
            return Policy::load_system(&system_path());
        }
        if let Some(p) = session_path().filter(|p| p.exists()) {
            Policy::load_session_file(&p)?;
        }
        Ok(Policy::Session(uid))
    }

    /// Why `peer` holds `p`, if it does. Uid and group grants are checked
    /// first: only when neither applies are the peer's capabilities read.
    pub fn holds(&self, peer: &Ucred, p: PrivId) -> Option<Why> {
        match self {
            Policy::Session(uid) => {
                (peer.euid == *uid && p.info().backing == Backing::Shim).then_some(Why::SameUser)
            }
            Policy::System(grants) => {
                let g = grants.get(&p)?;
                if g.uids.contains(&peer.euid) {
                    return Some(Why::Uid(peer.euid));
                }
                if let Some((name, _)) = g.groups.iter().find(|(_, gid)| peer.in_group(*gid)) {
                    return Some(Why::Group(name.clone()));
                }
                if g.caps.is_empty() {
                    return None;
                }
                peer.caps()
                    .caps()
                    .intersect(g.caps)
                    .iter()
                    .next()
                    .map(Why::Capability)
            }
        }
    }

    /// The grants for `p` (system mode).
    pub fn grants(&self, p: PrivId) -> Option<&Grants> {
        match self {
            Policy::System(g) => g.get(&p),
            Policy::Session(_) => None,
        }
    }
}

/// An error about the file as a whole (no line).
fn whole(path: &Path, problem: Problem) -> PolicyError {
    PolicyError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        problem: Box::new(problem),
    }
}

/// `$XVM_ROOT/etc/xvm/privileges.toml`.
pub fn system_path() -> PathBuf {
    crate::mode::xvm_root().join("etc/xvm/privileges.toml")
}

/// `$XDG_CONFIG_HOME/xvm/privileges.toml` (or `~/.config/...`).
pub fn session_path() -> Option<PathBuf> {
    if crate::mode::secure_exec() {
        return None;
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("xvm/privileges.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, Path::new("p.toml"))
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("[xvm_control]\ngroups = [\"root\"]\n\n[virt_manag]\nuids = [1]\n")
            .expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "p.toml:4:2: unknown privilege \"virt_manag\""
        );
        let e = parse("[file_chown]\nuids = [1]\n").expect_err("not a shim");
        assert!(
            e.to_string()
                .starts_with("p.toml:1:2: \"file_chown\" is not granted by policy"),
            "{e}"
        );
        let e = parse("[xvm_control]\ngroups = [\"no-such-group-xvm\"]\n").expect_err("group");
        assert_eq!(
            e.to_string(),
            "p.toml:2:11: unknown group \"no-such-group-xvm\""
        );
        let e = parse("[xvm_control]\nuids = [-1]\n").expect_err("negative");
        assert!(e.to_string().starts_with("p.toml:2:"), "{e}");
        let e = parse("[xvm_control\n").expect_err("syntax");
        assert!(e.to_string().starts_with("p.toml:1:"), "{e}");
        let e = parse("[xvm_control]\nmembers = [\"x\"]\n").expect_err("unknown key");
        assert!(
            e.to_string().starts_with("p.toml:2:1:") && e.to_string().contains("members"),
            "{e}"
        );
        let e = parse("[xvm_control]\ncapabilities = [\"cap_sys_adm\"]\n").expect_err("cap");
        assert!(
            e.to_string().contains("unknown capability \"cap_sys_adm\""),
            "{e}"
        );
    }

    #[test]
    fn one_privilege_under_two_names_is_refused() {
        for (second, at) in [
            ("priv_xvm_control", "4:2"),
            ("XVM_Control", "4:2"),
            ("PRIV_XVM_CONTROL", "4:2"),
        ] {
            let text = format!("[xvm_control]\nuids = [0]\n\n[{second}]\nuids = [1000]\n");
            let e = parse(&text).expect_err(second);
            assert_eq!(
                e.to_string(),
                format!(
                    "p.toml:{at}: \"{second}\" names xvm_control again (first as \"xvm_control\" at line 1, column 2); write each privilege once"
                ),
            );
        }
        // The later table is the one named, whichever sorts first.
        let e =
            parse("[priv_virt_manage]\nuids = [0]\n[VIRT_MANAGE]\nuids = [1]\n").expect_err("dup");
        assert!(
            e.to_string().starts_with("p.toml:3:2: \"VIRT_MANAGE\""),
            "{e}"
        );
        // Literally the same name twice is TOML's own error.
        let e = parse("[xvm_control]\nuids = [0]\n[xvm_control]\nuids = [1]\n").expect_err("dup");
        assert!(e.to_string().starts_with("p.toml:3:"), "{e}");
        // Each privilege once is fine.
        parse("[xvm_control]\nuids = [0]\n[priv_virt_manage]\nuids = [1]\n").expect("parses");
    }

    #[test]
    fn the_first_problem_in_the_file_is_reported() {
        // "zzz" sorts after "aaa", but comes first in the file.
        let e = parse("[zzz]\nuids = [0]\n[aaa]\nuids = [1]\n").expect_err("unknown");
        assert_eq!(e.to_string(), "p.toml:1:2: unknown privilege \"zzz\"");
    }

    #[test]
    fn a_valid_policy_resolves_groups() {
        let p = parse(
            "[xvm_control]\ngroups = [\"root\"]\nuids = [0]\ncapabilities = [\"CAP_SYS_ADMIN\"]\n",
        )
        .expect("parses");
        let g = p.grants(names::xvm_control()).expect("grants");
        assert_eq!(g.groups, [("root".to_string(), 0)]);
        assert!(g.caps.has(crate::caps::num::SYS_ADMIN));
        assert!(p.grants(names::virt_manage()).is_none());
    }

    #[test]
    fn session_mode_serves_the_same_user_only() {
        let me = Ucred::from_uid(1000, 1000, vec![], "test");
        let other = Ucred::from_uid(1001, 1000, vec![], "test");
        let p = Policy::Session(1000);
        assert_eq!(p.holds(&me, names::virt_manage()), Some(Why::SameUser));
        assert_eq!(p.holds(&me, names::xvm_control()), Some(Why::SameUser));
        assert_eq!(p.holds(&other, names::virt_manage()), None);
    }

    #[test]
    fn a_writable_file_is_refused_in_system_mode() {
        let dir = std::env::temp_dir().join(format!("xvm-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("privileges.toml");
        std::fs::write(&f, "[xvm_control]\nuids = [0]\n").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = Policy::load_system(&f).expect_err("writable");
        assert!(
            e.to_string()
                .contains("writable by someone other than root"),
            "{e}"
        );
        assert!(
            e.to_string().starts_with(&format!("{}:1:1:", f.display())),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
