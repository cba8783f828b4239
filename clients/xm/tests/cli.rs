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
        "name = \"g\"\ntype = \"hvm\"\nmemory = 64\nviridian = 1\n",
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
            "xm: {}:4:1: viridian is not supported here; ignored\n",
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

/// An xm-era HVM config (legacy disk syntax with `phy:` and `file:`, the
/// CD first, a tablet, a card on a bridge): `create -n` prints it with
/// every key acted on and nothing named as ignored; a key of its `vif`
/// not acted on is named as `vif:KEY` at its spec.
#[test]
fn create_n_prints_an_xm_era_config_with_nothing_ignored() {
    let dir = std::env::temp_dir().join(format!("xm-era-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = dir.join("web01.cfg");
    let text = concat!(
        "builder = 'hvm'\nname = \"web01\"\nmemory = 512\nvcpus = 2\nmaxvcpus = 4\n",
        "acpi = 1\napic = 0\n",
        "vif = [ 'type=ioemu, bridge=xenbr0, mac=00:16:3e:5f:48:e4, model=e1000' ]\n",
        "disk = [ 'phy:/dev/vg0/web01,hda,w',\n",
        "         'file:/var/lib/xen/images/debian-12.iso,hdc:cdrom,r' ]\n",
        "boot = \"dc\"\nusbdevice = 'tablet'\nsdl = 1\n",
    );
    std::fs::write(&cfg, text).expect("write");
    let (code, out, err) = xm(&["create", "-n", &cfg.to_string_lossy()]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    for line in [
        "name = \"web01\"\n",
        "memory = 512\nvcpus = 2\nmaxvcpus = 4\n",
        "disk = [ \"format=raw,vdev=hda,access=rw,target=/dev/vg0/web01\", \
         \"format=raw,vdev=hdc,access=ro,devtype=cdrom,target=/var/lib/xen/images/debian-12.iso\" ]\n",
        "vif = [ \"bridge=xenbr0,mac=00:16:3e:5f:48:e4,model=e1000\" ]\n",
        "boot = \"dc\"\nacpi = 1\napic = 0\nusb = 1\nusbdevice = [ \"tablet\" ]\n",
        "vnc = 1\nvnclisten = \"127.0.0.1\"\n",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    // What it printed is a config xm reads again, the same.
    let printed = dir.join("printed.cfg");
    std::fs::write(&printed, &out).expect("write");
    let (code, again, err) = xm(&["create", "-n", &printed.to_string_lossy()]);
    assert_eq!((code, err.as_str(), again.as_str()), (0, "", out.as_str()));

    let ip = dir.join("ip.cfg");
    std::fs::write(
        &ip,
        "name = \"g\"\ntype = \"hvm\"\nvif = [ '', 'bridge=xenbr0,ip=10.0.0.2' ]\n",
    )
    .expect("write");
    let (code, _, err) = xm(&["create", "-n", &ip.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        format!(
            "xm: {}:3:13: vif:ip is not supported here; ignored\n",
            ip.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
