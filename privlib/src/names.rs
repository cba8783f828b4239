//! The privilege table: every Solaris privileges(5) name, plus `xvm_control`
//! and `virt_manage`, and how each one is backed on Linux.
//!
//! This is the one place that says what a privilege *means* here. Four kinds
//! of backing exist:
//! - [`Backing::Caps`]: held when every listed capability is held;
//! - [`Backing::Seccomp`] / [`Backing::Landlock`]: basic privileges, present
//!   unless taken away, and taken away for real by a seccomp filter or a
//!   Landlock domain (see [`crate::basic`]);
//! - [`Backing::Shim`]: granted to peers by the policy file, not by the kernel;
//! - [`Backing::Unenforced`]: Linux has no mechanism for it; `ppriv -l -v`
//!   says so instead of pretending.

use crate::caps::{CapMask, num};

/// How a basic privilege is removed with seccomp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeccompUse {
    /// `fork`, `vfork`, and `clone` without `CLONE_THREAD` fail with EPERM;
    /// `clone3` fails with ENOSYS so that libc falls back to `clone`.
    ProcFork,
    /// `execve` and `execveat` fail with EPERM.
    ProcExec,
    /// `socket` and `socketpair` fail with EACCES for every family but AF_UNIX.
    NetAccess,
    /// `personality` fails with EPERM unless it only queries or sets PER_LINUX.
    ProcSecflags,
}

/// How a basic privilege is removed with Landlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandlockUse {
    /// Reading files and listing directories is handled (denied outside the
    /// paths a spawn's Landlock rules allow).
    FileRead,
    /// Writing, truncating, creating, removing and renaming is handled.
    FileWrite,
    /// The domain is scoped for signals and abstract unix sockets: no signal
    /// reaches a process outside it (Landlock ABI 6).
    SignalScope,
}

/// How a privilege is backed on Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Held when every one of these capabilities (by number) is held.
    Caps(&'static [u8]),
    /// A basic privilege removed by a seccomp filter.
    Seccomp(SeccompUse),
    /// A basic privilege removed by a Landlock domain.
    Landlock(LandlockUse),
    /// Granted by the policy file (`/etc/xvm/privileges.toml`) to peers.
    Shim,
    /// Linux has nothing that enforces it; the text says what decides instead.
    Unenforced(&'static str),
}

/// One privilege of the table.
#[derive(Clone, Copy, Debug)]
pub struct PrivInfo {
    /// Lower-case name without the `priv_` prefix.
    pub name: &'static str,
    /// Whether it belongs to the basic set.
    pub basic: bool,
    /// How Linux backs it.
    pub backing: Backing,
    /// What it allows, in one sentence.
    pub summary: &'static str,
}

impl PrivInfo {
    /// The capabilities backing this privilege (empty for the other kinds).
    pub fn caps(&self) -> CapMask {
        match self.backing {
            Backing::Caps(c) => CapMask::of(c),
            _ => CapMask::EMPTY,
        }
    }

    /// A one-line description of the Linux backing, for `ppriv -l -v`.
    pub fn backing_text(&self) -> String {
        match self.backing {
            Backing::Caps(c) => {
                let mut s = format!("capability: {}", CapMask::of(c));
                if c.contains(&num::SYS_ADMIN) || c.contains(&num::SYS_MODULE) {
                    s.push_str(" (on Linux this grants far more than the Solaris privilege)");
                }
                let mine = CapMask::of(c);
                let shared: Vec<&str> = PRIVILEGES
                    .iter()
                    .filter(|p| {
                        p.name != self.name && mine.contains(p.caps()) && !p.caps().is_empty()
                    })
                    .map(|p| p.name)
                    .collect();
                if !shared.is_empty() {
                    s.push_str(&format!(
                        "; a set holding it holds {} too (the same capability)",
                        shared.join(", ")
                    ));
                }
                s
            }
            Backing::Seccomp(u) => format!(
                "seccomp: {}",
                match u {
                    SeccompUse::ProcFork =>
                        "fork, vfork and clone without CLONE_THREAD fail with EPERM (clone3: ENOSYS)",
                    SeccompUse::ProcExec => "execve and execveat fail with EPERM",
                    SeccompUse::NetAccess =>
                        "socket and socketpair fail with EACCES for every family but AF_UNIX",
                    SeccompUse::ProcSecflags =>
                        "personality fails with EPERM unless it only queries or sets PER_LINUX",
                }
            ),
            Backing::Landlock(u) => format!(
                "landlock: {}",
                match u {
                    LandlockUse::FileRead =>
                        "read_file and read_dir denied outside allowed paths (a dynamic program needs its libraries allowed)",
                    LandlockUse::FileWrite =>
                        "write_file, truncate, make_*, remove_* and refer denied outside allowed paths",
                    LandlockUse::SignalScope =>
                        "signal and abstract-unix-socket scope: no signal to a process outside the domain (ABI 6)",
                }
            ),
            Backing::Shim => {
                "shim: granted to peers by the policy file (groups, uids or capabilities)"
                    .to_string()
            }
            Backing::Unenforced(why) => format!("not enforced on Linux: {why}"),
        }
    }
}

/// Index of a privilege in [`PRIVILEGES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrivId(pub(crate) u8);

impl PrivId {
    /// The table entry.
    pub fn info(self) -> &'static PrivInfo {
        &PRIVILEGES[usize::from(self.0)]
    }

    /// The privilege's name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Every privilege, in table order.
    pub fn all() -> impl Iterator<Item = PrivId> {
        (0..PRIVILEGES.len()).map(|i| PrivId(u8::try_from(i).unwrap_or(u8::MAX)))
    }
}

/// Looks a privilege up by name: case-insensitive, `priv_` prefix optional.
pub fn lookup(word: &str) -> Option<PrivId> {
    let lower = word.trim().to_ascii_lowercase();
    let name = lower.strip_prefix("priv_").unwrap_or(&lower);
    PrivId::all().find(|p| p.name() == name)
}

/// `xvm_control`: drive the hypervisor's control interfaces and the store.
pub fn xvm_control() -> PrivId {
    lookup("xvm_control").unwrap_or(PrivId(0))
}

/// `virt_manage`: use the management API.
pub fn virt_manage() -> PrivId {
    lookup("virt_manage").unwrap_or(PrivId(0))
}

/// The table, in illumos numbering order (priv_defs file order).
pub static PRIVILEGES: [PrivInfo; 86] = [
    PrivInfo {
        name: "contract_event",
        basic: false,
        backing: Backing::Unenforced("Solaris process contracts; Linux has none"),
        summary: "Lets a process subscribe to critical contract events freely and ask for guaranteed delivery of every event on any queue.",
    },
    PrivInfo {
        name: "contract_identity",
        basic: false,
        backing: Backing::Unenforced("Solaris process contracts; Linux has none"),
        summary: "Lets a process put a service FMRI on a process contract template.",
    },
    PrivInfo {
        name: "contract_observer",
        basic: false,
        backing: Backing::Unenforced("Solaris process contracts; Linux has none"),
        summary: "Lets a process watch events from, and open event endpoints of, contracts owned by other users.",
    },
    PrivInfo {
        name: "cpc_cpu",
        basic: false,
        backing: Backing::Caps(&[num::PERFMON]),
        summary: "Lets a process use the hardware performance counters of individual CPUs.",
    },
    PrivInfo {
        name: "dtrace_kernel",
        basic: false,
        backing: Backing::Caps(&[num::BPF, num::PERFMON]),
        summary: "Lets a process run DTrace instrumentation on the kernel.",
    },
    PrivInfo {
        name: "dtrace_proc",
        basic: false,
        backing: Backing::Unenforced(
            "tracing one's own processes needs no privilege on Linux; kernel.perf_event_paranoid decides",
        ),
        summary: "Lets a process place and enable DTrace process-level probes (such as pid) in processes the user may access.",
    },
    PrivInfo {
        name: "dtrace_user",
        basic: false,
        backing: Backing::Unenforced(
            "tracing one's own processes needs no privilege on Linux; kernel.perf_event_paranoid decides",
        ),
        summary: "Lets a process use user-level DTrace, including the syscall and profile providers, on processes the user may access.",
    },
    PrivInfo {
        name: "file_chown",
        basic: false,
        backing: Backing::Caps(&[num::CHOWN]),
        summary: "Lets a process change a file's owning user, or set its group to one the process is not a member of.",
    },
    PrivInfo {
        name: "file_chown_self",
        basic: false,
        backing: Backing::Unenforced(
            "Linux never lets an owner give a file away without CAP_CHOWN (file_chown)",
        ),
        summary: "Lets a process give its own files away to other owners, as if chown were not restricted.",
    },
    PrivInfo {
        name: "file_dac_execute",
        basic: false,
        backing: Backing::Caps(&[num::DAC_OVERRIDE]),
        summary: "Lets a process run an executable even when its mode bits or ACL would refuse execute access.",
    },
    PrivInfo {
        name: "file_dac_read",
        basic: false,
        backing: Backing::Caps(&[num::DAC_READ_SEARCH]),
        summary: "Lets a process read files and directories despite mode bits or ACLs that would refuse read access.",
    },
    PrivInfo {
        name: "file_dac_search",
        basic: false,
        backing: Backing::Caps(&[num::DAC_READ_SEARCH]),
        summary: "Lets a process look up entries in a directory whose mode bits or ACL would refuse search access.",
    },
    PrivInfo {
        name: "file_dac_write",
        basic: false,
        backing: Backing::Caps(&[num::DAC_OVERRIDE]),
        summary: "Lets a process write files and directories despite mode bits or ACLs that would refuse write access (root-owned files need all privileges unless euid is 0).",
    },
    PrivInfo {
        name: "file_downgrade_sl",
        basic: false,
        backing: Backing::Caps(&[num::MAC_OVERRIDE]),
        summary: "Under Trusted Extensions, lets a process relabel a file or directory to a label that does not dominate its current one.",
    },
    PrivInfo {
        name: "file_flag_set",
        basic: false,
        backing: Backing::Caps(&[num::LINUX_IMMUTABLE]),
        summary: "Lets a process set the immutable, nounlink and appendonly attributes on files.",
    },
    PrivInfo {
        name: "file_link_any",
        basic: true,
        backing: Backing::Unenforced(
            "no per-process control; the system-wide sysctl fs.protected_hardlinks refuses such links to everyone",
        ),
        summary: "Lets a process make hard links to files whose owner differs from its effective uid.",
    },
    PrivInfo {
        name: "file_owner",
        basic: false,
        backing: Backing::Caps(&[num::FOWNER, num::LEASE]),
        summary: "Lets a non-owner do owner-only things to a file, such as changing its times or mode/ACL, deleting it from a sticky directory, or mounting namefs on it.",
    },
    PrivInfo {
        name: "file_read",
        basic: true,
        backing: Backing::Landlock(LandlockUse::FileRead),
        summary: "Lets a process open filesystem objects for reading.",
    },
    PrivInfo {
        name: "file_setid",
        basic: false,
        backing: Backing::Caps(&[num::FSETID, num::SETFCAP]),
        summary: "Lets a process change or write a file without losing its setuid/setgid bits, and set those bits in cases normally forbidden.",
    },
    PrivInfo {
        name: "file_upgrade_sl",
        basic: false,
        backing: Backing::Caps(&[num::MAC_OVERRIDE]),
        summary: "Under Trusted Extensions, lets a process relabel a file or directory to a label that dominates its current one.",
    },
    PrivInfo {
        name: "file_write",
        basic: true,
        backing: Backing::Landlock(LandlockUse::FileWrite),
        summary: "Lets a process modify filesystem objects.",
    },
    PrivInfo {
        name: "graphics_access",
        basic: false,
        backing: Backing::Unenforced("device node permissions decide on Linux"),
        summary: "Lets a process issue privileged graphics-device ioctls and make privileged graphics mappings (normally only the X server).",
    },
    PrivInfo {
        name: "graphics_map",
        basic: false,
        backing: Backing::Unenforced("device node permissions decide on Linux"),
        summary: "Lets a process make privileged memory mappings through a graphics device.",
    },
    PrivInfo {
        name: "ipc_dac_read",
        basic: false,
        backing: Backing::Caps(&[num::IPC_OWNER]),
        summary: "Lets a process read System V message queues, semaphores, shared memory (and remote shared memory) despite their permission bits.",
    },
    PrivInfo {
        name: "ipc_dac_write",
        basic: false,
        backing: Backing::Caps(&[num::IPC_OWNER]),
        summary: "Lets a process write System V message queues, semaphores and shared memory despite their permission bits, with extra limits for root-owned objects.",
    },
    PrivInfo {
        name: "ipc_owner",
        basic: false,
        backing: Backing::Caps(&[num::SYS_ADMIN]),
        summary: "Lets a non-owner remove a System V IPC object or change its owner or permissions, with extra limits for root-owned objects.",
    },
    PrivInfo {
        name: "net_access",
        basic: true,
        backing: Backing::Seccomp(SeccompUse::NetAccess),
        summary: "Lets a process open TCP, UDP, SDP or SCTP network endpoints.",
    },
    PrivInfo {
        name: "net_bindmlp",
        basic: false,
        backing: Backing::Unenforced("Trusted Extensions labels; Linux has no labeled zones"),
        summary: "Under Trusted Extensions, lets a process bind to a port configured as a multi-level port for its zone.",
    },
    PrivInfo {
        name: "net_icmpaccess",
        basic: false,
        backing: Backing::Caps(&[num::NET_RAW]),
        summary: "Lets a process send and receive ICMP packets.",
    },
    PrivInfo {
        name: "net_mac_aware",
        basic: false,
        backing: Backing::Unenforced("Trusted Extensions labels; Linux has no labeled zones"),
        summary: "Under Trusted Extensions, lets a process set the NET_MAC_AWARE flag or SO_MAC_EXEMPT option to talk to unlabeled peers.",
    },
    PrivInfo {
        name: "net_mac_implicit",
        basic: false,
        backing: Backing::Unenforced("Trusted Extensions labels; Linux has no labeled zones"),
        summary: "Under Trusted Extensions, lets a process set SO_MAC_IMPLICIT so it can send implicitly labeled packets.",
    },
    PrivInfo {
        name: "net_observability",
        basic: false,
        backing: Backing::Caps(&[num::NET_RAW]),
        summary: "Lets a process open /dev/lo0 and the /dev/ipnet devices for observing traffic without needing raw network access.",
    },
    PrivInfo {
        name: "net_privaddr",
        basic: false,
        backing: Backing::Caps(&[num::NET_BIND_SERVICE]),
        summary: "Lets a process bind to reserved ports (1-1023 and extra privileged ports), except those kept for NFS.",
    },
    PrivInfo {
        name: "net_rawaccess",
        basic: false,
        backing: Backing::Caps(&[num::NET_RAW, num::NET_BROADCAST]),
        summary: "Lets a process talk directly to the network layer (raw access).",
    },
    PrivInfo {
        name: "proc_audit",
        basic: false,
        backing: Backing::Caps(&[num::AUDIT_WRITE]),
        summary: "Lets a process emit audit records and read its own audit preselection settings.",
    },
    PrivInfo {
        name: "proc_chroot",
        basic: false,
        backing: Backing::Caps(&[num::SYS_CHROOT]),
        summary: "Lets a process change its root directory.",
    },
    PrivInfo {
        name: "proc_clock_highres",
        basic: false,
        backing: Backing::Caps(&[num::WAKE_ALARM]),
        summary: "Lets a process use high-resolution timers.",
    },
    PrivInfo {
        name: "proc_exec",
        basic: true,
        backing: Backing::Seccomp(SeccompUse::ProcExec),
        summary: "Lets a process call execve to run a new program.",
    },
    PrivInfo {
        name: "proc_fork",
        basic: true,
        backing: Backing::Seccomp(SeccompUse::ProcFork),
        summary: "Lets a process create child processes with the fork family of calls.",
    },
    PrivInfo {
        name: "proc_info",
        basic: true,
        backing: Backing::Unenforced(
            "every process is visible in /proc unless /proc is mounted with hidepid or the process gets a private /proc",
        ),
        summary: "Lets a process see the status of processes it cannot signal; without it such processes are hidden in /proc.",
    },
    PrivInfo {
        name: "proc_lock_memory",
        basic: false,
        backing: Backing::Caps(&[num::IPC_LOCK]),
        summary: "Lets a process pin pages in physical memory.",
    },
    PrivInfo {
        name: "proc_meminfo",
        basic: false,
        backing: Backing::Unenforced("/proc/meminfo is readable by everyone on Linux"),
        summary: "Lets a process query information about physical memory.",
    },
    PrivInfo {
        name: "proc_owner",
        basic: false,
        backing: Backing::Caps(&[num::KILL, num::SYS_PTRACE]),
        summary: "Lets a process signal, inspect and modify processes regardless of owner (subject to privilege-superset rules), and bind any process to CPUs.",
    },
    PrivInfo {
        name: "proc_prioup",
        basic: false,
        backing: Backing::Caps(&[num::SYS_NICE]),
        summary: "Lets a process raise its scheduling priority above its current level.",
    },
    PrivInfo {
        name: "proc_priocntl",
        basic: false,
        backing: Backing::Caps(&[num::SYS_NICE]),
        summary: "Includes proc_prioup and also lets a process switch to any scheduling class, including real-time.",
    },
    PrivInfo {
        name: "proc_secflags",
        basic: true,
        backing: Backing::Seccomp(SeccompUse::ProcSecflags),
        summary: "Lets a process change the security flags of processes it is able to signal.",
    },
    PrivInfo {
        name: "proc_session",
        basic: true,
        backing: Backing::Landlock(LandlockUse::SignalScope),
        summary: "Lets a process signal or trace processes that belong to other sessions.",
    },
    PrivInfo {
        name: "proc_setid",
        basic: false,
        backing: Backing::Caps(&[num::SETUID, num::SETGID, num::SETPCAP]),
        summary: "Lets a process set its user IDs freely (becoming uid 0 requires all privileges).",
    },
    PrivInfo {
        name: "proc_taskid",
        basic: false,
        backing: Backing::Unenforced("Solaris tasks; Linux has none"),
        summary: "Lets a process put itself into a new task.",
    },
    PrivInfo {
        name: "proc_zone",
        basic: false,
        backing: Backing::Unenforced("Solaris zones; Linux namespaces are no signal boundary"),
        summary: "Lets a process signal or trace processes in other zones.",
    },
    PrivInfo {
        name: "sys_acct",
        basic: false,
        backing: Backing::Caps(&[num::SYS_PACCT]),
        summary: "Lets a process turn on, turn off and manage accounting via the acct-family calls.",
    },
    PrivInfo {
        name: "sys_admin",
        basic: false,
        backing: Backing::Caps(&[num::SYS_ADMIN, num::CHECKPOINT_RESTORE]),
        summary: "Lets a process do general admin work such as setting host/domain names and nscd or coreadm settings.",
    },
    PrivInfo {
        name: "sys_audit",
        basic: false,
        backing: Backing::Caps(&[num::AUDIT_CONTROL, num::AUDIT_READ]),
        summary: "Lets a process start the audit daemon, turn auditing on or off, and view or change audit state and configuration.",
    },
    PrivInfo {
        name: "sys_config",
        basic: false,
        backing: Backing::Caps(&[
            num::SYS_BOOT,
            num::SYS_MODULE,
            num::SYSLOG,
            num::BLOCK_SUSPEND,
        ]),
        summary: "Lets a process do assorted system configuration jobs, including adding and removing swap devices.",
    },
    PrivInfo {
        name: "sys_devices",
        basic: false,
        backing: Backing::Caps(&[num::SYS_RAWIO, num::MKNOD, num::SYS_TTY_CONFIG]),
        summary: "Lets a process pass drv_priv() checks in drivers, open the real console, and open devices that are held exclusively.",
    },
    PrivInfo {
        name: "sys_fs_import",
        basic: false,
        backing: Backing::Caps(&[num::SYS_ADMIN]),
        summary: "Lets a process import a filesystem that may not be trustworthy.",
    },
    PrivInfo {
        name: "sys_ipc_config",
        basic: false,
        backing: Backing::Caps(&[num::SYS_RESOURCE]),
        summary: "Lets a process enlarge a System V message queue buffer.",
    },
    PrivInfo {
        name: "sys_linkdir",
        basic: false,
        backing: Backing::Unenforced("Linux never allows hard links to directories"),
        summary: "Lets a process create hard links to, and unlink, directories.",
    },
    PrivInfo {
        name: "sys_mount",
        basic: false,
        backing: Backing::Caps(&[num::SYS_ADMIN]),
        summary: "Lets a process mount and unmount otherwise-restricted filesystems and perform filesystem admin operations such as quota calls, config ioctls and snapshots.",
    },
    PrivInfo {
        name: "sys_iptun_config",
        basic: false,
        backing: Backing::Caps(&[num::NET_ADMIN]),
        summary: "Lets a process configure IP tunnel links.",
    },
    PrivInfo {
        name: "sys_dl_config",
        basic: false,
        backing: Backing::Caps(&[num::NET_ADMIN]),
        summary: "Lets a process configure every kind of datalink, IP tunnels included.",
    },
    PrivInfo {
        name: "sys_ip_config",
        basic: false,
        backing: Backing::Caps(&[num::NET_ADMIN]),
        summary: "Lets a process configure IP interfaces, routes, IPsec and ndd tunables, and pop anchored STREAMS modules in its zone.",
    },
    PrivInfo {
        name: "sys_net_config",
        basic: false,
        backing: Backing::Caps(&[num::NET_ADMIN]),
        summary: "Covers sys_ip_config, sys_dl_config and sys_ppp_config, and also allows pushing rpcmod and inserting/removing STREAMS modules below the top.",
    },
    PrivInfo {
        name: "sys_nfs",
        basic: false,
        backing: Backing::Unenforced(
            "the Linux NFS server lives in the kernel; binding ports below 1024 is net_privaddr",
        ),
        summary: "Lets a process make private NFS system calls and bind to the NFS-reserved ports 2049 and 4045.",
    },
    PrivInfo {
        name: "sys_ppp_config",
        basic: false,
        backing: Backing::Caps(&[num::NET_ADMIN]),
        summary: "Lets a process create and remove sppp interfaces and configure sppptun tunnels.",
    },
    PrivInfo {
        name: "sys_res_bind",
        basic: false,
        backing: Backing::Caps(&[num::SYS_NICE]),
        summary: "Lets a process bind processes to processor sets.",
    },
    PrivInfo {
        name: "sys_res_config",
        basic: false,
        backing: Backing::Caps(&[num::SYS_NICE]),
        summary: "Covers sys_res_bind and also lets a process manage processor sets, change CPU online state, and configure and bind to resource pools.",
    },
    PrivInfo {
        name: "sys_resource",
        basic: false,
        backing: Backing::Caps(&[num::SYS_RESOURCE]),
        summary: "Lets a process override resource limits and controls, exceed the per-user process cap, and dip into a filesystem's reserved free space.",
    },
    PrivInfo {
        name: "sys_smb",
        basic: false,
        backing: Backing::Unenforced(
            "Linux has no SMB kernel module calls; binding ports below 1024 is net_privaddr",
        ),
        summary: "Lets a process use the private SMB kernel module and bind to NetBIOS/SMB ports 137, 138, 139 and 445.",
    },
    PrivInfo {
        name: "sys_suser_compat",
        basic: false,
        backing: Backing::Unenforced("Linux modules check capabilities directly"),
        summary: "Lets a process pass suser() checks in third-party kernel modules (compatibility only).",
    },
    PrivInfo {
        name: "sys_time",
        basic: false,
        backing: Backing::Caps(&[num::SYS_TIME]),
        summary: "Lets a process change the system clock via stime, adjtime, ntp_adjtime or the x86 RTC calls.",
    },
    PrivInfo {
        name: "sys_trans_label",
        basic: false,
        backing: Backing::Caps(&[num::MAC_ADMIN]),
        summary: "Under Trusted Extensions, lets a process convert labels it does not dominate to and from text form.",
    },
    PrivInfo {
        name: "virt_manage",
        basic: false,
        backing: Backing::Shim,
        summary: "Lets a process manage virtualization environments such as xVM.",
    },
    PrivInfo {
        name: "win_colormap",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process bypass X colormap restrictions, install/remove colormaps, and read other clients' colormap cells.",
    },
    PrivInfo {
        name: "win_config",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process change persistent X server configuration (screen saver, host access list, GrabServer, close-down mode).",
    },
    PrivInfo {
        name: "win_dac_read",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process read X window resources owned by another user.",
    },
    PrivInfo {
        name: "win_dac_write",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process create or write X window resources owned by another user.",
    },
    PrivInfo {
        name: "win_devices",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process operate X input devices and change keyboard/pointer controls and mappings.",
    },
    PrivInfo {
        name: "win_dga",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process use the X direct graphics access (DGA) extensions.",
    },
    PrivInfo {
        name: "win_downgrade_sl",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process relabel a window resource to a label that does not dominate its current one.",
    },
    PrivInfo {
        name: "win_fontpath",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process set the X font path.",
    },
    PrivInfo {
        name: "win_mac_read",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process read window resources whose label differs from its own.",
    },
    PrivInfo {
        name: "win_mac_write",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process create window resources whose label differs from its own.",
    },
    PrivInfo {
        name: "win_selection",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process move data between windows without going through the selection confirmer.",
    },
    PrivInfo {
        name: "win_upgrade_sl",
        basic: false,
        backing: Backing::Unenforced(
            "Trusted Extensions X server policy; on Linux the X server decides",
        ),
        summary: "Under Trusted Extensions, lets a process relabel a window resource to a label that dominates its current one.",
    },
    PrivInfo {
        name: "xvm_control",
        basic: false,
        backing: Backing::Shim,
        summary: "Lets a process use the xVM control devices to manage the hypervisor and guest domains (x86 xVM only).",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::CAP_NAMES;

    #[test]
    fn every_known_capability_backs_some_privilege() {
        let covered = PRIVILEGES
            .iter()
            .fold(CapMask::EMPTY, |m, p| m.union(p.caps()));
        for cap in 0..CAP_NAMES.len() {
            let cap = u8::try_from(cap).expect("small");
            assert!(
                covered.has(cap),
                "{} backs no privilege",
                CAP_NAMES[usize::from(cap)]
            );
        }
    }

    #[test]
    fn basic_set_is_the_solaris_one() {
        let basic: Vec<&str> = PRIVILEGES
            .iter()
            .filter(|p| p.basic)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            basic,
            [
                "file_link_any",
                "file_read",
                "file_write",
                "net_access",
                "proc_exec",
                "proc_fork",
                "proc_info",
                "proc_secflags",
                "proc_session"
            ]
        );
    }

    #[test]
    fn lookup_is_case_insensitive_and_takes_the_prefix() {
        assert_eq!(
            lookup("PRIV_FILE_CHOWN").map(PrivId::name),
            Some("file_chown")
        );
        assert_eq!(lookup("Xvm_Control").map(PrivId::name), Some("xvm_control"));
        assert!(lookup("file_chwon").is_none());
    }

    #[test]
    fn shims_are_the_two_xvm_privileges() {
        let shims: Vec<&str> = PRIVILEGES
            .iter()
            .filter(|p| p.backing == Backing::Shim)
            .map(|p| p.name)
            .collect();
        assert_eq!(shims, ["virt_manage", "xvm_control"]);
    }
}
