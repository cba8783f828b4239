//! Watches: which connection hears about which path, and what it is told.

use crate::path::{NodePath, domain_path, is_within};

/// One registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The path as the client gave it (reported back in that form).
    pub given: String,
    /// The resolved path.
    pub path: NodePath,
    /// The client's token.
    pub token: Vec<u8>,
}

impl Watch {
    /// Whether the client gave a relative path.
    pub fn relative(&self) -> bool {
        !self.given.starts_with('/') && !self.given.starts_with('@')
    }

    /// The event path for a change at `changed` (absolute), if this watch
    /// fires: `changed` is the watched node or beneath it, or (`removed`)
    /// an ancestor of it went away, which reports the watched path.
    pub fn event_for(&self, changed: &str, removed: bool, home: u32) -> Option<String> {
        let NodePath::Abs(w) = &self.path else {
            return None;
        };
        let hit = if is_within(changed, w) {
            changed.to_string()
        } else if removed && is_within(w, changed) {
            w.clone()
        } else {
            return None;
        };
        if self.relative() {
            let prefix = format!("{}/", domain_path(home));
            return Some(
                hit.strip_prefix(&prefix)
                    .map_or(hit.clone(), str::to_string),
            );
        }
        Some(hit)
    }
}

/// The watch event payload: `path\0token\0`.
pub fn event_payload(path: &str, token: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(path.len() + token.len() + 2);
    p.extend_from_slice(path.as_bytes());
    p.push(0);
    p.extend_from_slice(token);
    p.push(0);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(given: &str, abs: &str) -> Watch {
        Watch {
            given: given.into(),
            path: NodePath::Abs(abs.into()),
            token: b"t".to_vec(),
        }
    }

    #[test]
    fn fires_for_the_node_its_subtree_and_removed_ancestors() {
        let a = w("/a/b", "/a/b");
        assert_eq!(a.event_for("/a/b", false, 0), Some("/a/b".into()));
        assert_eq!(a.event_for("/a/b/c", false, 0), Some("/a/b/c".into()));
        assert_eq!(
            a.event_for("/a", false, 0),
            None,
            "a change above does not fire"
        );
        assert_eq!(
            a.event_for("/a", true, 0),
            Some("/a/b".into()),
            "removing a parent does"
        );
        assert_eq!(a.event_for("/a/bc", false, 0), None);
    }

    #[test]
    fn relative_watches_hear_relative_paths() {
        let r = w("device", "/local/domain/3/device");
        assert_eq!(
            r.event_for("/local/domain/3/device/vif", false, 3),
            Some("device/vif".into())
        );
        assert_eq!(event_payload("device/vif", b"tok"), b"device/vif\0tok\0");
    }
}
