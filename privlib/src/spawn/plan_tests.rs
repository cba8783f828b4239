//! The child's steps, checked against the recording fake.

use super::*;
use std::os::fd::AsRawFd;

use crate::caps::CapMask;
use crate::spawn::FsAccess;
use crate::sys::fake::Recording;

fn set(s: &str) -> PrivSet {
    PrivSet::parse(s, 40).expect(s)
}

fn steps(plan: &Plan) -> Vec<&'static str> {
    plan.ops.iter().map(CredOp::step).collect()
}

#[test]
fn drops_in_a_fixed_order_before_exec() {
    let plan = Spawn::new("/bin/true")
        .uid(1000)
        .gid(1000)
        .groups(&[])
        .privileges(set("basic,!proc_fork"))
        .limit(set("basic"))
        .rlimit(libc::RLIMIT_NOFILE, 64, 64)
        .plan(&Recording::root())
        .expect("plan");
    assert_eq!(
        steps(&plan),
        [
            "reset signal mask",
            "setrlimit",
            "pass file descriptors",
            "set securebits",
            "drop bounding set",
            "setgroups",
            "setresgid",
            "setresuid",
            "capset",
            "clear ambient set",
            "set no_new_privs",
            "install seccomp filter",
        ]
    );
    assert!(
        plan.ops.contains(&CredOp::SetCaps(CapState::default())),
        "no capability survives"
    );
    assert!(!plan.exec_once);
}

#[test]
fn kept_privileges_become_ambient() {
    let plan = Spawn::new("/bin/true")
        .uid(1000)
        .privileges(set("basic,net_privaddr"))
        .plan(&Recording::root())
        .expect("plan");
    let want = set("net_privaddr").caps(40);
    assert!(plan.ops.contains(&CredOp::RaiseAmbient(want)));
}

#[test]
fn without_proc_exec_the_program_itself_still_starts() {
    let plan = Spawn::new("/bin/true")
        .privileges(set("basic,!proc_exec"))
        .plan(&Recording::root())
        .expect("plan");
    assert!(plan.exec_once);
    let last = plan.ops.last().expect("ops");
    assert!(
        matches!(last, CredOp::Seccomp { flags, listener_to: Some(_), .. } if *flags == sys::SECCOMP_FILTER_FLAG_NEW_LISTENER),
        "{last:?}"
    );
}

#[test]
fn cannot_give_what_the_caller_lacks() {
    let e = Spawn::new("/bin/true")
        .privileges(set("basic,file_chown"))
        .plan(&Recording::service(1000, 1000, CapMask::EMPTY))
        .expect_err("not held");
    assert!(e.to_string().contains("file_chown"), "{e}");
}

#[test]
fn unprivileged_callers_get_no_new_privs_instead_of_a_bounding_set() {
    let plan = Spawn::new("/bin/true")
        .limit(set("basic"))
        .no_new_privs(false)
        .plan(&Recording::service(1000, 1000, CapMask::EMPTY))
        .expect("plan");
    let s = steps(&plan);
    assert!(
        !s.contains(&"drop bounding set") && s.contains(&"set no_new_privs"),
        "{s:?}"
    );
}

#[test]
fn bad_requests_are_named_before_anything_starts() {
    let root = Recording::root();
    let e = Spawn::new("/nonexistent/prog")
        .plan(&root)
        .expect_err("missing");
    assert!(
        e.to_string().contains("/nonexistent/prog") && e.to_string().contains("not an executable"),
        "{e}"
    );
    let e = Spawn::new("no-such-program-xvm")
        .plan(&root)
        .expect_err("missing");
    assert!(e.to_string().contains("not found in PATH"), "{e}");
    let e = Spawn::new("/bin/true")
        .env("A=B", "c")
        .plan(&root)
        .expect_err("bad env");
    assert!(e.to_string().contains("environment"), "{e}");
    let e = Spawn::new("/bin/true")
        .arg("a\0b")
        .plan(&root)
        .expect_err("nul");
    assert!(e.to_string().contains("NUL"), "{e}");
    let e = Spawn::new("/bin/true")
        .pass_fd(987, 3)
        .plan(&root)
        .expect_err("closed fd");
    assert!(e.to_string().contains("fd 987"), "{e}");
}

#[test]
fn unpassed_standard_fds_get_dev_null() {
    let plan = Spawn::new("/bin/true")
        .pass_fd(2, 5)
        .no_stdio()
        .plan(&Recording::root())
        .expect("plan");
    let null = plan
        .devnull
        .as_ref()
        .map(AsRawFd::as_raw_fd)
        .expect("/dev/null opened");
    assert!(null >= 1000, "the fake's fd, not a real open: {null}");
    assert!(plan.ops.contains(&CredOp::RemapFds(vec![
        (2, 5),
        (null, 0),
        (null, 1),
        (null, 2)
    ])));
}

#[test]
fn a_new_uid_does_not_keep_our_groups() {
    let plan = Spawn::new("/bin/true")
        .uid(1000)
        .plan(&Recording::root())
        .expect("plan");
    assert!(
        plan.ops.contains(&CredOp::SetGroups(vec![])),
        "{:?}",
        plan.ops
    );
    let plan = Spawn::new("/bin/true")
        .plan(&Recording::root())
        .expect("plan");
    assert!(
        !steps(&plan).contains(&"setgroups"),
        "same uid: groups untouched"
    );
}

#[test]
fn cwd_is_entered_as_the_new_user() {
    let plan = Spawn::new("/bin/true")
        .uid(1000)
        .cwd("/tmp")
        .plan(&Recording::root())
        .expect("plan");
    let s = steps(&plan);
    let pos = |x: &str| s.iter().position(|y| *y == x).expect(x);
    assert!(pos("setresuid") < pos("chdir"), "{s:?}");
}

#[test]
fn a_root_child_without_locked_securebits_is_refused() {
    let mut root = Recording::root();
    root.caps.permitted = root
        .caps
        .permitted
        .minus(CapMask::of(&[crate::caps::num::SETPCAP]));
    root.caps.effective = root.caps.permitted;
    let e = Spawn::new("/bin/true").plan(&root).expect_err("no setpcap");
    assert!(e.to_string().contains("securebits"), "{e}");
    // Without the lock asked for (ppriv -e keeps root semantics) it goes on.
    assert!(
        Spawn::new("/bin/true")
            .lock_securebits(false)
            .plan(&root)
            .is_ok()
    );
}

#[test]
fn no_file_read_without_rules_is_named_before_forking() {
    let e = Spawn::new("/bin/true")
        .privileges(set("basic,!file_read"))
        .plan(&Recording::root())
        .expect_err("cannot load");
    assert!(
        e.to_string().contains("file_read") && e.to_string().contains("fs_allow"),
        "{e}"
    );
}

/// A fake whose PATH, fds, files and Landlock ABI are not the host's.
fn elsewhere() -> Recording {
    let mut fake = Recording::root();
    fake.path_var = Some("/fake/bin".into());
    fake.executables = vec![PathBuf::from("/fake/bin/prog")];
    fake.open_fds = vec![0, 1, 2, 7];
    fake.landlock_abi = 2;
    fake
}

#[test]
fn a_plan_asks_the_fake_and_never_the_host() {
    use crate::sys::fake::Call;
    let fake = elsewhere();
    // Neither the program nor the allowed directory exists on the host,
    // and fd 7 is not open here: only the fake's answers let this plan.
    let plan = Spawn::new("prog")
        .pass_fd(7, 3)
        .no_stdio()
        .fs_allow("/fake/no-such-dir", FsAccess::READ)
        .plan(&fake)
        .expect("plan");
    assert_eq!(plan.image.path().to_bytes(), b"/fake/bin/prog");
    let ruleset = plan.ruleset.as_ref().expect("ruleset").fd();
    let null = plan.devnull.as_ref().map(AsRawFd::as_raw_fd).expect("null");
    assert!(
        plan.ops.contains(&CredOp::LandlockRestrict(ruleset)),
        "{:?}",
        plan.ops
    );
    let handled = sys::landlock::fs_rights(2);
    let calls = fake.calls.borrow();
    for want in [
        Call::PathVar,
        Call::IsExecutable(PathBuf::from("/fake/bin/prog")),
        Call::FdIsOpen(7),
        Call::OpenDevNull(null),
        Call::LandlockCreate {
            abi: 2,
            handled_fs: handled,
            scoped: 0,
        },
        Call::LandlockAllow(PathBuf::from("/fake/no-such-dir"), FsAccess::READ.0),
    ] {
        assert!(calls.contains(&want), "{want:?} not in {calls:?}");
    }
}

#[test]
fn the_fakes_landlock_abi_decides_what_can_be_taken_away() {
    // Removing file_write needs ABI 3 (truncation); the fake has 2,
    // whatever the host runs.
    let e = Spawn::new("prog")
        .privileges(set("basic,!file_write"))
        .fs_allow("/fake", FsAccess::READ)
        .plan(&elsewhere())
        .expect_err("ABI 2");
    assert!(
        matches!(
            e,
            SpawnError::Privileges {
                source: PrivError::Landlock(crate::basic::landlock::LandlockError::TooOld {
                    have: 2,
                    need: 3,
                    ..
                }),
                ..
            }
        ),
        "{e}"
    );
}
