//! One node of the tree, its name and value in one allocation.

use crate::perms::Perms;
use crate::wire::XsError;

/// One node. Its name and value share one allocation (`data`: the name's
/// bytes, then the value's), which keeps 100,000 small nodes near 2x the
/// bytes they hold.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) data: Box<[u8]>,
    pub(super) children: Vec<u32>,
    pub(super) perms: Perms,
    pub(super) generation: u64,
    pub(super) parent: u32,
    // A name is one path component, below ABS_PATH_MAX (3072) bytes.
    pub(super) name_len: u16,
    /// Created by a `virt_manage` peer: counts in their account.
    pub(super) by_manage: bool,
}

impl Node {
    pub(super) fn new(
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

    pub(super) fn name_bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.name_len)]
    }

    pub(super) fn name(&self) -> &str {
        // Names come from `&str` path components, so this always holds.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    pub(super) fn value(&self) -> &[u8] {
        &self.data[usize::from(self.name_len)..]
    }

    /// Sets the value; returns the old data (for undo).
    pub(super) fn set_value(&mut self, value: &[u8]) -> Box<[u8]> {
        let mut data = Vec::with_capacity(usize::from(self.name_len) + value.len());
        data.extend_from_slice(self.name_bytes());
        data.extend_from_slice(value);
        std::mem::replace(&mut self.data, data.into_boxed_slice())
    }
}
