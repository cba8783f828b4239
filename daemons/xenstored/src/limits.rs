//! What each kind of peer may hold: the domain quotas (Xen's defaults and
//! option names), the quotas of `virt_manage` peers, and the bounds of
//! every transaction. Node quotas are enforced by the store
//! ([`crate::store`]), the others by the daemon ([`crate::daemon`]).

use crate::quota::Quota;
use crate::role::Role;
use crate::txn::TxnLimits;

/// Per-connection limits (Xen's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Node quotas.
    pub quota: Quota,
    /// Watches per connection (`--watch-nb`).
    pub watch_nb: usize,
    /// Open transactions per connection (`--transaction`).
    pub transaction: usize,
    /// Path length past a domain prefix (`--path-max`).
    pub path_max: usize,
    /// The quotas of `virt_manage` peers.
    pub manage: ManageLimits,
    /// What one `xvm_control` connection may hold: far above what the
    /// daemons need, but a bound, so no peer grows the daemon past it.
    pub control: ControlLimits,
    /// The bounds of every transaction, whoever opens it.
    pub txn: TxnLimits,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            quota: Quota::default(),
            watch_nb: 128,
            transaction: 10,
            path_max: 2048,
            manage: ManageLimits::default(),
            control: ControlLimits::default(),
            txn: TxnLimits::default(),
        }
    }
}

/// The quotas of `virt_manage` peers. Their node quota counts, together,
/// the nodes any of them created (a node keeps its owner's permissions,
/// dom0's mostly, so ownership cannot tell them apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManageLimits {
    /// Node quotas (`--manage-entry-nb`, `--manage-entry-size`,
    /// `--manage-perm-nb`).
    pub quota: Quota,
    /// Watches per connection (`--manage-watch-nb`).
    pub watch_nb: usize,
    /// Open transactions per connection (`--manage-transaction`).
    pub transaction: usize,
}

impl Default for ManageLimits {
    fn default() -> ManageLimits {
        ManageLimits {
            quota: Quota::manage_default(),
            watch_nb: 256,
            transaction: 10,
        }
    }
}

/// What one `xvm_control` connection may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlLimits {
    /// Watches per connection (`--control-watch-nb`).
    pub watch_nb: usize,
    /// Open transactions per connection (`--control-transaction`).
    pub transaction: usize,
}

impl Default for ControlLimits {
    fn default() -> ControlLimits {
        ControlLimits {
            watch_nb: 16_384,
            transaction: 64,
        }
    }
}

impl Limits {
    /// Watches per connection of `role`.
    pub(crate) fn watch_nb(&self, role: Role) -> Option<usize> {
        match role {
            Role::Control => Some(self.control.watch_nb),
            Role::Manage => Some(self.manage.watch_nb),
            Role::Domain(_) => Some(self.watch_nb),
        }
    }

    /// Open transactions per connection of `role`.
    pub(crate) fn transactions(&self, role: Role) -> Option<usize> {
        match role {
            Role::Control => Some(self.control.transaction),
            Role::Manage => Some(self.manage.transaction),
            Role::Domain(_) => Some(self.transaction),
        }
    }
}
