//! setppriv and the enforcement of removed basic privileges, against the fake.

use super::*;
use crate::basic::landlock::LandlockError;
use crate::names::lookup;
use crate::process::tests_common::{caps, drop_to_xvm, set};
use crate::process::{InitFlags, fini_daemon_priv_with};
use crate::sys::fake::Recording;

/// `setppriv(Off, which, privs)` on the fake.
fn take_off(
    sys: &mut Recording,
    st: &mut ProcState,
    which: Which,
    privs: &str,
) -> Result<(), PrivError> {
    setppriv_with(sys, st, PrivOp::Off, which, &set(privs))
}

#[test]
fn removing_a_basic_privilege_installs_a_filter_for_good() {
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    let mut st = ProcState::default();
    take_off(&mut sys, &mut st, Which::Effective, "proc_fork,proc_exec").expect("off");
    let seccomp = sys.log.iter().find_map(|op| match op {
        CredOp::Seccomp { flags, .. } => Some(*flags),
        _ => None,
    });
    assert_eq!(
        seccomp,
        Some(sys::SECCOMP_FILTER_FLAG_TSYNC),
        "all threads are filtered"
    );
    assert!(sys.nnp);
    let soft = st.soft.expect("recorded");
    assert!(
        !soft.permitted.has(lookup("proc_fork").expect("known")),
        "gone from P too"
    );
    let e = setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::On,
        Which::Effective,
        &set("proc_fork"),
    );
    assert!(matches!(e, Err(PrivError::CannotRestore(_))), "{e:?}");
}

#[test]
fn sets_only_shrink() {
    let mut sys = Recording::service(60, 60, caps("file_chown"));
    sys.bounding = caps("file_chown");
    let mut st = ProcState::default();
    let e = setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::On,
        Which::Permitted,
        &set("net_privaddr"),
    );
    assert!(matches!(e, Err(PrivError::NotHeld(_))), "{e:?}");
    let e = setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::On,
        Which::Limit,
        &set("net_privaddr"),
    );
    assert!(matches!(e, Err(PrivError::LimitGrow(_))), "{e:?}");
}

#[test]
fn removing_one_name_removes_the_capability_it_shares() {
    let mut sys = Recording::root();
    let mut st = ProcState::default();
    drop_to_xvm(&mut sys, &mut st, InitFlags::NONE, "sys_mount").expect("drop");
    assert!(sys.caps.permitted.has(num::SYS_ADMIN));
    fini_daemon_priv_with(&mut sys, &mut st, &set("sys_mount")).expect("fini");
    assert!(
        !sys.caps.permitted.has(num::SYS_ADMIN),
        "ipc_owner and sys_fs_import must not keep it"
    );
    let sets = current(&sys, &st).expect("sets").1;
    assert!(!sets.permitted.has(lookup("sys_fs_import").expect("known")));
}

#[test]
fn p_i_and_l_change_only_in_a_single_threaded_process() {
    let mut sys = Recording::service(60, 60, caps("file_chown"));
    sys.threads = 2;
    let mut st = ProcState::default();
    let e = take_off(&mut sys, &mut st, Which::Permitted, "file_chown");
    assert!(matches!(e, Err(PrivError::MultiThreaded(2))), "{e:?}");
    // E is bracketing, per thread by design.
    take_off(&mut sys, &mut st, Which::Effective, "file_chown").expect("E per thread");
}

#[test]
fn removing_file_write_restricts_with_the_fakes_ruleset() {
    use crate::sys::fake::Call;
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    let mut st = ProcState::default();
    take_off(&mut sys, &mut st, Which::Permitted, "file_write").expect("off");
    let restricted = sys.log.iter().find_map(|op| match op {
        CredOp::LandlockRestrict(fd) => Some(*fd),
        _ => None,
    });
    // The fake's own fd number: no ruleset was made in this process.
    assert!(restricted.is_some_and(|fd| fd >= 1000), "{:?}", sys.log);
    assert!(
        sys.calls.borrow().contains(&Call::LandlockCreate {
            abi: 7,
            handled_fs: crate::sys::landlock::fs::WRITE,
            scoped: 0,
        }),
        "{:?}",
        sys.calls
    );
    // With the fake's ABI too old for truncation, it is refused.
    let mut old = Recording::service(60, 60, CapMask::EMPTY);
    old.landlock_abi = 2;
    let e = take_off(
        &mut old,
        &mut ProcState::default(),
        Which::Permitted,
        "file_write",
    );
    assert!(
        matches!(
            e,
            Err(PrivError::Landlock(LandlockError::TooOld { have: 2, .. }))
        ),
        "{e:?}"
    );
}
