//! The setuid-root xenconsole, for real (root only, hermetic: a private
//! tmpfs as R, its own accounts, policy and xenstored; see `support`).
//!
//! A user holding `virt_manage` by group alone attaches from a terminal
//! the test drives: the guest's bytes reach the terminal, typed bytes
//! reach the guest, the process is the user and nothing more while
//! attached, a second client is told who holds the console, and Ctrl-]
//! gives the terminal its modes back. A user without the privilege, a
//! domain or console that is not there, `--session` in a set-id run, a
//! policy file others could write, and tty keys that name something
//! other than xvm's pty, each get their own one line and exit 1, and no
//! byte of the guest. A user's environment
//! (another store, another root, LD_PRELOAD) changes nothing.

mod support;

use std::os::unix::fs::PermissionsExt as _;

use privlib::os::tty::open_pty;
use privlib::testing::in_private_tmpfs;
use support::*;
use xvm_tests::{require_root, serial};

const ZERO: &str = "0000000000000000";

#[test]
fn a_virt_manage_user_attaches_types_and_detaches() {
    if !require_root("a_virt_manage_user_attaches_types_and_detaches") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("xc-attach", |root| {
        let fx = Fixture::new(root)?;
        let term = Term::new(ALICE)?;
        let before = term.modes()?;
        check(!term.is_raw()?, "the test terminal starts cooked")?;
        let child = spawn_as(&fx.exe, ALICE, &[ALICE, VIRT], &term, &[NAME], &[])?;
        let pid = child.id();
        wait_for(10, "the terminal to go raw", || term.is_raw())?;

        // While attached: the user in all four uid fields, nothing else.
        let a = ALICE.to_string();
        let uid = status_field(pid, "Uid")?;
        check(uid == [a.as_str(); 4].join("\t"), format!("Uid {uid}"))?;
        let gid = status_field(pid, "Gid")?;
        check(gid == [a.as_str(); 4].join("\t"), format!("Gid {gid}"))?;
        for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            let v = status_field(pid, k)?;
            check(v == ZERO, format!("{k} {v}"))?;
        }
        check(status_field(pid, "NoNewPrivs")? == "1", "NoNewPrivs")?;

        // Guest to user, and user to guest.
        write_all(&fx.console.master, b"login banner from the guest\r\n")?;
        read_until(&term.pty.master, b"login banner from the guest", 10)?;
        term.type_in(b"echo typed-by-alice\r")?;
        read_until(&fx.console.master, b"echo typed-by-alice\r", 10)?;

        // A second client: one line naming the first's pid.
        let term2 = Term::new(ALICE)?;
        let second = spawn_as(&fx.exe, ALICE, &[ALICE, VIRT], &term2, &["5"], &[])?;
        let (code, err) = finish(second, 10)?;
        check(
            (code, err.as_str())
                == (
                    1,
                    format!("xenconsole: domain {NAME}: console in use by pid {pid}\n").as_str(),
                ),
            format!("second client: exit {code}, {err:?}"),
        )?;
        check(
            drain(&term2.pty.master, 100)?.is_empty(),
            "the second client's terminal got bytes",
        )?;

        // Ctrl-] detaches; what was typed before it still goes.
        term.type_in(b"last\x1d")?;
        let (code, err) = finish(child, 10)?;
        check(
            (code, err.as_str()) == (0, ""),
            format!("detach: exit {code}, {err:?}"),
        )?;
        read_until(&fx.console.master, b"last", 5)?;
        let after = term.modes()?;
        check(
            after == before,
            format!("modes after: {after}, before: {before}"),
        )?;

        // Free again: the lock went with the first client.
        let again = spawn_as(&fx.exe, ALICE, &[ALICE, VIRT], &term2, &[NAME], &[])?;
        wait_for(10, "the second terminal to go raw", || {
            Ok(
                privlib::os::tty::get_modes(std::os::fd::AsFd::as_fd(&term2.pty.slave))
                    .map_err(|e| Error::Check(format!("the terminal's modes: {e}")))?
                    .is_raw(),
            )
        })?;
        term2.type_in(b"\x1d")?;
        let (code, err) = finish(again, 10)?;
        check(code == 0, format!("re-attach: exit {code}, {err:?}"))?;
        Ok(())
    });
    verdict.expect("attach");
}

/// Runs the client as `uid` against what the store says now; checks one
/// line `want` on stderr, exit 1, and nothing on the terminal though the
/// guest has output waiting.
fn refused(fx: &Fixture, uid: u32, groups: &[u32], args: &[&str], want: &str) -> R<()> {
    let term = Term::new(uid)?;
    write_all(&fx.console.master, b"guest output nobody may read\r\n")?;
    let child = spawn_as(&fx.exe, uid, groups, &term, args, &[])?;
    let (code, err) = finish(child, 10)?;
    check(
        (code, err.as_str()) == (1, want),
        format!("want exit 1, {want:?}; got exit {code}, {err:?}"),
    )?;
    let got = drain(&term.pty.master, 100)?;
    check(
        got.is_empty(),
        format!("terminal got {:?}", String::from_utf8_lossy(&got)),
    )
}

#[test]
fn each_refusal_is_one_line_exit_1_and_no_byte() {
    if !require_root("each_refusal_is_one_line_exit_1_and_no_byte") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("xc-refuse", |root| {
        let mut fx = Fixture::new(root)?;
        let alice: &[u32] = &[ALICE, VIRT];
        refused(
            &fx,
            BOB,
            &[BOB],
            &[NAME],
            &format!(
                "xenconsole: uid {BOB}: permission denied: xvm_control or virt_manage required\n"
            ),
        )?;
        refused(
            &fx,
            ALICE,
            alice,
            &["nosuch"],
            "xenconsole: no domain nosuch\n",
        )?;
        refused(&fx, ALICE, alice, &["77"], "xenconsole: no domain 77\n")?;
        refused(
            &fx,
            ALICE,
            alice,
            &["--session", NAME],
            "xenconsole: --session: this xenconsole is set-id and serves the system stack only; \
             a session uses the xenconsole built with its xm\n",
        )?;
        // A policy file others could have written is no policy.
        let policy = root.join("etc/xvm/privileges.toml");
        std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o664))
            .map_err(|e| e.to_string())?;
        let pd = policy.display();
        refused(
            &fx,
            ALICE,
            alice,
            &[NAME],
            &format!(
                "xenconsole: {pd}:1:1: {pd} is writable by someone other than root \
                 (owner uid 0, mode 0664); refusing the policy\n"
            ),
        )?;
        std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        refused(
            &fx,
            ALICE,
            alice,
            &["--type", "pv", "--num", "3", NAME],
            &format!("xenconsole: domain {NAME}: no device/console/3/tty\n"),
        )?;

        let p = fx.console.path.display().to_string();
        let link = root.join("link");
        std::os::unix::fs::symlink(&fx.console.path, &link).map_err(|e| e.to_string())?;
        let pts_link = root.join("pts");
        std::os::unix::fs::symlink("/dev/pts", &pts_link).map_err(|e| e.to_string())?;
        let via_dir = pts_link.join(fx.console.path.file_name().ok_or("pty name")?);
        let file = root.join("file");
        std::fs::write(&file, b"").map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&file, Some(XVM), Some(XVM)).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        let bobs = open_pty(BOB, BOB).map_err(|e| e.to_string())?;
        let open = open_pty(XVM, XVM).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&open.path, std::fs::Permissions::from_mode(0o620))
            .map_err(|e| e.to_string())?;
        let long = format!("/dev/{}", "p".repeat(300));
        let key = format!("xenconsole: domain {NAME}: serial/0/tty");
        for (value, want) in [
            (
                link.display().to_string(),
                format!(
                    "{key}: {}: reached through a symbolic link, which is not followed\n",
                    link.display()
                ),
            ),
            (
                via_dir.display().to_string(),
                format!(
                    "{key}: {}: reached through a symbolic link, which is not followed\n",
                    via_dir.display()
                ),
            ),
            (
                "/dev/null".to_string(),
                format!("{key}: /dev/null: device 1:3 is not a pty slave\n"),
            ),
            (
                file.display().to_string(),
                format!("{key}: {}: a regular file, not a pty\n", file.display()),
            ),
            (
                bobs.path.display().to_string(),
                format!(
                    "{key}: {}: owned by uid {BOB}, not by xvm (uid {XVM})\n",
                    bobs.path.display()
                ),
            ),
            (
                open.path.display().to_string(),
                format!("{key}: {}: mode 0620, not 0600\n", open.path.display()),
            ),
            (
                long.clone(),
                format!("{key} is 305 bytes long, more than 256\n"),
            ),
            (
                "pts/1".to_string(),
                format!("{key} is \"pts/1\", not an absolute path\n"),
            ),
        ] {
            fx.store.set_tty(value.as_bytes())?;
            refused(&fx, ALICE, alice, &[NAME], &want)?;
        }
        // The real pty again: the refusals took nothing from it.
        fx.store.set_tty(p.as_bytes())?;
        let term = Term::new(ALICE)?;
        let child = spawn_as(&fx.exe, ALICE, alice, &term, &[NAME], &[])?;
        wait_for(10, "the terminal to go raw", || term.is_raw())?;
        read_until(&term.pty.master, b"guest output nobody may read", 10)?;
        term.type_in(b"\x1d")?;
        let (code, err) = finish(child, 10)?;
        check(code == 0, format!("attach: exit {code}, {err:?}"))?;
        Ok(())
    });
    verdict.expect("refusals");
}

#[test]
fn the_callers_environment_changes_nothing() {
    if !require_root("the_callers_environment_changes_nothing") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("xc-env", |root| {
        let fx = Fixture::new(root)?;
        // Another root, as a user would make one: a store that names
        // another pty, and a policy that grants bob.
        let other = root.join("other");
        std::fs::create_dir(&other).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        // POLICY ends in the virt_manage table: bob joins it there.
        privlib::testing::write_policy(&other, &format!("{POLICY}uids = [{BOB}]\n"))
            .map_err(|e| e.to_string())?;
        let decoy = open_pty(XVM, XVM).map_err(|e| e.to_string())?;
        let other_store = Store::start(&other, &decoy.path)?;
        let sock = other_store.daemon.socket();
        let rundir = other.join("run/xenstored");
        let preload = other.join("evil.so");
        let envs: &[(&str, &std::path::Path)] = &[
            ("XENSTORED_PATH", &sock),
            ("XENSTORED_RUNDIR", &rundir),
            ("XVM_ROOT", &other),
            ("XDG_RUNTIME_DIR", &other),
            ("XDG_CONFIG_HOME", &other),
            ("LD_PRELOAD", &preload),
            ("LD_LIBRARY_PATH", &other),
        ];

        // bob, whom only the other policy grants: still refused.
        let term = Term::new(BOB)?;
        let child = spawn_as(&fx.exe, BOB, &[BOB], &term, &[NAME], envs)?;
        let (code, err) = finish(child, 10)?;
        // The dynamic loader says it ignored LD_PRELOAD: its line, not ours.
        let err: String = err
            .lines()
            .filter(|l| !l.starts_with("ERROR: ld.so:") || !l.ends_with("ignored."))
            .map(|l| format!("{l}\n"))
            .collect();
        check(
            code == 1
                && err
                    == format!(
                        "xenconsole: uid {BOB}: permission denied: xvm_control or virt_manage required\n"
                    ),
            format!("bob: exit {code}, {err:?}"),
        )?;

        // alice reaches R's console, not the decoy.
        write_all(&decoy.master, b"decoy output\r\n")?;
        let term = Term::new(ALICE)?;
        let child = spawn_as(&fx.exe, ALICE, &[ALICE, VIRT], &term, &[NAME], envs)?;
        wait_for(10, "the terminal to go raw", || term.is_raw())?;
        write_all(&fx.console.master, b"output of R's guest\r\n")?;
        let got = read_until(&term.pty.master, b"output of R's guest", 10)?;
        term.type_in(b"to R's guest\r")?;
        read_until(&fx.console.master, b"to R's guest", 10)?;
        term.type_in(b"\x1d")?;
        let (code, err) = finish(child, 10)?;
        check(code == 0, format!("alice: exit {code}, {err:?}"))?;
        let decoy_got = drain(&decoy.master, 100)?;
        check(
            !String::from_utf8_lossy(&got).contains("decoy") && decoy_got.is_empty(),
            format!(
                "the decoy was reached: terminal {:?}, decoy {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&decoy_got)
            ),
        )?;
        Ok(())
    });
    verdict.expect("environment");
}
