//! Linux capabilities by number and name.
//!
//! The kernel numbers capabilities 0..=`cap_last_cap`; the names below are the
//! ones `capabilities(7)` gives. A kernel newer than this table may report
//! more: those are named `cap_<N>` and are still handled as capabilities (see
//! [`CapMask`]), so a new kernel never silently widens or narrows a set.

use std::fmt;

/// Highest capability number a 64-bit capability mask can hold.
pub const MAX_CAP: u8 = 63;

/// Names of the capabilities this build knows, indexed by number.
pub const CAP_NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// Capability numbers used by name elsewhere in privlib.
#[allow(missing_docs)]
pub mod num {
    pub const CHOWN: u8 = 0;
    pub const DAC_OVERRIDE: u8 = 1;
    pub const DAC_READ_SEARCH: u8 = 2;
    pub const FOWNER: u8 = 3;
    pub const FSETID: u8 = 4;
    pub const KILL: u8 = 5;
    pub const SETGID: u8 = 6;
    pub const SETUID: u8 = 7;
    pub const SETPCAP: u8 = 8;
    pub const LINUX_IMMUTABLE: u8 = 9;
    pub const NET_BIND_SERVICE: u8 = 10;
    pub const NET_BROADCAST: u8 = 11;
    pub const NET_ADMIN: u8 = 12;
    pub const NET_RAW: u8 = 13;
    pub const IPC_LOCK: u8 = 14;
    pub const IPC_OWNER: u8 = 15;
    pub const SYS_MODULE: u8 = 16;
    pub const SYS_RAWIO: u8 = 17;
    pub const SYS_CHROOT: u8 = 18;
    pub const SYS_PTRACE: u8 = 19;
    pub const SYS_PACCT: u8 = 20;
    pub const SYS_ADMIN: u8 = 21;
    pub const SYS_BOOT: u8 = 22;
    pub const SYS_NICE: u8 = 23;
    pub const SYS_RESOURCE: u8 = 24;
    pub const SYS_TIME: u8 = 25;
    pub const SYS_TTY_CONFIG: u8 = 26;
    pub const MKNOD: u8 = 27;
    pub const LEASE: u8 = 28;
    pub const AUDIT_WRITE: u8 = 29;
    pub const AUDIT_CONTROL: u8 = 30;
    pub const SETFCAP: u8 = 31;
    pub const MAC_OVERRIDE: u8 = 32;
    pub const MAC_ADMIN: u8 = 33;
    pub const SYSLOG: u8 = 34;
    pub const WAKE_ALARM: u8 = 35;
    pub const BLOCK_SUSPEND: u8 = 36;
    pub const AUDIT_READ: u8 = 37;
    pub const PERFMON: u8 = 38;
    pub const BPF: u8 = 39;
    pub const CHECKPOINT_RESTORE: u8 = 40;
}

/// The name of capability `cap` (`cap_<N>` for one newer than this build).
pub fn cap_name(cap: u8) -> String {
    CAP_NAMES
        .get(usize::from(cap))
        .map_or_else(|| format!("cap_{cap}"), |n| (*n).to_string())
}

/// A set of Linux capabilities as the kernel's 64-bit mask.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapMask(pub u64);

impl CapMask {
    /// No capability.
    pub const EMPTY: CapMask = CapMask(0);

    /// Every capability numbered 0..=`last_cap`.
    pub fn upto(last_cap: u8) -> CapMask {
        let last = last_cap.min(MAX_CAP);
        if last == MAX_CAP {
            CapMask(u64::MAX)
        } else {
            CapMask((1u64 << (last + 1)) - 1)
        }
    }

    /// The set holding exactly `caps`.
    pub fn of(caps: &[u8]) -> CapMask {
        CapMask(
            caps.iter()
                .filter(|c| **c <= MAX_CAP)
                .fold(0, |m, c| m | (1u64 << c)),
        )
    }

    /// Whether `cap` is in the set.
    pub fn has(self, cap: u8) -> bool {
        cap <= MAX_CAP && self.0 & (1u64 << cap) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every capability of `other` is in `self`.
    pub fn contains(self, other: CapMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// Capabilities in either set.
    #[must_use]
    pub fn union(self, other: CapMask) -> CapMask {
        CapMask(self.0 | other.0)
    }

    /// Capabilities in both sets.
    #[must_use]
    pub fn intersect(self, other: CapMask) -> CapMask {
        CapMask(self.0 & other.0)
    }

    /// Capabilities of `self` not in `other`.
    #[must_use]
    pub fn minus(self, other: CapMask) -> CapMask {
        CapMask(self.0 & !other.0)
    }

    /// The capability numbers in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..=MAX_CAP).filter(move |c| self.has(*c))
    }
}

impl fmt::Debug for CapMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapMask({:#018x})", self.0)
    }
}

impl fmt::Display for CapMask {
    /// Comma-separated capability names, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<String> = self.iter().map(cap_name).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upto_covers_exactly_the_kernel_range() {
        assert_eq!(CapMask::upto(40).0, (1u64 << 41) - 1);
        assert_eq!(CapMask::upto(63).0, u64::MAX);
        assert_eq!(CapMask::upto(0).0, 1);
    }

    #[test]
    fn names_newer_capabilities_by_number() {
        assert_eq!(cap_name(num::CHECKPOINT_RESTORE), "cap_checkpoint_restore");
        assert_eq!(cap_name(41), "cap_41");
        assert_eq!(CapMask::of(&[0, 41]).to_string(), "cap_chown,cap_41");
    }
}
