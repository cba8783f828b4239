//! Every tool answers --help (clap checks its own definition then), and
//! a client with no restarter to talk to says so in one line.

use std::process::Command;

#[test]
fn every_tool_has_a_consistent_command_line() {
    for (name, path) in [
        ("svc-startd", env!("CARGO_BIN_EXE_svc-startd")),
        ("svcs", env!("CARGO_BIN_EXE_svcs")),
        ("svcadm", env!("CARGO_BIN_EXE_svcadm")),
        ("svcprop", env!("CARGO_BIN_EXE_svcprop")),
        ("svccfg", env!("CARGO_BIN_EXE_svccfg")),
        ("xvm-fixperms", env!("CARGO_BIN_EXE_xvm-fixperms")),
    ] {
        let o = Command::new(path).arg("--help").output().expect("runs");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && out.contains("Usage:"),
            "{name} --help: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn a_client_without_a_restarter_says_so() {
    let rt = std::env::temp_dir().join(format!("smf-none-{}", std::process::id()));
    std::fs::create_dir_all(&rt).expect("dir");
    let o = Command::new(env!("CARGO_BIN_EXE_svcs"))
        .arg("--session")
        .env("XDG_RUNTIME_DIR", &rt)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.starts_with("svcs: svc-startd at ")
            && err.contains("is it running?")
            && err.lines().count() == 1,
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&rt);
}
