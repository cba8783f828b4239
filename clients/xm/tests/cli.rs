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

/// `xm console` execs xenconsole: in system mode only the installed one
/// (a missing one is one line naming where it was looked for); in
/// session mode the one beside xm, given `--session` and the options.
#[test]
fn console_execs_the_xenconsole_of_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("xm-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |xm: &std::path::Path, args: &[&str]| {
        let o = Command::new(xm)
            .args(args)
            .env("XVM_ROOT", dir.join("no-root"))
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("PATH", dir.join("no-path"))
            .output()
            .expect("xm runs");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        std::path::Path::new(env!("CARGO_BIN_EXE_xm")),
        &["console", "web"],
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "xm: no xenconsole: tried {}/no-root/usr/lib/xen/bin/xenconsole\n",
            dir.display()
        )
    );

    // A copy of xm with a stand-in xenconsole beside it.
    let xm = dir.join("xm");
    std::fs::copy(env!("CARGO_BIN_EXE_xm"), &xm).expect("copy xm");
    let (code, _, err) = run(&xm, &["--session", "console", "web"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "xm: no xenconsole: tried {}/xenconsole, each directory of PATH\n",
            dir.display()
        )
    );
    let fake = dir.join("xenconsole");
    std::fs::write(&fake, "#!/bin/sh\necho \"$@\"\nexit 7\n").expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, out, err) = run(&xm, &["--session", "console", "-t", "pv", "-n", "1", "web"]);
    assert_eq!((code, err.as_str()), (7, ""), "exec'd: its status is xm's");
    assert_eq!(out, "--session --type pv --num 1 -- web\n");
    let _ = std::fs::remove_dir_all(&dir);
}
