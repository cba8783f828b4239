//! What a connection may do, decided once when it connects (by the
//! server's gate) and asked by the quotas and the node permissions.

use crate::store::Caller;

/// What a connection may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `xvm_control`: privileged dom0, every message type.
    Control,
    /// `virt_manage`: dom0 for node permissions, no privileged types, the
    /// management quotas ([`crate::limits::ManageLimits`]).
    Manage,
    /// The device model of domain N: permissions and quotas apply.
    Domain(u32),
}

impl Role {
    /// The caller for node permissions.
    pub fn caller(self) -> Caller {
        match self {
            Role::Control => Caller::Privileged,
            Role::Manage => Caller::Manage,
            Role::Domain(d) => Caller::Domain(d),
        }
    }

    /// The home domain for relative paths.
    pub fn home(self) -> u32 {
        match self {
            Role::Control | Role::Manage => 0,
            Role::Domain(d) => d,
        }
    }
}
