//! Node paths: validation and the resolution of relative paths, as Xen's
//! xenstored does them.
//!
//! Allowed characters are ASCII letters and digits and `-/_@`; a path is
//! absolute (`/...`, no `//`, no trailing `/` but for the root), relative
//! (prefixed with the connection's home `/local/domain/<domid>`), or
//! special (`@introduceDomain`, `@releaseDomain`, or any other `@` name,
//! which watches accept and nothing fires).

use crate::wire::{ABS_PATH_MAX, REL_PATH_MAX, XsError};

/// A resolved path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodePath {
    /// An absolute node path.
    Abs(String),
    /// A special `@` name.
    Special(String),
}

/// `@introduceDomain`.
pub const INTRODUCE_DOMAIN: &str = "@introduceDomain";
/// `@releaseDomain`.
pub const RELEASE_DOMAIN: &str = "@releaseDomain";

/// The home path of a domain.
pub fn domain_path(domid: u32) -> String {
    format!("/local/domain/{domid}")
}

fn valid_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@')
}

/// The length of a leading `/local/domain/<N>/`, which does not count
/// against the path quota (0 when there is none).
fn domain_prefix_len(p: &str) -> usize {
    let Some(rest) = p.strip_prefix("/local/domain/") else {
        return 0;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && rest.as_bytes().get(digits) == Some(&b'/') {
        "/local/domain/".len() + digits + 1
    } else {
        0
    }
}

/// Resolves `raw` for a connection whose home domain is `home`; `path_max`
/// is the quota on the length past a domain prefix.
pub fn resolve(raw: &[u8], home: u32, path_max: usize) -> Result<NodePath, XsError> {
    if raw.is_empty() || !raw.iter().all(|c| valid_char(*c)) {
        return Err(XsError::Einval);
    }
    // Only ASCII is allowed above, so this cannot fail.
    let s = std::str::from_utf8(raw).map_err(|_| XsError::Einval)?;
    if s.starts_with('@') {
        if s.len() > REL_PATH_MAX {
            return Err(XsError::Einval);
        }
        return Ok(NodePath::Special(s.to_string()));
    }
    let abs = if s.starts_with('/') {
        s.to_string()
    } else {
        format!("{}/{s}", domain_path(home))
    };
    if abs.contains("//") || (abs.len() > 1 && abs.ends_with('/')) {
        return Err(XsError::Einval);
    }
    if abs.len() > ABS_PATH_MAX || abs.len() > domain_prefix_len(&abs) + path_max {
        return Err(XsError::Einval);
    }
    Ok(NodePath::Abs(abs))
}

/// The parent of an absolute path (`None` for the root).
pub fn parent(p: &str) -> Option<&str> {
    if p == "/" {
        return None;
    }
    match p.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&p[..i]),
        None => None,
    }
}

/// The last component of an absolute path.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Whether `p` is `base` or beneath it.
pub fn is_within(p: &str, base: &str) -> bool {
    base == "/" || p == base || p.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abs(s: &str) -> NodePath {
        NodePath::Abs(s.to_string())
    }

    #[test]
    fn resolves_as_xen_does() {
        assert_eq!(resolve(b"/a/b", 0, 2048), Ok(abs("/a/b")));
        assert_eq!(resolve(b"/", 0, 2048), Ok(abs("/")));
        assert_eq!(resolve(b"name", 5, 2048), Ok(abs("/local/domain/5/name")));
        assert_eq!(
            resolve(b"device/vif/0", 0, 2048),
            Ok(abs("/local/domain/0/device/vif/0"))
        );
        assert_eq!(
            resolve(b"@releaseDomain", 0, 2048),
            Ok(NodePath::Special(RELEASE_DOMAIN.into()))
        );
        for bad in [
            &b""[..],
            b"/a//b",
            b"/a/",
            b"/a b",
            b"/a\0b",
            b"/a.b",
            b"/\xc3\xa9",
            b"//",
        ] {
            assert_eq!(resolve(bad, 0, 2048), Err(XsError::Einval), "{bad:?}");
        }
    }

    #[test]
    fn path_quota_excludes_the_domain_prefix() {
        let long = format!("/local/domain/7/{}", "x".repeat(100));
        assert!(resolve(long.as_bytes(), 0, 100).is_ok());
        assert_eq!(
            resolve(format!("{long}y").as_bytes(), 0, 100),
            Err(XsError::Einval)
        );
        let plain = format!("/{}", "x".repeat(100));
        assert_eq!(resolve(plain.as_bytes(), 0, 100), Err(XsError::Einval));
        let huge = format!("/local/domain/7/{}", "x".repeat(3100));
        assert_eq!(
            resolve(huge.as_bytes(), 0, 10_000),
            Err(XsError::Einval),
            "absolute limit"
        );
    }

    #[test]
    fn path_arithmetic() {
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(basename("/a/b"), "b");
        assert!(is_within("/a/b", "/a") && is_within("/a", "/a") && is_within("/a", "/"));
        assert!(!is_within("/ab", "/a"));
    }
}
