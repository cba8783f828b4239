//! Rulesets and confinement, against the recording fake.

use super::*;
use crate::caps::CapMask;
use crate::sys::fake::{Call, Recording};
use std::path::PathBuf;

#[test]
fn confine_fs_restricts_with_every_right_the_abi_knows_and_the_exceptions() {
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    sys.landlock_abi = 3;
    confine_fs_with(&mut sys, &[(Path::new("/run/x"), fs::READ)]).expect("confine");
    assert_eq!(sys.steps(), ["set no_new_privs", "landlock_restrict_self"]);
    let calls = sys.calls.borrow();
    assert!(
        calls.contains(&Call::LandlockCreate {
            abi: 3,
            handled_fs: fs_rights(3),
            scoped: 0
        }),
        "{calls:?}"
    );
    assert!(calls.contains(&Call::LandlockAllow(PathBuf::from("/run/x"), fs::READ)));
}

#[test]
fn confinement_is_refused_with_threads_or_without_landlock() {
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    sys.threads = 2;
    assert!(matches!(
        confine_fs_with(&mut sys, &[]),
        Err(LandlockError::MultiThreaded(2))
    ));
    let mut sys = Recording::service(60, 60, CapMask::EMPTY);
    sys.landlock_abi = 0;
    assert!(matches!(
        confine_fs_with(&mut sys, &[]),
        Err(LandlockError::TooOld { have: 0, .. })
    ));
    assert!(sys.log.is_empty(), "nothing applied: {:?}", sys.log);
}

#[test]
fn proc_session_needs_abi_6() {
    let mut sys = Recording::root();
    sys.landlock_abi = 5;
    let e = ruleset(&sys, 0, crate::sys::landlock::SCOPE_SIGNAL, &[]).expect_err("old");
    assert!(e.to_string().contains("proc_session"), "{e}");
}
