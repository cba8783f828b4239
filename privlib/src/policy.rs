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
//! System mode reads `/etc/xvm/privileges.toml` (under `$XVM_ROOT` if set)
//! and refuses a file, or a directory above it, writable by anyone but
//! root. Session mode serves only the invoking user, who holds both.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::caps::{CAP_NAMES, CapMask};
use crate::names::{self, Backing, PrivId};
use crate::peer::Ucred;
use crate::sys::accounts;

/// A policy that cannot be used: says where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line.max(1),
            self.col.max(1),
            self.msg
        )
    }
}

impl std::error::Error for PolicyError {}

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
    /// through the account database.
    pub fn parse(text: &str, file: &Path) -> Result<Policy, PolicyError> {
        let err = |span: std::ops::Range<usize>, msg: String| {
            let (line, col) = line_col(text, span.start);
            PolicyError {
                file: file.to_path_buf(),
                line,
                col,
                msg,
            }
        };
        let raw: BTreeMap<Spanned<String>, Spanned<RawGrants>> =
            toml::from_str(text).map_err(|e| {
                let span = e.span().unwrap_or(0..0);
                err(span, e.message().to_string())
            })?;
        let mut grants = BTreeMap::new();
        for (key, value) in raw {
            let name = key.get_ref();
            let id = names::lookup(name)
                .ok_or_else(|| err(key.span(), format!("unknown privilege \"{name}\"")))?;
            if id.info().backing != Backing::Shim {
                return Err(err(
                    key.span(),
                    format!(
                        "\"{name}\" is not granted by policy (only xvm_control and virt_manage are)"
                    ),
                ));
            }
            let raw = value.into_inner();
            let mut g = Grants::default();
            for group in raw.groups {
                let found = accounts::group_by_name(group.get_ref()).map_err(|e| {
                    err(
                        group.span(),
                        format!("looking up group \"{}\": {e}", group.get_ref()),
                    )
                })?;
                let found = found.ok_or_else(|| {
                    err(
                        group.span(),
                        format!("unknown group \"{}\"", group.get_ref()),
                    )
                })?;
                g.groups.push((found.name, found.gid));
            }
            g.uids = raw.uids.into_iter().map(Spanned::into_inner).collect();
            for cap in raw.capabilities {
                let lower = cap.get_ref().to_ascii_lowercase();
                let n = CAP_NAMES.iter().position(|c| *c == lower).ok_or_else(|| {
                    err(
                        cap.span(),
                        format!("unknown capability \"{}\"", cap.get_ref()),
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
    /// could have written (the file or any directory above it).
    pub fn load_system(file: &Path) -> Result<Policy, PolicyError> {
        let whole = |msg: String| PolicyError {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            msg,
        };
        let meta =
            std::fs::symlink_metadata(file).map_err(|e| whole(format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(whole("not a regular file (symlinks are refused)".into()));
        }
        for p in std::iter::once(file).chain(file.ancestors().skip(1)) {
            if p.as_os_str().is_empty() {
                continue;
            }
            let m = std::fs::metadata(p).map_err(|e| whole(format!("{}: {e}", p.display())))?;
            let sticky_root_dir = m.is_dir()
                && m.permissions().mode() & 0o1000 != 0
                && p != file.parent().unwrap_or(p);
            if m.uid() != 0 || (m.permissions().mode() & 0o022 != 0 && !sticky_root_dir) {
                return Err(whole(format!(
                    "{} is writable by someone other than root (owner uid {}, mode {:04o}); refusing the policy",
                    p.display(),
                    m.uid(),
                    m.permissions().mode() & 0o7777
                )));
            }
        }
        let text = std::fs::read_to_string(file).map_err(|e| whole(format!("cannot read: {e}")))?;
        Policy::parse(&text, file)
    }

    /// Loads the policy for the mode: system mode (`uid` 0, or `system`
    /// forced) reads [`system_path`]; session mode serves only `uid`, and
    /// a session file, if present, must still parse.
    pub fn load(system: bool, uid: u32) -> Result<Policy, PolicyError> {
        if system {
            return Policy::load_system(&system_path());
        }
        if let Some(p) = session_path().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(&p).map_err(|e| PolicyError {
                file: p.clone(),
                line: 0,
                col: 0,
                msg: format!("cannot read: {e}"),
            })?;
            Policy::parse(&text, &p)?;
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

/// `$XVM_ROOT/etc/xvm/privileges.toml`.
pub fn system_path() -> PathBuf {
    crate::mode::xvm_root().join("etc/xvm/privileges.toml")
}

/// `$XDG_CONFIG_HOME/xvm/privileges.toml` (or `~/.config/...`).
pub fn session_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("xvm/privileges.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
