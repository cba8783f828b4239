//! Taking basic privileges away for real.
//!
//! Solaris removes `proc_fork`, `proc_exec`, `file_write` and the rest in
//! the kernel's privilege checks. Linux has no such checks, so privlib
//! builds the equivalent from seccomp (system calls) and Landlock (file
//! access, signal scope), as the table in [`crate::names`] says.

use crate::names::{Backing, LandlockUse, SeccompUse};
use crate::set::PrivSet;
use crate::sys::bpf::{Rule, Verdict};
use crate::sys::landlock::{SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL, fs};

/// What removing a set of basic privileges takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    /// Seccomp deny rules.
    pub rules: Vec<Rule>,
    /// Landlock file-system rights to handle (deny unless allowed).
    pub landlock_fs: u64,
    /// Landlock scopes.
    pub landlock_scope: u64,
}

impl Removal {
    /// Whether nothing needs enforcing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.landlock_fs == 0 && self.landlock_scope == 0
    }

    /// Whether the seccomp part uses a listener (one-shot exec).
    pub fn needs_listener(&self) -> bool {
        self.rules.iter().any(Rule::notifies)
    }
}

const EPERM: u16 = 1;
const EACCES: u16 = 13;
const ENOSYS: u16 = 38;
#[allow(clippy::cast_sign_loss)]
const CLONE_THREAD: u32 = libc::CLONE_THREAD as u32;
#[allow(clippy::cast_sign_loss)]
const AF_UNIX: u32 = libc::AF_UNIX as u32;

fn nr(n: libc::c_long) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What it takes to remove the basic privileges that `held` lacks.
///
/// With `exec_once`, a missing `proc_exec` is enforced through a listener
/// that lets exactly one exec through (the spawn of the program itself);
/// otherwise exec fails at once.
pub fn removal(held: &PrivSet, exec_once: bool) -> Removal {
    let missing = PrivSet::basic().minus(held);
    let mut r = Removal::default();
    for p in missing.iter() {
        match p.info().backing {
            Backing::Seccomp(SeccompUse::ProcFork) => {
                #[cfg(target_arch = "x86_64")]
                {
                    r.rules
                        .push(Rule::Always(nr(libc::SYS_fork), Verdict::Errno(EPERM)));
                    r.rules
                        .push(Rule::Always(nr(libc::SYS_vfork), Verdict::Errno(EPERM)));
                }
                r.rules.push(Rule::UnlessArg0Bits(
                    nr(libc::SYS_clone),
                    CLONE_THREAD,
                    Verdict::Errno(EPERM),
                ));
                // clone3 passes its flags in memory, out of a filter's
                // reach: ENOSYS makes libc fall back to clone, checked above.
                r.rules
                    .push(Rule::Always(nr(libc::SYS_clone3), Verdict::Errno(ENOSYS)));
            }
            Backing::Seccomp(SeccompUse::ProcExec) => {
                let v = if exec_once {
                    Verdict::Notify
                } else {
                    Verdict::Errno(EPERM)
                };
                r.rules.push(Rule::Always(nr(libc::SYS_execve), v));
                r.rules.push(Rule::Always(nr(libc::SYS_execveat), v));
            }
            Backing::Seccomp(SeccompUse::NetAccess) => {
                r.rules.push(Rule::UnlessArg0In(
                    nr(libc::SYS_socket),
                    &[AF_UNIX],
                    Verdict::Errno(EACCES),
                ));
                r.rules.push(Rule::UnlessArg0In(
                    nr(libc::SYS_socketpair),
                    &[AF_UNIX],
                    Verdict::Errno(EACCES),
                ));
                // io_uring can open sockets without socket(2).
                r.rules.push(Rule::Always(
                    nr(libc::SYS_io_uring_setup),
                    Verdict::Errno(EPERM),
                ));
            }
            Backing::Seccomp(SeccompUse::ProcSecflags) => {
                r.rules.push(Rule::UnlessArg0In(
                    nr(libc::SYS_personality),
                    &[0xffff_ffff, 0],
                    Verdict::Errno(EPERM),
                ));
            }
            Backing::Landlock(LandlockUse::FileRead) => r.landlock_fs |= fs::READ,
            Backing::Landlock(LandlockUse::FileWrite) => r.landlock_fs |= fs::WRITE,
            Backing::Landlock(LandlockUse::SignalScope) => {
                r.landlock_scope |= SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET;
            }
            // file_link_any, proc_info: Linux has nothing (see `ppriv -l -v`).
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bpf::{AUDIT_ARCH, RET_ALLOW, RET_ERRNO, RET_USER_NOTIF, assemble, simulate};

    fn set(s: &str) -> PrivSet {
        PrivSet::parse(s, 40).expect(s)
    }

    #[test]
    fn full_basic_set_needs_nothing() {
        assert!(removal(&set("basic"), false).is_empty());
    }

    #[test]
    fn proc_fork_denies_processes_but_not_threads() {
        let r = removal(&set("basic,!proc_fork"), false);
        let p = assemble(&r.rules).expect("assembles");
        let clone = nr(libc::SYS_clone);
        assert_eq!(
            simulate(&p, AUDIT_ARCH, clone, u64::from(libc::SIGCHLD as u32)),
            RET_ERRNO | 1
        );
        let thread_flags = u64::from(CLONE_THREAD) | 0x100;
        assert_eq!(simulate(&p, AUDIT_ARCH, clone, thread_flags), RET_ALLOW);
        assert_eq!(
            simulate(&p, AUDIT_ARCH, nr(libc::SYS_clone3), 0),
            RET_ERRNO | 38
        );
        assert_eq!(simulate(&p, AUDIT_ARCH, nr(libc::SYS_execve), 0), RET_ALLOW);
    }

    #[test]
    fn proc_exec_once_uses_the_listener() {
        let r = removal(&set("basic,!proc_exec"), true);
        assert!(r.needs_listener());
        let p = assemble(&r.rules).expect("assembles");
        assert_eq!(
            simulate(&p, AUDIT_ARCH, nr(libc::SYS_execve), 0),
            RET_USER_NOTIF
        );
        let r = removal(&set("basic,!proc_exec"), false);
        assert!(!r.needs_listener());
    }

    #[test]
    fn net_access_leaves_unix_sockets() {
        let r = removal(&set("basic,!net_access"), false);
        let p = assemble(&r.rules).expect("assembles");
        let sock = nr(libc::SYS_socket);
        assert_eq!(simulate(&p, AUDIT_ARCH, sock, 1), RET_ALLOW);
        assert_eq!(simulate(&p, AUDIT_ARCH, sock, 2), RET_ERRNO | 13);
        assert_eq!(simulate(&p, AUDIT_ARCH, sock, 10), RET_ERRNO | 13);
    }

    #[test]
    fn file_privileges_map_to_landlock() {
        let r = removal(&set("basic,!file_write,!proc_session"), false);
        assert_eq!(r.landlock_fs, fs::WRITE);
        assert_ne!(r.landlock_scope & SCOPE_SIGNAL, 0);
        assert!(r.rules.is_empty());
    }
}
