//! xvm-fixperms on a tree with wrong owners (root, hermetic): --dry-run
//! lists and changes nothing, a real run fixes, a second run prints
//! nothing, and a planted symlink never redirects a chown.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use privlib::testing::{fake_users, in_private_tmpfs, root_or_skip};

const XVM: u32 = 48_600;

fn owner(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(p).expect("stat");
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

fn fixperms(root: &Path, dry: bool) -> Result<(i32, String, String), String> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xvm-fixperms"));
    c.arg("--root").arg(root);
    if dry {
        c.arg("--dry-run");
    }
    let o = c.output().map_err(|e| e.to_string())?;
    Ok((
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

#[test]
fn dry_run_lists_a_real_run_fixes_and_a_second_run_is_silent() {
    if !root_or_skip("dry_run_lists_a_real_run_fixes_and_a_second_run_is_silent") {
        return;
    }
    let verdict = in_private_tmpfs("fixperms", |base| {
        fake_users(base, &[("xvm", XVM)], &[])?;
        let root = base.join("root");
        let e = |e: std::io::Error| e.to_string();
        // An old installation: root-owned, world-readable, with content.
        let domains = root.join("var/lib/xend/domains");
        std::fs::create_dir_all(&domains).map_err(e)?;
        std::fs::set_permissions(&domains, std::fs::Permissions::from_mode(0o755)).map_err(e)?;
        std::fs::write(domains.join("guest.cfg"), "name = \"g\"\n").map_err(e)?;
        std::fs::create_dir_all(root.join("run/xenstored")).map_err(e)?;
        std::os::unix::fs::chown(root.join("run/xenstored"), Some(XVM), Some(0)).map_err(e)?;
        // A trap: a symlink to a file outside, where a naive chown -R goes.
        let secret = base.join("secret");
        std::fs::write(&secret, "x").map_err(e)?;
        std::os::unix::fs::symlink(&secret, domains.join("evil")).map_err(e)?;
        // And a hard link to a file outside.
        let shadow = base.join("shadow");
        std::fs::write(&shadow, "y").map_err(e)?;
        std::fs::hard_link(&shadow, domains.join("linked")).map_err(e)?;
        // And a symlinked directory on the way to one of ours.
        std::fs::create_dir_all(root.join("var/log")).map_err(e)?;
        std::fs::create_dir_all(base.join("elsewhere")).map_err(e)?;
        std::os::unix::fs::symlink(base.join("elsewhere"), root.join("var/log/xen")).map_err(e)?;

        let before = owner(&domains);
        let (code, out, err) = fixperms(&root, true)?;
        // var/log/xen behind a symlink cannot be fixed: exit 1, said so.
        check(code == 1, format!("dry run exit {code}: {err}"))?;
        for want in [
            format!("chown 0:0 -> {XVM}:{XVM} {}", domains.display()),
            format!("chmod 0755 -> 0700 {}", domains.display()),
            format!(
                "chown 0:0 -> {XVM}:{XVM} {}",
                domains.join("guest.cfg").display()
            ),
            format!(
                "chown {XVM}:0 -> {XVM}:{XVM} {}",
                root.join("run/xenstored").display()
            ),
            format!(
                "mkdir {} ({XVM}:{XVM} 0700)",
                root.join("var/xen/dump").display()
            ),
        ] {
            check(
                out.lines().any(|l| l == want),
                format!("dry run lacks \"{want}\":\n{out}"),
            )?;
        }
        check(
            !out.contains("evil") && !out.contains("secret") && !out.contains("linked"),
            format!("a link in the plan:\n{out}"),
        )?;
        check(
            err.contains("linked: 2 hard links; left alone"),
            format!("the hard link is not reported: {err}"),
        )?;
        check(
            err.contains("evil: a symlink; left alone"),
            format!("the symlink is not reported: {err}"),
        )?;
        check(
            err.contains("var/log/xen: a symlink on the way; left alone")
                && err.lines().count() == 3,
            err.clone(),
        )?;
        check(owner(&domains) == before, "the dry run changed an owner")?;
        check(
            !root.join("var/xen/dump").exists(),
            "the dry run made a directory",
        )?;

        let (code, out2, err) = fixperms(&root, false)?;
        check(code == 1, format!("real run exit {code}: {err}"))?;
        check(
            out2 == out,
            format!("the real run did other things than planned:\n{out2}\nvs\n{out}"),
        )?;
        check(
            owner(&domains) == (XVM, XVM, 0o700),
            format!("domains: {:?}", owner(&domains)),
        )?;
        check(
            owner(&domains.join("guest.cfg")).0 == XVM,
            "guest.cfg not chowned",
        )?;
        check(
            owner(&root.join("var/xen/dump")) == (XVM, XVM, 0o700),
            "dump",
        )?;
        check(
            owner(&root.join("run/xenstored")) == (XVM, XVM, 0o755),
            "run/xenstored",
        )?;
        check(owner(&secret).0 == 0, "the symlink's target was chowned")?;
        check(
            owner(&base.join("elsewhere")).0 == 0,
            "a symlinked directory was followed",
        )?;

        check(
            owner(&shadow).0 == 0,
            "a hard link's other name was chowned",
        )?;

        // The symlink gone, the run makes the directory and succeeds; the
        // next one has nothing to do.
        std::fs::remove_file(root.join("var/log/xen")).map_err(e)?;
        let (code, out3, err) = fixperms(&root, false)?;
        let want = format!(
            "mkdir {} ({XVM}:{XVM} 0750)\n",
            root.join("var/log/xen").display()
        );
        check(
            code == 0 && out3 == want,
            format!("third run: exit {code}\n{out3}{err}"),
        )?;
        let (code, out4, _) = fixperms(&root, false)?;
        check(
            code == 0 && out4.is_empty(),
            format!("fourth run printed:\n{out4}"),
        )
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
