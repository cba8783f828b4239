//! The system layer: the only place in privlib that makes privileged kernel
//! calls and the only place with `unsafe`.
//!
//! Everything that changes credentials is described as data first, a list of
//! [`CredOp`]s, and then applied through the [`Sys`] trait: [`Linux`] makes
//! the real calls, [`fake::Recording`] records them, so the plan of a
//! privilege drop is unit-tested without root. The same ops are executed by
//! a forked child in [`child`]; that path must not allocate, so every op
//! carries plain, pre-built data and [`apply_raw`] only makes raw system calls.

pub mod accounts;
pub mod bpf;
pub mod child;
pub mod diag;
pub mod fake;
pub mod held;
pub mod landlock;
pub mod ns;
pub mod peer;
pub mod poll;
pub mod probe;
pub mod rlimit;
pub mod sock;

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

pub use held::HeldFd;
use landlock::Ruleset;

use crate::caps::{CapMask, MAX_CAP};

/// `SECBIT_*` values.
#[allow(missing_docs)]
pub mod secbit {
    pub const NOROOT: u32 = 1 << 0;
    pub const NOROOT_LOCKED: u32 = 1 << 1;
    pub const NO_SETUID_FIXUP: u32 = 1 << 2;
    pub const NO_SETUID_FIXUP_LOCKED: u32 = 1 << 3;
    pub const KEEP_CAPS: u32 = 1 << 4;
    pub const KEEP_CAPS_LOCKED: u32 = 1 << 5;
    /// What privlib sets: uid 0 is never special again, and set*id calls
    /// never touch capabilities; both locked.
    pub const LOCKED_NOROOT: u32 =
        NOROOT | NOROOT_LOCKED | NO_SETUID_FIXUP | NO_SETUID_FIXUP_LOCKED;
}

const PR_SET_DUMPABLE: libc::c_int = 4;
const PR_SET_KEEPCAPS: libc::c_int = 8;
const PR_CAPBSET_READ: libc::c_int = 23;
const PR_CAPBSET_DROP: libc::c_int = 24;
const PR_GET_SECUREBITS: libc::c_int = 27;
const PR_SET_SECUREBITS: libc::c_int = 28;
const PR_SET_NO_NEW_PRIVS: libc::c_int = 38;
const PR_GET_NO_NEW_PRIVS: libc::c_int = 39;
const PR_CAP_AMBIENT: libc::c_int = 47;
const PR_CAP_AMBIENT_IS_SET: libc::c_ulong = 1;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
/// `SECCOMP_FILTER_FLAG_TSYNC`: apply to every thread of the process.
pub const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: return a notification fd.
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;

/// The three capability sets of the calling thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapState {
    /// Effective.
    pub effective: CapMask,
    /// Permitted.
    pub permitted: CapMask,
    /// Inheritable.
    pub inheritable: CapMask,
}

/// Real, effective and saved ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// Real, effective, saved uid.
    pub uid: [u32; 3],
    /// Real, effective, saved gid.
    pub gid: [u32; 3],
}

/// What [`CredOp::PrivateDev`] needs, prepared by the parent so the child
/// only makes system calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateDev {
    /// `"UID UID 1"` for /proc/self/uid_map.
    pub uid_map: CString,
    /// `"GID GID 1"` for /proc/self/gid_map.
    pub gid_map: CString,
    /// The nodes: `/dev/NAME` each.
    pub nodes: Vec<CString>,
    /// The bounding set to keep: a new user namespace starts with a full
    /// one, which is cut back to this.
    pub bounding: CapMask,
}

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> Result<(), i32> {
    // SAFETY: a NUL-terminated path; flags are integers.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `data` is a live buffer of the length passed; `fd` is ours.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let e = errno();
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    match usize::try_from(n) {
        Ok(done) if done == data.len() => Ok(()),
        // A short write sets no errno.
        Ok(_) => Err(libc::EIO),
        Err(_) => Err(e),
    }
}

/// Nodes a private /dev may hold.
pub const MAX_DEV_NODES: usize = 16;

/// `/proc/self/fd/N` with its NUL, formatted without allocating.
fn fd_path(fd: i32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let prefix = b"/proc/self/fd/";
    out[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 12];
    let mut n = u32::try_from(fd).unwrap_or(0);
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10: the cast keeps it.
        digits[i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[i..];
    out[prefix.len()..prefix.len() + d.len()].copy_from_slice(d);
    out
}

fn private_dev(p: &PrivateDev) -> Result<(), i32> {
    // Writing our own uid_map needs us dumpable (a setuid made us not).
    // SAFETY: integer-only prctl.
    check(libc::c_long::from(unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0)
    }))?;
    // SAFETY: integer-only call.
    check(libc::c_long::from(unsafe {
        libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS)
    }))?;
    write_file(c"/proc/self/setgroups", b"deny")?;
    write_file(c"/proc/self/uid_map", p.uid_map.as_bytes())?;
    write_file(c"/proc/self/gid_map", p.gid_map.as_bytes())?;
    // SAFETY: integer-only prctl.
    check(libc::c_long::from(unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
    }))?;
    // Nothing we mount may reach the host's namespace.
    // SAFETY: NUL-terminated strings or nulls, as mount(2) takes them.
    check(libc::c_long::from(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    }))?;
    // Hold the nodes (in this namespace: a bind mount's source must be in
    // the caller's own) before the tmpfs covers them.
    let mut held = [-1; MAX_DEV_NODES];
    if p.nodes.len() > MAX_DEV_NODES {
        return Err(libc::E2BIG);
    }
    for (slot, node) in held.iter_mut().zip(&p.nodes) {
        // SAFETY: a NUL-terminated path; O_PATH|O_NOFOLLOW opens the node itself.
        let fd = unsafe {
            libc::open(
                node.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(errno());
        }
        *slot = fd;
    }
    // SAFETY: as above; the data string is NUL-terminated.
    check(libc::c_long::from(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV,
            c"mode=0755,size=64k".as_ptr().cast(),
        )
    }))?;
    for (fd, node) in held.iter().zip(&p.nodes) {
        // SAFETY: a NUL-terminated path; creates the mount point.
        let m = unsafe {
            libc::open(
                node.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            )
        };
        if m < 0 {
            return Err(errno());
        }
        // SAFETY: closing our own fd.
        unsafe { libc::close(m) };
        let src = fd_path(*fd);
        // SAFETY: NUL-terminated paths; a bind mount of the host's node,
        // which keeps its own mount's device semantics.
        check(libc::c_long::from(unsafe {
            libc::mount(
                src.as_ptr().cast(),
                node.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        }))?;
        // SAFETY: closing our own fd.
        unsafe { libc::close(*fd) };
    }
    // Read-only from now on: the program may not add nodes of its own
    // (the tmpfs belongs to its uid). The bind mounts keep their flags.
    // SAFETY: NUL-terminated strings or nulls, as mount(2) takes them.
    check(libc::c_long::from(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/dev".as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NOEXEC
                | libc::MS_NODEV,
            std::ptr::null(),
        )
    }))?;
    // The namespace gave us a full bounding set: back to what was asked.
    for cap in 0..=crate::caps::MAX_CAP {
        if !p.bounding.has(cap) {
            // SAFETY: integer-only prctl; EINVAL past the kernel's last cap.
            let r =
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
            if r < 0 && errno() != libc::EINVAL {
                return Err(errno());
            }
        }
    }
    Ok(())
}

/// One credential change, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredOp {
    /// Unblock every signal and give SIGPIPE its default action back (the
    /// Rust runtime ignores it, and an ignored signal stays ignored across exec).
    ResetSignals,
    /// `unshare(flags)`.
    Unshare(i32),
    /// `setrlimit(resource, soft, hard)`.
    Rlimit {
        /// `RLIMIT_*`.
        resource: u32,
        /// Soft limit.
        soft: u64,
        /// Hard limit.
        hard: u64,
    },
    /// Move fds to their numbers in the child and mark every other fd
    /// above 2 close-on-exec; (from, to) pairs, at most [`child::MAX_PASSED_FDS`].
    RemapFds(Vec<(RawFd, RawFd)>),
    /// `chdir(path)`.
    Chdir(CString),
    /// `prctl(PR_SET_SECUREBITS, bits)`.
    Securebits(u32),
    /// `prctl(PR_SET_KEEPCAPS, on)`.
    KeepCaps(bool),
    /// Drop these capabilities from the bounding set.
    DropBounding(CapMask),
    /// `setgroups(list)`.
    SetGroups(Vec<u32>),
    /// `setresgid(g, g, g)`.
    SetGid(u32),
    /// `setresuid(u, u, u)`.
    SetUid(u32),
    /// `capset` of the three sets.
    SetCaps(CapState),
    /// Lower every ambient capability.
    ClearAmbient,
    /// Raise these ambient capabilities (each must be in P and I).
    RaiseAmbient(CapMask),
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    NoNewPrivs,
    /// `prctl(PR_SET_DUMPABLE, on)`.
    Dumpable(bool),
    /// `umask(mask)`.
    Umask(u32),
    /// `landlock_restrict_self(fd)`.
    LandlockRestrict(RawFd),
    /// A user namespace mapping only the caller's own uid and gid to
    /// themselves, a private mount namespace owned by it, and in it a fresh
    /// tmpfs on `/dev` holding only bind mounts of the nodes given. Needs
    /// no capability of the caller; the capabilities it has inside the new
    /// namespace go with the next [`CredOp::SetCaps`].
    PrivateDev(PrivateDev),
    /// Install a seccomp filter with these flags.
    Seccomp {
        /// The program.
        prog: Vec<bpf::BpfInsn>,
        /// `SECCOMP_FILTER_FLAG_*`.
        flags: u64,
        /// With NEW_LISTENER: the unix socket on which to send the listener fd.
        listener_to: Option<RawFd>,
    },
}

impl CredOp {
    /// A short name for error messages: which step failed.
    pub fn step(&self) -> &'static str {
        match self {
            CredOp::ResetSignals => "reset signal mask",
            CredOp::Unshare(_) => "unshare namespaces",
            CredOp::Rlimit { .. } => "setrlimit",
            CredOp::RemapFds(_) => "pass file descriptors",
            CredOp::Chdir(_) => "chdir",
            CredOp::Securebits(_) => "set securebits",
            CredOp::KeepCaps(_) => "set keep-caps",
            CredOp::DropBounding(_) => "drop bounding set",
            CredOp::SetGroups(_) => "setgroups",
            CredOp::SetGid(_) => "setresgid",
            CredOp::SetUid(_) => "setresuid",
            CredOp::SetCaps(_) => "capset",
            CredOp::ClearAmbient => "clear ambient set",
            CredOp::RaiseAmbient(_) => "raise ambient set",
            CredOp::NoNewPrivs => "set no_new_privs",
            CredOp::Dumpable(_) => "set dumpable",
            CredOp::Umask(_) => "umask",
            CredOp::LandlockRestrict(_) => "landlock_restrict_self",
            CredOp::Seccomp { .. } => "install seccomp filter",
            CredOp::PrivateDev(_) => "private /dev in a user namespace",
        }
    }
}

/// The kernel as privlib sees it: queries plus [`CredOp`]s.
pub trait Sys {
    /// Threads in this process.
    fn thread_count(&self) -> io::Result<usize>;
    /// The ids of the calling thread.
    fn ids(&self) -> Ids;
    /// Supplementary groups.
    fn groups(&self) -> io::Result<Vec<u32>>;
    /// The capability sets of the calling thread.
    fn caps(&self) -> io::Result<CapState>;
    /// The bounding set.
    fn bounding(&self) -> CapMask;
    /// The ambient set.
    fn ambient(&self) -> CapMask;
    /// The securebits.
    fn securebits(&self) -> u32;
    /// Whether no_new_privs is set.
    fn no_new_privs(&self) -> bool;
    /// The highest capability number the kernel knows.
    fn last_cap(&self) -> u8;
    /// The Landlock ABI version (0: none).
    fn landlock_abi(&self) -> u32;
    /// Whether `fd` is open in this process.
    fn fd_is_open(&self, fd: RawFd) -> bool;
    /// The caller's `PATH`, where a program to spawn is looked up.
    fn path_var(&self) -> Option<OsString>;
    /// Whether `path` is a regular file with an execute bit.
    fn is_executable(&self, path: &Path) -> bool;
    /// Checks that the device node `path` opens without following a symlink.
    fn check_node(&self, path: &Path) -> io::Result<()>;
    /// Opens /dev/null for reading and writing.
    fn open_devnull(&self) -> io::Result<HeldFd>;
    /// Creates a Landlock ruleset handling `handled_fs` and `scoped`.
    fn landlock_create(&self, abi: u32, handled_fs: u64, scoped: u64) -> io::Result<Ruleset>;
    /// Adds a rule to `rs` allowing `access` beneath `path`.
    fn landlock_allow(&self, rs: &mut Ruleset, path: &Path, access: u64) -> io::Result<()>;
    /// Applies one op to the calling thread; the error is an errno.
    fn apply(&mut self, op: &CredOp) -> Result<(), i32>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn lo(m: CapMask) -> u32 {
    u32::try_from(m.0 & 0xffff_ffff).unwrap_or(0)
}

fn hi(m: CapMask) -> u32 {
    u32::try_from(m.0 >> 32).unwrap_or(0)
}

fn join(lo: u32, hi: u32) -> CapMask {
    CapMask(u64::from(lo) | (u64::from(hi) << 32))
}

/// `prctl` with long arguments; returns the raw result.
fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> libc::c_int {
    // SAFETY: every prctl op privlib uses takes integer arguments only; no
    // pointer is passed, so no memory is read or written by the kernel.
    unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) }
}

fn check(r: libc::c_long) -> Result<(), i32> {
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// Reads the kernel's highest capability number, cached for the process.
pub fn kernel_last_cap() -> u8 {
    static LAST: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
            .unwrap_or_else(|| {
                // No /proc: probe the bounding set, which answers EINVAL past the end.
                (0..=MAX_CAP)
                    .take_while(|c| prctl(PR_CAPBSET_READ, libc::c_ulong::from(*c), 0) >= 0)
                    .last()
                    .unwrap_or(40)
            })
    })
}

impl Sys for Linux {
    fn thread_count(&self) -> io::Result<usize> {
        Ok(std::fs::read_dir("/proc/self/task")?.count())
    }

    fn ids(&self) -> Ids {
        let (mut r, mut e, mut s) = (0, 0, 0);
        let (mut rg, mut eg, mut sg) = (0, 0, 0);
        // SAFETY: the pointers are to live local u32s the kernel fills in.
        unsafe { libc::getresuid(&raw mut r, &raw mut e, &raw mut s) };
        // SAFETY: as above, for the gids.
        unsafe { libc::getresgid(&raw mut rg, &raw mut eg, &raw mut sg) };
        Ids {
            uid: [r, e, s],
            gid: [rg, eg, sg],
        }
    }

    fn groups(&self) -> io::Result<Vec<u32>> {
        // SAFETY: size 0 with a null list only asks for the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        let mut v = vec![0u32; len];
        // SAFETY: `v` has room for exactly `n` gids.
        let got = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
        v.truncate(usize::try_from(got).map_err(|_| io::Error::last_os_error())?);
        Ok(v)
    }

    fn caps(&self) -> io::Result<CapState> {
        let mut hdr = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: version 3 capget writes two CapData structs, which `data` holds.
        let r = unsafe { libc::syscall(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()) };
        check(r).map_err(io::Error::from_raw_os_error)?;
        Ok(CapState {
            effective: join(data[0].effective, data[1].effective),
            permitted: join(data[0].permitted, data[1].permitted),
            inheritable: join(data[0].inheritable, data[1].inheritable),
        })
    }

    fn bounding(&self) -> CapMask {
        CapMask(
            (0..=kernel_last_cap())
                .filter(|c| prctl(PR_CAPBSET_READ, libc::c_ulong::from(*c), 0) == 1)
                .fold(0, |m, c| m | (1u64 << c)),
        )
    }

    fn ambient(&self) -> CapMask {
        CapMask(
            (0..=kernel_last_cap())
                .filter(|c| {
                    // SAFETY: integer-only prctl, see `prctl`.
                    let r = unsafe {
                        libc::prctl(
                            PR_CAP_AMBIENT,
                            PR_CAP_AMBIENT_IS_SET,
                            libc::c_ulong::from(*c),
                            0 as libc::c_ulong,
                            0 as libc::c_ulong,
                        )
                    };
                    r == 1
                })
                .fold(0, |m, c| m | (1u64 << c)),
        )
    }

    fn securebits(&self) -> u32 {
        u32::try_from(prctl(PR_GET_SECUREBITS, 0, 0)).unwrap_or(0)
    }

    fn no_new_privs(&self) -> bool {
        prctl(PR_GET_NO_NEW_PRIVS, 0, 0) == 1
    }

    fn last_cap(&self) -> u8 {
        kernel_last_cap()
    }

    fn landlock_abi(&self) -> u32 {
        landlock::abi_version()
    }

    fn fd_is_open(&self, fd: RawFd) -> bool {
        child::fd_is_open(fd)
    }

    fn path_var(&self) -> Option<OsString> {
        std::env::var_os("PATH")
    }

    fn is_executable(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
    }

    fn check_node(&self, path: &Path) -> io::Result<()> {
        sock::open_no_symlinks(None, path, false).map(drop)
    }

    fn open_devnull(&self) -> io::Result<HeldFd> {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        Ok(HeldFd::owned(null.into()))
    }

    fn landlock_create(&self, abi: u32, handled_fs: u64, scoped: u64) -> io::Result<Ruleset> {
        Ruleset::create(abi, handled_fs, scoped)
    }

    fn landlock_allow(&self, rs: &mut Ruleset, path: &Path, access: u64) -> io::Result<()> {
        rs.allow(path, access)
    }

    fn apply(&mut self, op: &CredOp) -> Result<(), i32> {
        apply_raw(op)
    }
}

/// Applies one op with raw system calls only: no allocation, no locks, so
/// it is safe in a child forked from a multi-threaded parent. Credential
/// calls are the raw per-thread ones, not glibc's process-wide wrappers.
pub fn apply_raw(op: &CredOp) -> Result<(), i32> {
    match op {
        CredOp::ResetSignals => {
            // SAFETY: sigset_t is plain data; all-zero is a valid value.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a live sigset_t.
            unsafe { libc::sigemptyset(&raw mut set) };
            // SAFETY: a live, empty set; the old mask is not asked for.
            if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &raw const set, std::ptr::null_mut()) }
                != 0
            {
                return Err(errno());
            }
            // SAFETY: integer arguments only.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            Ok(())
        }
        // SAFETY: unshare takes flags only.
        CredOp::Unshare(flags) => check(libc::c_long::from(unsafe { libc::unshare(*flags) })),
        CredOp::Rlimit {
            resource,
            soft,
            hard,
        } => {
            let lim = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            // SAFETY: `lim` is a live rlimit the kernel only reads.
            let r = unsafe { libc::setrlimit(*resource, &raw const lim) };
            check(libc::c_long::from(r))
        }
        CredOp::RemapFds(pairs) => child::remap_fds(pairs),
        CredOp::Chdir(path) => {
            // SAFETY: `path` is a NUL-terminated string that outlives the call.
            check(libc::c_long::from(unsafe { libc::chdir(path.as_ptr()) }))
        }
        CredOp::Securebits(bits) => check(libc::c_long::from(prctl(
            PR_SET_SECUREBITS,
            libc::c_ulong::from(*bits),
            0,
        ))),
        CredOp::KeepCaps(on) => check(libc::c_long::from(prctl(
            PR_SET_KEEPCAPS,
            libc::c_ulong::from(*on),
            0,
        ))),
        CredOp::DropBounding(mask) => {
            for cap in mask.iter() {
                let r = prctl(PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0);
                // EINVAL: a capability this kernel does not know is not in
                // its bounding set either.
                if r < 0 && errno() != libc::EINVAL {
                    return Err(errno());
                }
            }
            Ok(())
        }
        CredOp::SetGroups(list) => {
            // SAFETY: `list` is a live slice of gid_t-sized values and the
            // length passed is its length.
            let r = unsafe { libc::syscall(libc::SYS_setgroups, list.len(), list.as_ptr()) };
            check(r)
        }
        CredOp::SetGid(g) => {
            // SAFETY: integer arguments only.
            check(unsafe { libc::syscall(libc::SYS_setresgid, *g, *g, *g) })
        }
        CredOp::SetUid(u) => {
            // SAFETY: integer arguments only.
            check(unsafe { libc::syscall(libc::SYS_setresuid, *u, *u, *u) })
        }
        CredOp::SetCaps(s) => {
            let mut hdr = CapHeader {
                version: LINUX_CAPABILITY_VERSION_3,
                pid: 0,
            };
            let data = [
                CapData {
                    effective: lo(s.effective),
                    permitted: lo(s.permitted),
                    inheritable: lo(s.inheritable),
                },
                CapData {
                    effective: hi(s.effective),
                    permitted: hi(s.permitted),
                    inheritable: hi(s.inheritable),
                },
            ];
            // SAFETY: version 3 capset reads two CapData structs from `data`.
            check(unsafe { libc::syscall(libc::SYS_capset, &raw mut hdr, data.as_ptr()) })
        }
        CredOp::ClearAmbient => {
            // SAFETY: integer-only prctl.
            let r = unsafe {
                libc::prctl(
                    PR_CAP_AMBIENT,
                    PR_CAP_AMBIENT_CLEAR_ALL,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            check(libc::c_long::from(r))
        }
        CredOp::RaiseAmbient(mask) => {
            for cap in mask.iter() {
                // SAFETY: integer-only prctl.
                let r = unsafe {
                    libc::prctl(
                        PR_CAP_AMBIENT,
                        PR_CAP_AMBIENT_RAISE,
                        libc::c_ulong::from(cap),
                        0 as libc::c_ulong,
                        0 as libc::c_ulong,
                    )
                };
                check(libc::c_long::from(r))?;
            }
            Ok(())
        }
        CredOp::NoNewPrivs => check(libc::c_long::from(prctl(PR_SET_NO_NEW_PRIVS, 1, 0))),
        CredOp::Dumpable(on) => check(libc::c_long::from(prctl(
            PR_SET_DUMPABLE,
            libc::c_ulong::from(*on),
            0,
        ))),
        CredOp::Umask(mask) => {
            // SAFETY: umask takes a plain integer and cannot fail.
            unsafe { libc::umask(*mask & 0o777) };
            Ok(())
        }
        CredOp::PrivateDev(p) => private_dev(p),
        CredOp::LandlockRestrict(fd) => {
            // SAFETY: integer arguments only; the fd is a ruleset owned by the caller.
            check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, *fd, 0u32) })
        }
        CredOp::Seccomp {
            prog,
            flags,
            listener_to,
        } => child::install_seccomp(prog, *flags, *listener_to),
    }
}
