//! xm without a xend: a config with a syntax error is refused at its
//! line and column; `create -n` prints the config and starts nothing,
//! naming what it does not support; no xend is one clear line.

use std::process::Command;

fn xm(args: &[&str]) -> (i32, String, String) {
    let rt = std::env::temp_dir().join(format!("xm-cli-{}", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_xm"))
        .args(args)
        .env("XEND_SOCKET", rt.join("nothing.sock"))
        .output()
        .expect("xm runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn configs_are_checked_before_xend_is_asked() {
    let dir = std::env::temp_dir().join(format!("xm-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.cfg");
    std::fs::write(&bad, "name = \"g\"\ntype = \"hvm\"\nmemory = = 64\n").expect("write");
    let (code, out, err) = xm(&["create", &bad.to_string_lossy()]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!("xm: {}:3:10: expected a value, found =\n", bad.display())
    );

    let good = dir.join("good.cfg");
    std::fs::write(
        &good,
        "name = \"g\"\ntype = \"hvm\"\nmemory = 64\nsdl = 1\n",
    )
    .expect("write");
    let (code, out, err) = xm(&["create", "-n", &good.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("name = \"g\"\ntype = \"hvm\"\n") && out.contains("memory = 64\n"),
        "{out}"
    );
    assert_eq!(
        err,
        format!(
            "xm: {}:4:1: sdl is not supported here; ignored\n",
            good.display()
        )
    );

    let (code, _, err) = xm(&["list"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("xm: xend at ")
            && err.contains("is xend running?")
            && err.lines().count() == 1,
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
