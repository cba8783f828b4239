//! The program itself, before any peer: what it refuses to start with,
//! each refusal one line naming what was wrong. (Its peers and xend are
//! tested end to end in the workspace's `tests/tests/relocation.rs`.)

use std::process::Command;

fn relocd(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_xvm-relocd"))
        .args(args)
        .env_remove("XVM_ROOT")
        .output()
        .expect("xvm-relocd runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_missing_file_or_allow_list_is_refused_naming_it() {
    let base = ["--session", "--listen", "127.0.0.1:0"];
    let mut a = base.to_vec();
    a.extend([
        "--cert",
        "/nonexistent/host.pem",
        "--key",
        "/nonexistent/host.key",
    ]);
    a.extend(["--ca", "/nonexistent/ca.pem", "--allow", "peer.example"]);
    let (code, err) = relocd(&a);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("xvm-relocd: /nonexistent/host.pem:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let mut a = base.to_vec();
    a.extend(["--cert", "c", "--key", "k", "--ca", "ca"]);
    let (code, err) = relocd(&a);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow"), "{err}");

    let mut a = base.to_vec();
    a.extend([
        "--cert",
        "c",
        "--key",
        "k",
        "--ca",
        "ca",
        "--allow",
        "not a name!",
    ]);
    let (code, err) = relocd(&a);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("\"not a name!\": not a DNS name or an IP address"),
        "{err}"
    );
}
