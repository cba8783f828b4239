//! The session run directory rule, against directories made here (never
//! the host's `/run/user` or `/tmp`).

use super::*;
use std::os::unix::fs::PermissionsExt as _;

/// A scratch directory with `run/user` and `tmp` in it, and a search for
/// the uid running the test.
fn scratch(name: &str) -> (PathBuf, RunDirSearch) {
    let base = std::env::temp_dir().join(format!("xvm-mode-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(base.join("run/user")).expect("run/user");
    std::fs::create_dir_all(base.join("tmp")).expect("tmp");
    let uid = std::fs::metadata(&base).expect("stat").uid();
    let search = RunDirSearch {
        xdg_runtime_dir: None,
        uid,
        run_user: base.join("run/user"),
        tmp: base.join("tmp"),
    };
    (base, search)
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn xdg_runtime_dir_wins() {
    let (base, mut s) = scratch("xdg");
    s.xdg_runtime_dir = Some(PathBuf::from("/somewhere"));
    assert_eq!(
        session_run_in(&s).expect("xdg"),
        PathBuf::from("/somewhere/xvm")
    );
    assert!(
        std::fs::read_dir(base.join("tmp"))
            .expect("tmp")
            .next()
            .is_none(),
        "nothing created"
    );
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn the_users_own_run_directory_comes_next() {
    let (base, s) = scratch("run-user");
    let own = s.run_user.join(s.uid.to_string());
    std::fs::create_dir(&own).expect("mkdir");
    chmod(&own, 0o700);
    assert_eq!(session_run_in(&s).expect("run/user"), own.join("xvm"));
    // Writable by the group: not trusted, so the /tmp fallback is used.
    chmod(&own, 0o770);
    let fallback = s.tmp.join(format!("xvm-run-{}", s.uid));
    assert_eq!(session_run_in(&s).expect("fallback"), fallback);
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn a_symlinked_run_user_directory_is_passed_over() {
    let (base, s) = scratch("run-user-link");
    let real = base.join("real");
    std::fs::create_dir(&real).expect("mkdir");
    chmod(&real, 0o700);
    std::os::unix::fs::symlink(&real, s.run_user.join(s.uid.to_string())).expect("symlink");
    let fallback = s.tmp.join(format!("xvm-run-{}", s.uid));
    assert_eq!(session_run_in(&s).expect("fallback"), fallback);
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn the_tmp_fallback_is_made_private() {
    let (base, s) = scratch("tmp-made");
    let got = session_run_in(&s).expect("made");
    assert_eq!(got, s.tmp.join(format!("xvm-run-{}", s.uid)));
    let m = std::fs::symlink_metadata(&got).expect("stat");
    assert!(m.is_dir());
    assert_eq!(m.mode() & 0o077, 0, "mode {:o}", m.mode());
    // A second call finds it and agrees.
    assert_eq!(session_run_in(&s).expect("again"), got);
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn an_unsafe_tmp_fallback_is_refused_with_its_path_and_why() {
    let (base, s) = scratch("tmp-unsafe");
    let fallback = s.tmp.join(format!("xvm-run-{}", s.uid));
    let why = |s: &RunDirSearch| match session_run_in(s) {
        Err(ModeError::UnsafeRunDir { path, why }) => {
            assert_eq!(path, fallback);
            why
        }
        other => panic!("{other:?}"),
    };

    std::os::unix::fs::symlink(&base, &fallback).expect("symlink");
    assert_eq!(why(&s), RunDirProblem::Symlink);
    std::fs::remove_file(&fallback).expect("rm");

    std::fs::write(&fallback, b"").expect("file");
    assert_eq!(why(&s), RunDirProblem::NotDirectory);
    std::fs::remove_file(&fallback).expect("rm");

    std::fs::create_dir(&fallback).expect("mkdir");
    chmod(&fallback, 0o750);
    assert_eq!(why(&s), RunDirProblem::Open { mode: 0o750 });
    chmod(&fallback, 0o700);

    // Someone else's: the same directory, seen by another uid.
    let other = RunDirSearch {
        uid: s.uid + 1,
        ..s.clone()
    };
    let other_fallback = s.tmp.join(format!("xvm-run-{}", s.uid + 1));
    std::fs::create_dir(&other_fallback).expect("mkdir");
    chmod(&other_fallback, 0o700);
    match session_run_in(&other) {
        Err(ModeError::UnsafeRunDir { path, why }) => {
            assert_eq!(path, other_fallback);
            assert_eq!(
                why,
                RunDirProblem::NotOwned {
                    owner: s.uid,
                    uid: s.uid + 1
                }
            );
            let text = ModeError::UnsafeRunDir { path, why }.to_string();
            assert!(
                text.contains("xvm-run-") && text.contains("belongs to uid"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(base);
}
