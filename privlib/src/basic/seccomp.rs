//! The seccomp rules that take away the basic privileges Linux enforces by
//! system call: `proc_fork`, `proc_exec`, `net_access`, `proc_secflags`.

use crate::sys::bpf::{Rule, Verdict};

const EPERM: u16 = 1;
const EACCES: u16 = 13;
const ENOSYS: u16 = 38;
#[allow(clippy::cast_sign_loss)]
pub(super) const CLONE_THREAD: u32 = libc::CLONE_THREAD as u32;
#[allow(clippy::cast_sign_loss)]
const AF_UNIX: u32 = libc::AF_UNIX as u32;

/// A system call number as the filter sees it.
pub(super) fn nr(n: libc::c_long) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// No new processes; threads still start.
pub fn proc_fork() -> Vec<Rule> {
    let mut r = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        r.push(Rule::Always(nr(libc::SYS_fork), Verdict::Errno(EPERM)));
        r.push(Rule::Always(nr(libc::SYS_vfork), Verdict::Errno(EPERM)));
    }
    r.push(Rule::UnlessArg0Bits(
        nr(libc::SYS_clone),
        CLONE_THREAD,
        Verdict::Errno(EPERM),
    ));
    // clone3 passes its flags in memory, out of a filter's reach: ENOSYS
    // makes libc fall back to clone, checked above.
    r.push(Rule::Always(nr(libc::SYS_clone3), Verdict::Errno(ENOSYS)));
    r
}

/// No exec; with `exec_once`, through a listener that lets exactly one
/// exec through (the spawn of the program itself).
pub fn proc_exec(exec_once: bool) -> Vec<Rule> {
    let v = if exec_once {
        Verdict::Notify
    } else {
        Verdict::Errno(EPERM)
    };
    vec![
        Rule::Always(nr(libc::SYS_execve), v),
        Rule::Always(nr(libc::SYS_execveat), v),
    ]
}

/// Unix sockets only.
pub fn net_access() -> Vec<Rule> {
    vec![
        Rule::UnlessArg0In(nr(libc::SYS_socket), &[AF_UNIX], Verdict::Errno(EACCES)),
        Rule::UnlessArg0In(nr(libc::SYS_socketpair), &[AF_UNIX], Verdict::Errno(EACCES)),
        // io_uring can open sockets without socket(2).
        Rule::Always(nr(libc::SYS_io_uring_setup), Verdict::Errno(EPERM)),
    ]
}

/// No personality change (only queries and the default).
pub fn proc_secflags() -> Vec<Rule> {
    vec![Rule::UnlessArg0In(
        nr(libc::SYS_personality),
        &[0xffff_ffff, 0],
        Verdict::Errno(EPERM),
    )]
}

/// The `ioctl` requests that turn a tap's fd into more than a port to
/// read and write frames on: attaching it to another interface
/// (`TUNSETIFF`, `TUNSETQUEUE`), keeping the interface past the last
/// close (`TUNSETPERSIST`), giving it to a uid or a group who may then
/// attach to it (`TUNSETOWNER`, `TUNSETGROUP`), and changing its link type
/// (`TUNSETLINK`). The kernel checks no capability for these on an fd
/// already attached. (linux/if_tun.h; `_IOW('T', N, int)`.)
pub const TAP_RECONFIGURE: &[u32] = &[
    0x4004_54ca, // TUNSETIFF
    0x4004_54cb, // TUNSETPERSIST
    0x4004_54cc, // TUNSETOWNER
    0x4004_54cd, // TUNSETLINK
    0x4004_54ce, // TUNSETGROUP
    0x4004_54d9, // TUNSETQUEUE
];

/// For a program given a tap's fd (a device model): `ioctl` with a
/// request of [`TAP_RECONFIGURE`] fails with EPERM, on any fd. The tap
/// ioctls a device model makes on a passed fd (`TUNGETIFF`,
/// `TUNGETFEATURES`, `TUNSETOFFLOAD`, `TUNSETVNETHDRSZ`, `TUNSETSNDBUF`,
/// `TUNSETVNETLE`/`BE`, ...) are left alone. Not a basic privilege: a
/// spawn asks for it ([`crate::Spawn::seccomp`]).
pub fn tap_reconfigure() -> Vec<Rule> {
    vec![Rule::Arg1In(
        nr(libc::SYS_ioctl),
        TAP_RECONFIGURE,
        Verdict::Errno(EPERM),
    )]
}
