//! `xvm-xs`, our small client, against the real daemon (session mode).

use std::process::Command;

use xvm_tests::scratch;
use xvm_tests::stack::Xenstored;

fn xvm_xs(socket: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_xvm-xs"))
        .args(args)
        .env("XENSTORED_PATH", socket)
        .output()
        .expect("xvm-xs runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn reads_writes_lists_and_names_what_failed() {
    let d = Xenstored::start(
        &scratch("xvm-xs").expect("scratch dir"),
        &["--session"],
        &[],
    )
    .expect("start");
    let s = d.socket();
    let ok = |args: &[&str]| {
        let (code, out, err) = xvm_xs(&s, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };

    ok(&["introduce", "1", "4096", "1"]);
    ok(&[
        "write",
        "/local/domain/1/name",
        "example",
        "/vm/x/name",
        "a \"b\"",
    ]);
    assert_eq!(ok(&["read", "/local/domain/1/name"]), "example\n");
    assert_eq!(
        ok(&["ls", "/vm"]),
        "x = \"\"\n name = \"a \\\"b\\\"\"\n",
        "xenstore-ls layout, values escaped"
    );
    ok(&["chmod", "/local/domain/1", "n1", "r2"]);
    ok(&["rm", "/vm/x"]);

    let (code, _, err) = xvm_xs(&s, &["read", "/vm/x/name"]);
    assert_eq!((code, err.as_str()), (1, "xvm-xs: /vm/x/name: ENOENT\n"));
    let (code, _, err) = xvm_xs(&s, &["chmod", "/local/domain/1", "q1"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "xvm-xs: /local/domain/1: EINVAL\n")
    );
    let (code, _, err) = xvm_xs(&s, &["write", "/vm/odd"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "xvm-xs: write takes PATH VALUE pairs\n")
    );
    let (code, _, err) = xvm_xs(&d.dir.join("nothing-here"), &["read", "/"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nothing-here") && err.contains("No such file"),
        "{err}"
    );
}
