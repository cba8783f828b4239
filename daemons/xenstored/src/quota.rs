//! The node quotas of one class of caller, counted by the store.

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
