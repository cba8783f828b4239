//! What a device model may hold: its privilege policy.
//!
//! The default is `deny`: nothing beyond basic, and less
//! ([`super::dm_privileges`]: no fork, no exec, no network, files only by
//! the Landlock rules). A domain's config may allow named privileges
//! (`device_model_privileges`) from the short list xend gives,
//! [`DM_GRANTABLE`], and only while xend's feature
//! `device-model-privileges` is on (xend must hold a privilege to give
//! it, and holds these only then). The device model's limit set is then
//! exactly that list too: its bounding set holds the allowed capabilities
//! and nothing else, so a capability a newer kernel adds is never given,
//! whatever the config says.
//!
//! A limit of Linux worth knowing: the device model makes its private
//! `/dev` in a user namespace of its own ([`privlib::Spawn::private_dev`]),
//! so the capabilities it holds are that namespace's. The kernel checks
//! CAP_IPC_LOCK (mlock past RLIMIT_MEMLOCK) and CAP_SYS_NICE (raising a
//! priority) against the initial namespace, where the device model holds
//! neither: /proc shows the capability, and mlock past the limit still
//! fails. What the kernel honours in any namespace is a resource limit,
//! so the one privilege worth giving is made real that way:
//!
//! - `proc_lock_memory`: the device model keeps CAP_IPC_LOCK in its sets
//!   (its limit set is still exactly the allowed list), gets an
//!   RLIMIT_MEMLOCK of its guest's memory plus a bounded overhead
//!   ([`memlock`]: what qemu 7.2 maps besides the guest, measured, with
//!   room), set by privlib's spawn in the child before the ids change
//!   ([`limits`]), and qemu is told to lock (`-overcommit mem-lock=on`,
//!   [`args`]): it locks all it maps, now and later, and a mapping past
//!   the limit fails. xend never raises a hard limit (it keeps no
//!   sys_resource), so [`crate::dm::prepare::prepare`] refuses a domain
//!   whose need is above xend's own hard limit, with one line saying how
//!   to raise it ([`PolicyError::MemlockTooLow`]).
//! - `proc_prioup` is not on the list: raising a priority through a user
//!   namespace takes RLIMIT_NICE, which xend could set only holding
//!   sys_resource (to raise its own hard limit) or sys_nice, and it keeps
//!   neither.
//!
//! A device model not allowed to lock gets a locked-memory limit of
//! [`DM_MEMLOCK`] at most (the kernel's default for any user), so a
//! higher limit given to xend for the ones that lock is not passed on to
//! every qemu.

use privlib::{PrivSet, SetError, Spawn};

use crate::config::DomainConfig;
use crate::dm::prepare::Prepared;
use crate::domain::Settings;
use crate::features::{DM_GRANTABLE, Disabled, Feature};

/// Why a config's device-model privileges were refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// xend runs without the feature `device-model-privileges`.
    #[error(transparent)]
    Disabled(#[from] Disabled),
    /// A device model started by a user's xend runs as that user, and
    /// xend holds no privilege to give.
    #[error(
        "device_model_privileges: a session-mode xend holds no privilege to give its device models"
    )]
    Session,
    /// A name privlib does not know.
    #[error("device_model_privileges: {name}: {source}")]
    Unknown {
        /// The name.
        name: String,
        /// privlib's reason.
        #[source]
        source: SetError,
    },
    /// A privilege not on the list xend gives.
    #[error(
        "device_model_privileges: {name} is not one xend gives a device model (only {DM_GRANTABLE})"
    )]
    NotGrantable {
        /// The name.
        name: String,
    },
    /// xend's hard RLIMIT_MEMLOCK is below what a device model allowed
    /// `proc_lock_memory` needs ([`memlock`]); xend cannot raise it.
    #[error(
        "device_model_privileges: proc_lock_memory needs a locked-memory limit of {} bytes ({} MiB of guest memory + {} MiB for qemu), above xend's hard limit of {hard} bytes, which xend cannot raise; raise it where xend is started: LimitMEMLOCK=infinity in its systemd unit (svccfg export --systemd writes it while device-model-privileges is on), or prlimit --memlock=unlimited or ulimit -l unlimited in whatever starts xend (svc-startd passes on its own: its manifests have no rlimit property)",
        need.total(), need.guest >> 20, need.overhead >> 20
    )]
    MemlockTooLow {
        /// What the device model needs.
        need: Memlock,
        /// xend's hard limit, in bytes.
        hard: u64,
    },
}

/// The privileges `names` allow, each from [`DM_GRANTABLE`].
pub fn granted(names: &[String]) -> Result<PrivSet, PolicyError> {
    let grantable = privlib::parse_set(DM_GRANTABLE).map_err(|source| PolicyError::Unknown {
        name: DM_GRANTABLE.into(),
        source,
    })?;
    let mut set = PrivSet::none();
    for name in names {
        // One name each: a set expression (`all`, `basic`, `!x`) is no
        // privilege's name.
        let one = privlib::parse_set(name)
            .ok()
            .filter(|s| s.iter().count() == 1 && privlib::names::lookup(name.trim()).is_some());
        let Some(one) = one else {
            let source = privlib::parse_set(name)
                .err()
                .unwrap_or_else(|| SetError::Unknown(name.clone()));
            return Err(PolicyError::Unknown {
                name: name.clone(),
                source,
            });
        };
        if !grantable.contains(&one) {
            return Err(PolicyError::NotGrantable { name: name.clone() });
        }
        set = set.union(&one);
    }
    Ok(set)
}

/// Checks `c`'s device-model privileges against xend's settings (called
/// by [`crate::dm::prepare::prepare`]): none is always fine; any needs the
/// feature `device-model-privileges`, system mode (where xend holds them
/// while the feature is on), and names from the list only.
pub fn check(s: &Settings, c: &DomainConfig) -> Result<(), PolicyError> {
    if c.dm_privileges.is_empty() {
        return Ok(());
    }
    s.features
        .require(Feature::DeviceModelPrivileges, "device_model_privileges")?;
    if !s.system {
        return Err(PolicyError::Session);
    }
    granted(&c.dm_privileges).map(|_| ())
}

/// The privileges the device model of `c` keeps, and its limit set:
/// [`super::dm_privileges`] with what the config allows. A name that is
/// not on the list gives nothing ([`check`] has refused it already).
pub fn for_config(c: &DomainConfig) -> PrivSet {
    let base = super::dm_privileges();
    match granted(&c.dm_privileges) {
        Ok(g) => base.union(&g),
        Err(e) => {
            tracing::warn!("{e}: the device model gets none of them");
            base
        }
    }
}

/// The privileges the device model of `p` keeps (and its limit set).
pub fn privileges(p: &Prepared) -> PrivSet {
    for_config(&p.config)
}

/// A MiB.
const MIB: u64 = 1 << 20;

/// The locked-memory limit of a device model not allowed to lock (at
/// most; less when xend has less): 8 MiB, what the kernel gives any
/// user by default (since Linux 5.16).
pub const DM_MEMLOCK: u64 = 8 * MIB;

/// What qemu 7.2 maps besides the guest and its parts below, with one
/// malloc arena ([`ARENA_ONE`]): its binary and libraries, the main and
/// RCU threads' stacks, the main arena. Measured 89 MiB (VmPeak, a
/// 64 MiB guest, KVM, one vcpu, `-nodefaults`); 128 MiB leaves room for
/// the small devices (serial, QMP, USB, network cards).
pub const QEMU_BASE: u64 = 128 * MIB;
/// Each vcpu: its thread's stack (8 MiB, the stack limit glibc sizes
/// threads by). Measured 8.2 MiB a vcpu.
pub const PER_VCPU: u64 = 16 * MIB;
/// The VGA card a VNC display needs: 16 MiB of video memory, its ROM and
/// the display's buffers. Measured 26 MiB.
pub const DISPLAY: u64 = 32 * MIB;
/// With any disk: qemu's block thread pool, at most 64 workers of an
/// 8 MiB stack each.
pub const IO_WORKERS: u64 = 64 * 8 * MIB;
/// Each disk: the 1 MiB stacks of the coroutines of its requests in
/// flight and of qemu's coroutine pool (64 of them).
pub const PER_DISK: u64 = 64 * MIB;
/// Under TCG: the translated code's buffer, 1 GiB by default on a 64-bit
/// host (measured 1059 MiB more than KVM).
pub const TCG_BUFFER: u64 = 1024 * MIB;

/// One malloc arena for a device model that locks its memory: glibc
/// would reserve 64 MiB more for each thread's own (locked too, under
/// `mem-lock=on`), which is what kept the overhead unbounded by threads.
pub const ARENA_ONE: &str = "glibc.malloc.arena_max=1";

/// The locked memory a device model allowed `proc_lock_memory` needs:
/// all its guest's memory and what qemu maps besides ([`memlock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memlock {
    /// The guest's memory, in bytes.
    pub guest: u64,
    /// qemu's own, in bytes.
    pub overhead: u64,
}

impl Memlock {
    /// The limit to set, in bytes.
    pub fn total(&self) -> u64 {
        self.guest.saturating_add(self.overhead)
    }
}

/// Whether `c` allows its device model `proc_lock_memory` (and nothing
/// off the list: a refused config locks nothing).
pub fn locks_memory(c: &DomainConfig) -> bool {
    granted(&c.dm_privileges).is_ok_and(|g| {
        g.caps(privlib::last_cap())
            .has(privlib::caps::num::IPC_LOCK)
    })
}

/// The locked memory the device model of `c` needs under KVM (`kvm`) or
/// TCG, when `c` allows it `proc_lock_memory` (`None`: it locks
/// nothing): the guest's memory, and qemu's own overhead, bounded by
/// what the config holds: [`QEMU_BASE`], [`PER_VCPU`] for each vcpu it
/// may have (`maxvcpus`), [`DISPLAY`] with VNC, [`IO_WORKERS`] and
/// [`PER_DISK`] for disks, [`TCG_BUFFER`] without KVM.
///
/// Checked against qemu 7.2 locking with one arena as root (where no
/// limit applies, so VmPeak shows what it maps): the Linux test guest,
/// 256 MiB under TCG with one vcpu, VGA and a virtio disk read and
/// written through, peaked at 1234 MiB besides its memory, within the
/// 1776 MiB this gives it; a mapping past the limit would fail (qemu
/// stops with an error), it would not lock more.
pub fn memlock(c: &DomainConfig, kvm: bool) -> Option<Memlock> {
    if !locks_memory(c) {
        return None;
    }
    let vcpus = u64::from(c.vcpus.max(c.maxvcpus.unwrap_or(0)).max(1));
    let disks = u64::try_from(c.disks.len()).unwrap_or(u64::MAX);
    let parts = [
        QEMU_BASE,
        PER_VCPU.saturating_mul(vcpus),
        if c.vnc { DISPLAY } else { 0 },
        if disks > 0 { IO_WORKERS } else { 0 },
        PER_DISK.saturating_mul(disks),
        if kvm { 0 } else { TCG_BUFFER },
    ];
    Some(Memlock {
        guest: c.memory_mib.saturating_mul(MIB),
        overhead: parts.iter().fold(0, |a, b| a.saturating_add(*b)),
    })
}

/// Checks `need` against xend's hard RLIMIT_MEMLOCK `hard` (`None`:
/// unlimited): the device model's limit can be at most xend's.
pub fn check_memlock(need: Memlock, hard: Option<u64>) -> Result<(), PolicyError> {
    match hard {
        Some(hard) if hard < need.total() => Err(PolicyError::MemlockTooLow { need, hard }),
        _ => Ok(()),
    }
}

/// The locked-memory limit the device model of `c` gets, given xend's
/// hard limit `hard` (`None`: unlimited): [`memlock`]'s total when it
/// may lock ([`check_memlock`] has made sure it fits), else
/// [`DM_MEMLOCK`] or xend's own when lower.
pub fn dm_memlock(c: &DomainConfig, kvm: bool, hard: Option<u64>) -> u64 {
    match memlock(c, kvm) {
        Some(need) => need.total(),
        None => hard.map_or(DM_MEMLOCK, |h| h.min(DM_MEMLOCK)),
    }
}

/// qemu's arguments of the policy: `-overcommit mem-lock=on` when the
/// device model may lock its memory (qemu then locks everything it maps,
/// now and later, within [`limits`]).
pub fn args(p: &Prepared) -> Vec<String> {
    config_args(&p.config)
}

/// [`args`] of a config.
fn config_args(c: &DomainConfig) -> Vec<String> {
    if locks_memory(c) {
        vec!["-overcommit".into(), "mem-lock=on".into()]
    } else {
        Vec::new()
    }
}

/// xend's own hard RLIMIT_MEMLOCK, from `/proc/self/limits` (`Ok(None)`:
/// unlimited).
fn own_hard_memlock() -> Result<Option<u64>, crate::dm::prepare::PrepareError> {
    use crate::dm::prepare::{LIMITS_MAX, MEMLOCK_LINE, PrepareError, hard_limit};
    let path = std::path::Path::new("/proc/self/limits");
    let text = privlib::bounded::read_to_string(path, LIMITS_MAX).map_err(PrepareError::Limits)?;
    hard_limit(path, &text, MEMLOCK_LINE)
}

/// What privlib's spawn sets for the device model of a config
/// ([`limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmLimits {
    /// Its RLIMIT_MEMLOCK, soft and hard (`None`: xend's own).
    pub memlock: Option<u64>,
    /// Its `GLIBC_TUNABLES` ([`ARENA_ONE`] when it locks).
    pub tunables: Option<&'static str>,
}

/// [`DmLimits`] of `c` under KVM (`kvm`) or TCG, given xend's own hard
/// limit (`Ok(None)`: unlimited; an error when it could not be read: a
/// device model that does not lock then keeps xend's).
pub fn dm_limits(
    c: &DomainConfig,
    kvm: bool,
    own_hard: Result<Option<u64>, crate::dm::prepare::PrepareError>,
) -> DmLimits {
    match memlock(c, kvm) {
        Some(need) => DmLimits {
            memlock: Some(need.total()),
            tunables: Some(ARENA_ONE),
        },
        None => DmLimits {
            memlock: own_hard
                .inspect_err(|e| {
                    tracing::warn!("{e}: the device model keeps xend's locked-memory limit")
                })
                .ok()
                .map(|hard| dm_memlock(c, kvm, hard)),
            tunables: None,
        },
    }
}

/// What privlib's spawn sets for the policy, in the child before the ids
/// change ([`dm_limits`]): the device model's RLIMIT_MEMLOCK, soft and
/// hard (lowering needs no privilege, and [`crate::dm::prepare::prepare`]
/// checked that a device model that locks fits under xend's hard limit),
/// and, when it locks, one malloc arena ([`ARENA_ONE`]) so that what it
/// locks stays bounded.
pub fn limits(sp: Spawn, p: &Prepared) -> Spawn {
    let own = if locks_memory(&p.config) {
        Ok(None)
    } else {
        own_hard_memlock()
    };
    let l = dm_limits(&p.config, p.kvm, own);
    let sp = match l.memlock {
        Some(n) => sp.rlimit(libc::RLIMIT_MEMLOCK, n, n),
        None => sp,
    };
    match l.tunables {
        Some(t) => sp.env("GLIBC_TUNABLES", t),
        None => sp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Features;

    fn config(privs: &[&str]) -> DomainConfig {
        let mut c = crate::config::parse(
            std::path::Path::new("t.cfg"),
            "name = \"t\"\ntype = \"hvm\"\nmemory = 16\n",
        )
        .expect("parse");
        c.dm_privileges = privs.iter().map(|p| (*p).to_string()).collect();
        c
    }

    fn settings(system: bool, on: &[Feature]) -> Settings {
        let mut s = Settings::device_model_only(std::path::Path::new("/x"), 300_000, None);
        s.system = system;
        s.features = Features::only(on);
        s
    }

    #[test]
    fn the_default_is_deny_basic_alone_and_no_capability() {
        let p = for_config(&config(&[]));
        assert_eq!(p, super::super::dm_privileges());
        assert!(p.caps(privlib::last_cap()).is_empty());
    }

    #[test]
    fn an_allowed_privilege_is_exactly_its_capability() {
        let p = for_config(&config(&["proc_lock_memory"]));
        assert_eq!(
            p.caps(privlib::last_cap()),
            privlib::caps::CapMask::of(&[privlib::caps::num::IPC_LOCK])
        );
        assert!(p.contains(&super::super::dm_privileges()));
        let on = settings(true, &[Feature::DeviceModelPrivileges]);
        check(&on, &config(&["proc_lock_memory"])).expect("allowed");
    }

    #[test]
    fn with_the_feature_off_a_config_asking_is_refused_with_the_svccfg_line() {
        let off = settings(true, &[]);
        check(&off, &config(&[])).expect("asking for nothing is fine");
        let e = check(&off, &config(&["proc_lock_memory"])).expect_err("off");
        let s = e.to_string();
        assert!(
            s.starts_with(
                "device_model_privileges needs xend's feature device-model-privileges, which is off"
            ),
            "{s}"
        );
        assert!(
            s.contains("setprop features/device-model-privileges = true"),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn a_privilege_off_the_list_or_a_set_expression_is_refused() {
        let on = settings(true, &[Feature::DeviceModelPrivileges]);
        // proc_prioup too: through the device model's user namespace it
        // would raise no priority.
        for bad in [
            "sys_admin",
            "proc_setid",
            "file_dac_read",
            "sys_net_config",
            "proc_prioup",
        ] {
            let e = check(&on, &config(&[bad])).expect_err(bad);
            assert!(matches!(e, PolicyError::NotGrantable { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
            // And whatever reached the spawn gives nothing.
            assert!(
                for_config(&config(&[bad]))
                    .caps(privlib::last_cap())
                    .is_empty()
            );
        }
        for bad in [
            "all",
            "basic",
            "proc_lock_memory,proc_prioup",
            "!proc_fork",
            "no_such",
        ] {
            let e = check(&on, &config(&[bad])).expect_err(bad);
            assert!(matches!(e, PolicyError::Unknown { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn a_users_session_gives_its_device_models_nothing() {
        let e = check(
            &settings(false, &[Feature::DeviceModelPrivileges]),
            &config(&["proc_lock_memory"]),
        )
        .expect_err("session");
        assert!(matches!(e, PolicyError::Session), "{e}");
    }

    const MIB: u64 = 1 << 20;

    fn machine(privs: &[&str], extra: &str) -> DomainConfig {
        let mut c = crate::config::parse(
            std::path::Path::new("t.cfg"),
            &format!("name = \"t\"\ntype = \"hvm\"\nmemory = 64\n{extra}"),
        )
        .expect("parse");
        c.dm_privileges = privs.iter().map(|p| (*p).to_string()).collect();
        c
    }

    #[test]
    fn a_device_model_that_may_lock_needs_its_guest_and_qemus_bounded_overhead() {
        // Not allowed: it locks nothing, and qemu is not told to.
        let plain = machine(&[], "");
        assert_eq!(memlock(&plain, true), None);
        assert!(config_args(&plain).is_empty());
        // Allowed: the guest's 64 MiB, qemu itself and one vcpu (KVM);
        // TCG adds its translation buffer.
        let c = machine(&["proc_lock_memory"], "");
        assert_eq!(config_args(&c), ["-overcommit", "mem-lock=on"]);
        let kvm = memlock(&c, true).expect("locks");
        assert_eq!(kvm.guest, 64 * MIB);
        assert_eq!(kvm.overhead, QEMU_BASE + PER_VCPU);
        assert_eq!(kvm.total(), (64 + 128 + 16) * MIB);
        let tcg = memlock(&c, false).expect("locks");
        assert_eq!(tcg.total(), kvm.total() + TCG_BUFFER);
        // What the config holds counts: vcpus it may have, VNC, disks.
        let big = machine(
            &["proc_lock_memory"],
            "vcpus = 2\nmaxvcpus = 4\nvnc = 1\ndisk = [ 'file:/i/a.img,hda,w', 'file:/i/b.iso,hdc:cdrom,r' ]\n",
        );
        let n = memlock(&big, true).expect("locks");
        assert_eq!(
            n.overhead,
            QEMU_BASE + 4 * PER_VCPU + DISPLAY + IO_WORKERS + 2 * PER_DISK
        );
        // Bounded whatever the numbers: no overflow.
        let mut huge = c.clone();
        huge.memory_mib = u64::MAX;
        assert_eq!(memlock(&huge, false).expect("locks").total(), u64::MAX);
        // A refused list locks nothing.
        assert_eq!(memlock(&machine(&["sys_admin"], ""), true), None);
    }

    #[test]
    fn a_need_above_xends_hard_limit_is_refused_on_one_line_saying_how_to_raise_it() {
        let need = memlock(&machine(&["proc_lock_memory"], ""), true).expect("locks");
        check_memlock(need, None).expect("unlimited");
        check_memlock(need, Some(need.total())).expect("just enough");
        let e = check_memlock(need, Some(8 * MIB)).expect_err("8 MiB");
        assert!(matches!(e, PolicyError::MemlockTooLow { hard, .. } if hard == 8 * MIB));
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        for want in [
            "device_model_privileges: proc_lock_memory needs a locked-memory limit of 218103808 bytes (64 MiB of guest memory + 144 MiB for qemu), above xend's hard limit of 8388608 bytes, which xend cannot raise",
            "LimitMEMLOCK=infinity",
            "prlimit --memlock=unlimited",
            "ulimit -l unlimited",
            "no rlimit property",
        ] {
            assert!(s.contains(want), "{want:?} not in {s}");
        }
    }

    #[test]
    fn the_spawn_gets_the_limit_and_one_arena_only_when_it_locks() {
        let c = machine(&["proc_lock_memory"], "");
        let need = memlock(&c, true).expect("locks").total();
        let l = dm_limits(&c, true, Ok(Some(1)));
        assert_eq!(l.memlock, Some(need));
        assert_eq!(l.tunables, Some("glibc.malloc.arena_max=1"));
        let plain = machine(&[], "");
        let l = dm_limits(&plain, true, Ok(None));
        assert_eq!(
            l,
            DmLimits {
                memlock: Some(DM_MEMLOCK),
                tunables: None
            }
        );
        let l = dm_limits(&plain, true, Ok(Some(MIB)));
        assert_eq!(l.memlock, Some(MIB));
        // xend's own unreadable: left as it is.
        let unreadable = crate::dm::prepare::PrepareError::LimitsUnreadable {
            path: "/proc/self/limits".into(),
            line: "Max locked memory",
        };
        let l = dm_limits(&plain, true, Err(unreadable));
        assert_eq!(
            l,
            DmLimits {
                memlock: None,
                tunables: None
            }
        );
    }

    #[test]
    fn a_device_model_not_allowed_to_lock_gets_the_kernels_default_at_most() {
        let plain = machine(&[], "");
        assert_eq!(dm_memlock(&plain, true, None), DM_MEMLOCK);
        assert_eq!(dm_memlock(&plain, true, Some(u64::MAX)), DM_MEMLOCK);
        assert_eq!(dm_memlock(&plain, true, Some(64 << 10)), 64 << 10);
        let c = machine(&["proc_lock_memory"], "");
        assert_eq!(
            dm_memlock(&c, false, None),
            memlock(&c, false).expect("locks").total()
        );
    }
}
