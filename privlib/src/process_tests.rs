//! The plans of privilege drops, checked against the recording fake.

use super::*;
use crate::names::lookup;
use crate::sys::fake::Recording;

fn set(s: &str) -> PrivSet {
    PrivSet::parse(s, 40).expect(s)
}

fn caps(s: &str) -> CapMask {
    set(s).caps(40)
}

#[test]
fn from_root_switches_user_and_keeps_only_what_was_asked() {
    let mut sys = Recording::root();
    let mut st = ProcState::default();
    init_daemon_priv_with(
        &mut sys,
        &mut st,
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        Some(60),
        Some(60),
        &set("file_chown,xvm_control"),
    )
    .expect("drop");
    let steps = sys.steps();
    let pos = |s: &str| {
        steps
            .iter()
            .position(|x| *x == s)
            .unwrap_or_else(|| panic!("{s} missing: {steps:?}"))
    };
    // Securebits must be locked before the uid changes: otherwise leaving
    // uid 0 clears the capabilities the later steps need.
    assert!(pos("set securebits") < pos("setresuid"));
    assert!(pos("setgroups") < pos("setresgid") && pos("setresgid") < pos("setresuid"));
    assert!(pos("drop bounding set") < steps.iter().rposition(|s| *s == "capset").unwrap_or(0));
    assert_eq!(sys.ids.uid, [60; 3]);
    assert_eq!(sys.ids.gid, [60; 3]);
    assert!(sys.groups.is_empty());
    assert_eq!(sys.caps.permitted, caps("file_chown"));
    assert_eq!(sys.caps.effective, caps("file_chown"));
    assert!(sys.caps.inheritable.is_empty());
    assert_eq!(sys.bounding, caps("file_chown"));
    assert_eq!(
        sys.securebits & secbit::LOCKED_NOROOT,
        secbit::LOCKED_NOROOT
    );
    assert!(sys.nnp);
    assert!(sys.log.contains(&CredOp::Dumpable(false)));
    assert_eq!(sys.log.last(), Some(&CredOp::Umask(0o077)));
    let soft = st.soft.expect("recorded");
    assert!(soft.permitted.has(lookup("xvm_control").expect("known")));
    assert!(soft.permitted.contains(&PrivSet::basic()));
    assert!(
        soft.inheritable.is_empty(),
        "illumos: I is empty without INHERITPRIVS"
    );
}

#[test]
fn clearlimitset_and_inheritprivs() {
    let mut sys = Recording::root();
    let mut st = ProcState::default();
    init_daemon_priv_with(
        &mut sys,
        &mut st,
        InitFlags::CLEARLIMITSET,
        Some(60),
        Some(60),
        &set("net_privaddr"),
    )
    .expect("drop");
    assert!(sys.bounding.is_empty());
    assert_eq!(sys.caps.permitted, caps("net_privaddr"));

    let mut sys = Recording::root();
    init_daemon_priv_with(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::LIMITPRIVS | InitFlags::INHERITPRIVS,
        Some(60),
        Some(60),
        &set("net_privaddr"),
    )
    .expect("drop");
    assert_eq!(sys.caps.inheritable, caps("net_privaddr"));
    assert_eq!(
        sys.ambient,
        caps("net_privaddr"),
        "kept privileges pass to exec'd programs"
    );
}

#[test]
fn started_by_a_service_manager_it_only_trims() {
    let mut sys = Recording::service(60, 60, caps("file_chown,net_privaddr,proc_setid"));
    let mut st = ProcState::default();
    init_daemon_priv_with(
        &mut sys,
        &mut st,
        InitFlags::LIMITPRIVS,
        Some(60),
        Some(60),
        &set("file_chown"),
    )
    .expect("trim");
    let steps = sys.steps();
    assert!(
        !steps.contains(&"setresuid") && !steps.contains(&"setresgid"),
        "{steps:?}"
    );
    assert_eq!(sys.caps.permitted, caps("file_chown"));
    assert!(
        sys.ambient.is_empty(),
        "ambient capabilities of the service manager are gone"
    );
    assert_eq!(sys.bounding, caps("file_chown"));
    assert!(sys.nnp);
}

#[test]
fn an_unprivileged_process_relies_on_no_new_privs() {
    let mut sys = Recording::service(1000, 1000, CapMask::EMPTY);
    init_daemon_priv_with(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::LIMITPRIVS,
        None,
        None,
        &PrivSet::none(),
    )
    .expect("session mode");
    let steps = sys.steps();
    assert!(
        !steps.contains(&"set securebits") && !steps.contains(&"drop bounding set"),
        "{steps:?}"
    );
    assert!(sys.nnp, "no_new_privs stands in for the bounding set");
}

#[test]
fn refuses_what_it_cannot_do() {
    let mut sys = Recording::root();
    sys.threads = 3;
    let e = init_daemon_priv_with(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::NONE,
        Some(60),
        Some(60),
        &set("none"),
    );
    assert!(matches!(e, Err(PrivError::MultiThreaded(3))), "{e:?}");
    assert!(
        sys.log.is_empty(),
        "nothing is changed before validation passes"
    );

    let mut sys = Recording::service(60, 60, caps("net_privaddr"));
    let e = init_daemon_priv_with(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::NONE,
        None,
        None,
        &set("file_chown"),
    );
    match e {
        Err(PrivError::NotHeld(what)) => assert_eq!(what, "file_chown"),
        other => panic!("{other:?}"),
    }

    let mut sys = Recording::root();
    sys.caps.permitted = sys.caps.permitted.minus(CapMask::of(&[num::SETPCAP]));
    sys.caps.effective = sys.caps.permitted;
    let e = init_daemon_priv_with(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::NONE,
        Some(60),
        Some(60),
        &set("none"),
    );
    assert!(matches!(e, Err(PrivError::NoSetpcap)), "{e:?}");
}

#[test]
fn a_failing_step_is_named() {
    let mut sys = Recording::service(60, 60, caps("file_chown"));
    // Changing uid without proc_setid: the kernel says EPERM at setresuid.
    let e = init_daemon_priv_with(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::NONE,
        Some(61),
        None,
        &set("none"),
    )
    .expect_err("no setuid");
    assert_eq!(
        e.to_string(),
        format!(
            "setresuid failed: {}",
            io::Error::from_raw_os_error(libc::EPERM)
        )
    );
}

#[test]
fn bracketed_privileges_are_off_until_raised() {
    let mut sys = Recording::root();
    let mut st = ProcState::default();
    init_daemon_priv_with(
        &mut sys,
        &mut st,
        InitFlags::LIMITPRIVS,
        Some(60),
        Some(60),
        &set("file_chown"),
    )
    .expect("drop");
    priv_bracket_init_with(&mut sys, &mut st, &set("file_chown")).expect("bracket");
    assert!(!sys.caps.effective.has(num::CHOWN));
    assert!(sys.caps.permitted.has(num::CHOWN));
    priv_bracket_with(&mut sys, &mut st, PrivOp::On).expect("on");
    assert!(sys.caps.effective.has(num::CHOWN));
    priv_bracket_with(&mut sys, &mut st, PrivOp::Off).expect("off");
    assert!(!sys.caps.effective.has(num::CHOWN));
    fini_daemon_priv_with(&mut sys, &mut st, &set("file_chown")).expect("fini");
    assert!(sys.caps.permitted.is_empty());
    let e = priv_bracket_with(&mut sys, &mut st, PrivOp::On);
    assert!(e.is_err(), "a privilege gone from P cannot be bracketed on");
}

#[test]
fn suid_program_keeps_only_its_bracket() {
    let mut sys = Recording::root();
    sys.ids.uid = [1000, 0, 0];
    sys.ids.gid = [1000, 1000, 1000];
    let mut st = ProcState::default();
    init_suid_priv_with(
        &mut sys,
        &mut st,
        InitFlags::LIMITPRIVS,
        &set("net_privaddr"),
    )
    .expect("suid");
    assert_eq!(sys.ids.uid, [1000; 3]);
    assert_eq!(sys.caps.permitted, caps("net_privaddr"));
    assert!(sys.caps.effective.is_empty());
    assert!(sys.nnp);
    assert!(matches!(
        init_suid_priv_with(&mut sys, &mut st, InitFlags::NONE, &set("none")),
        Err(PrivError::SuidTwice)
    ));
    priv_bracket_with(&mut sys, &mut st, PrivOp::On).expect("on");
    assert_eq!(sys.caps.effective, caps("net_privaddr"));
    relinquish_with(&mut sys, &mut st).expect("relinquish");
    assert!(sys.caps.permitted.is_empty() && sys.caps.effective.is_empty());
}

#[test]
fn removing_a_basic_privilege_installs_a_filter_for_good() {
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    let mut st = ProcState::default();
    setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::Off,
        Which::Effective,
        &set("proc_fork,proc_exec"),
    )
    .expect("off");
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
    init_daemon_priv_with(
        &mut sys,
        &mut st,
        InitFlags::NONE,
        Some(60),
        Some(60),
        &set("sys_mount"),
    )
    .expect("drop");
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
    let e = setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::Off,
        Which::Permitted,
        &set("file_chown"),
    );
    assert!(matches!(e, Err(PrivError::MultiThreaded(2))), "{e:?}");
    // E is bracketing, per thread by design.
    setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::Off,
        Which::Effective,
        &set("file_chown"),
    )
    .expect("E per thread");
}

#[test]
fn removing_file_write_restricts_with_the_fakes_ruleset() {
    use crate::sys::fake::Call;
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    let mut st = ProcState::default();
    setppriv_with(
        &mut sys,
        &mut st,
        PrivOp::Off,
        Which::Permitted,
        &set("file_write"),
    )
    .expect("off");
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
    let e = setppriv_with(
        &mut old,
        &mut ProcState::default(),
        PrivOp::Off,
        Which::Permitted,
        &set("file_write"),
    );
    assert!(
        matches!(
            e,
            Err(PrivError::Landlock(LandlockError::TooOld { have: 2, .. }))
        ),
        "{e:?}"
    );
}
