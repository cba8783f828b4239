//! Bracketing and the set-uid calls against the recording fake.

use super::*;
use crate::process::fini_daemon_priv_with;
use crate::process::tests_common::{caps, drop_to_xvm, set};
use crate::sys::fake::Recording;

#[test]
fn bracketed_privileges_are_off_until_raised() {
    let mut sys = Recording::root();
    let mut st = ProcState::default();
    drop_to_xvm(&mut sys, &mut st, InitFlags::LIMITPRIVS, "file_chown").expect("drop");
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
