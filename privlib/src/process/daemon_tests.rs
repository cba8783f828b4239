//! init_daemon_priv and fini_daemon_priv against the recording fake.

use std::io;

use super::*;
use crate::names::lookup;
use crate::process::tests_common::{caps, drop_to_xvm, set};
use crate::sys::CredOp;
use crate::sys::fake::Recording;

#[test]
fn from_root_switches_user_and_keeps_only_what_was_asked() {
    let mut sys = Recording::root();
    let mut st = ProcState::default();
    drop_to_xvm(
        &mut sys,
        &mut st,
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        "file_chown,xvm_control",
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
    drop_to_xvm(&mut sys, &mut st, InitFlags::CLEARLIMITSET, "net_privaddr").expect("drop");
    assert!(sys.bounding.is_empty());
    assert_eq!(sys.caps.permitted, caps("net_privaddr"));

    let mut sys = Recording::root();
    drop_to_xvm(
        &mut sys,
        &mut ProcState::default(),
        InitFlags::LIMITPRIVS | InitFlags::INHERITPRIVS,
        "net_privaddr",
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
    drop_to_xvm(&mut sys, &mut st, InitFlags::LIMITPRIVS, "file_chown").expect("trim");
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
    let e = drop_to_xvm(&mut sys, &mut ProcState::default(), InitFlags::NONE, "none");
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
    let e = drop_to_xvm(&mut sys, &mut ProcState::default(), InitFlags::NONE, "none");
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
