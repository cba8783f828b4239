//! What removing each basic privilege takes, run through the filter.

use super::seccomp::{CLONE_THREAD, nr};
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

/// An ioctl request as the filter's argument (`unsigned long` here).
#[allow(clippy::useless_conversion)]
fn wide(r: libc::Ioctl) -> u64 {
    u64::from(r)
}

#[test]
fn the_seccomp_rule_for_taps_denies_reconfiguring_one_not_using_it() {
    use super::seccomp::{TAP_RECONFIGURE, tap_reconfigure};
    use crate::sys::bpf::simulate_args;
    let denied = [
        libc::TUNSETIFF,
        libc::TUNSETPERSIST,
        libc::TUNSETOWNER,
        libc::TUNSETLINK,
        libc::TUNSETGROUP,
        libc::TUNSETQUEUE,
    ];
    let listed: Vec<u64> = TAP_RECONFIGURE.iter().map(|r| u64::from(*r)).collect();
    let want: Vec<u64> = denied.iter().map(|r| wide(*r)).collect();
    assert_eq!(listed, want, "the list is linux/if_tun.h's numbers");
    let p = assemble(&tap_reconfigure()).expect("assembles");
    let ioctl = nr(libc::SYS_ioctl);
    for req in denied {
        let req = wide(req);
        assert_eq!(
            simulate_args(&p, AUDIT_ARCH, ioctl, [3, req]),
            RET_ERRNO | 1,
            "{req:#x}"
        );
        // The kernel takes the request as 32 bits: so does the filter.
        assert_eq!(
            simulate_args(&p, AUDIT_ARCH, ioctl, [3, req | 0xdead_0000_0000_0000]),
            RET_ERRNO | 1,
            "{req:#x} with high bits"
        );
    }
    for req in [
        libc::TUNGETIFF,
        libc::TUNGETFEATURES,
        libc::TUNSETOFFLOAD,
        libc::TUNSETVNETHDRSZ,
        libc::TUNGETVNETHDRSZ,
        libc::TUNSETSNDBUF,
        libc::TUNSETVNETLE,
        libc::TUNSETVNETBE,
        libc::FIONBIO,
        libc::TCGETS,
    ] {
        let req = wide(req);
        assert_eq!(
            simulate_args(&p, AUDIT_ARCH, ioctl, [3, req]),
            RET_ALLOW,
            "{req:#x}"
        );
    }
    // Another call with such a number in argument 1 is untouched.
    let write = nr(libc::SYS_write);
    assert_eq!(
        simulate_args(&p, AUDIT_ARCH, write, [3, wide(libc::TUNSETPERSIST)]),
        RET_ALLOW
    );
}
