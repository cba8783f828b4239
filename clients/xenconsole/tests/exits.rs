//! The setuid xenconsole's other ways out, and the root it trusts (root
//! only, hermetic: see `support`).
//!
//! Every way out gives the terminal its modes back: SIGTERM, SIGHUP, the
//! console hanging up (its master closed, as when xenconsoled lets go of
//! a domain that ended), and end of file on a stdin that is no terminal.
//! A copy installed in a tree someone other than root could change is
//! refused before it reads anything of that tree.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use privlib::os::tty::{Pty, open_pty};
use privlib::testing::in_private_tmpfs;
use support::*;
use xvm_tests::hermetic::copy_binary;
use xvm_tests::{require_root, serial};

fn kill(sig: &str, pid: u32) -> R<()> {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map_err(|source| Error::Spawn {
            program: "kill".into(),
            source,
        })?;
    check(st.success(), format!("kill -{sig} {pid}"))
}

#[test]
fn every_way_out_restores_the_terminal() {
    if !require_root("every_way_out_restores_the_terminal") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("xc-exits", |root| {
        let mut fx = Fixture::new(root)?;
        let alice: &[u32] = &[ALICE, VIRT];
        for (sig, code) in [("TERM", 143), ("HUP", 129)] {
            let term = Term::new(ALICE)?;
            let before = term.modes()?;
            let child = spawn_as(&fx.exe, ALICE, alice, &term, &[NAME], &[])?;
            wait_for(10, "the terminal to go raw", || term.is_raw())?;
            kill(sig, child.id())?;
            let (got, err) = finish(child, 10)?;
            check(
                (got, err.as_str()) == (code, ""),
                format!("SIG{sig}: exit {got}, {err:?}"),
            )?;
            check(
                term.modes()? == before,
                format!("SIG{sig}: modes not restored"),
            )?;
        }

        // The console hangs up: its master goes.
        let Pty {
            master,
            slave: _slave,
            path,
        } = open_pty(XVM, XVM).map_err(|e| e.to_string())?;
        fx.store.set_tty(path.as_os_str().as_encoded_bytes())?;
        let term = Term::new(ALICE)?;
        let before = term.modes()?;
        let child = spawn_as(&fx.exe, ALICE, alice, &term, &[NAME], &[])?;
        wait_for(10, "the terminal to go raw", || term.is_raw())?;
        drop(master);
        let (code, err) = finish(child, 10)?;
        check(
            (code, err.as_str())
                == (
                    0,
                    format!("xenconsole: domain {NAME}: console closed\n").as_str(),
                ),
            format!("hangup: exit {code}, {err:?}"),
        )?;
        check(term.modes()? == before, "hangup: modes not restored")?;

        // stdin at its end (no terminal): the guest's output still went
        // to stdout before it ended, and nothing was made raw.
        fx.store
            .set_tty(fx.console.path.as_os_str().as_encoded_bytes())?;
        let out = Command::new("setpriv")
            .args([
                format!("--reuid={ALICE}"),
                format!("--regid={ALICE}"),
                format!("--groups={ALICE},{VIRT}"),
            ])
            .arg(&fx.exe)
            .arg(NAME)
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        check(
            out.status.code() == Some(0) && out.stderr.is_empty(),
            format!(
                "stdin EOF: {:?}, {:?}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        )?;
        Ok(())
    });
    verdict.expect("ways out");
}

/// Installs a setuid copy at `base/usr/lib/xen/bin/xenconsole`, the
/// directories below `base` root's and 0755.
fn install_under(base: &Path) -> R<std::path::PathBuf> {
    let bin = base.join("usr/lib/xen/bin");
    std::fs::create_dir_all(&bin).map_err(Error::io("mkdir", &bin))?;
    for d in ["usr", "usr/lib", "usr/lib/xen", "usr/lib/xen/bin"] {
        std::fs::set_permissions(base.join(d), std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod", base.join(d)))?;
    }
    copy_binary(env!("CARGO_BIN_EXE_xenconsole"), &bin, "xenconsole", 0o4755)
}

#[test]
fn a_tree_others_could_change_is_not_trusted() {
    if !require_root("a_tree_others_could_change_is_not_trusted") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("xc-root", |root| {
        // The accounts and a store, so that only the tree is at fault.
        let fx = Fixture::new(root)?;
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
                .map_err(|e| e.to_string())
        };
        let loose = root.join("loose");
        std::fs::create_dir(&loose).map_err(|e| e.to_string())?;
        mode(&loose, 0o775)?;
        let alices = root.join("alices");
        std::fs::create_dir(&alices).map_err(|e| e.to_string())?;
        mode(&alices, 0o755)?;
        std::os::unix::fs::chown(&alices, Some(ALICE), Some(ALICE)).map_err(|e| e.to_string())?;
        // A sticky directory is passed only towards a child of root's.
        let sticky = root.join("sticky");
        std::fs::create_dir(&sticky).map_err(|e| e.to_string())?;
        mode(&sticky, 0o1777)?;
        let in_sticky = sticky.join("t");
        std::fs::create_dir(&in_sticky).map_err(|e| e.to_string())?;
        mode(&in_sticky, 0o755)?;
        std::os::unix::fs::chown(&in_sticky, Some(ALICE), Some(ALICE))
            .map_err(|e| e.to_string())?;
        let tail = "only a tree nobody but root can change is trusted by a set-id xenconsole";
        for (base, want) in [
            (
                &loose,
                format!("{}: owned by uid 0, mode 0775: {tail}", loose.display()),
            ),
            (
                &alices,
                format!(
                    "{}: owned by uid {ALICE}, mode 0755: {tail}",
                    alices.display()
                ),
            ),
            (
                &in_sticky,
                format!("{}: owned by uid 0, mode 1777: {tail}", sticky.display()),
            ),
        ] {
            let exe = install_under(base)?;
            let term = Term::new(ALICE)?;
            write_all(&fx.console.master, b"guest output\r\n")?;
            let child = spawn_as(&exe, ALICE, &[ALICE, VIRT], &term, &[NAME], &[])?;
            let (code, err) = finish(child, 10)?;
            check(
                (code, err.as_str()) == (1, format!("xenconsole: {want}\n").as_str()),
                format!("{}: exit {code}, {err:?}", base.display()),
            )?;
            check(
                drain(&term.pty.master, 100)?.is_empty(),
                "bytes reached the terminal",
            )?;
        }
        Ok(())
    });
    verdict.expect("trusted root");
}
