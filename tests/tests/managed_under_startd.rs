//! A managed domain under the restarter (root, hermetic): `svc-startd
//! --system` with `XVM_ROOT` runs the shipped manifests (fixperms, the
//! store, xend), which lay out the tree as a real host has it; `xm new`,
//! `xm list`, `xm start`, `xm destroy` and `xm delete` then work as alice
//! (virt_manage by group alone), and the daemons run as xvm.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use xvm_tests::manifest::{Startd, shipped_manifests};
use xvm_tests::procfs::{process_of, runs};
use xvm_tests::{Accounts, Error, Hermetic, check, require_program, require_root, wait_for_socket};

/// The shipped manifests with xend's device-model range moved from
/// 200000 to this, clear of a real stack's domains on the same host.
const IDS: Accounts = Accounts {
    dm_base: 290_000,
    ..Accounts::from_base(48_880)
};

/// The shipped manifests ([`shipped_manifests`]) with xend's
/// `dm-uid-base` set to `IDS.dm_base`, checked to be there.
fn manifests(dir: &Path) -> Result<PathBuf, Error> {
    let ours = shipped_manifests(dir, IDS.dm_base)?;
    let xend = std::fs::read_to_string(ours.join("xvm-xend.xml")).unwrap_or_default();
    check(
        xend.contains(&IDS.dm_base.to_string()),
        "xvm-xend.xml no longer sets dm-uid-base to 200000: update this test",
    )?;
    Ok(ours)
}

#[test]
fn xm_new_start_and_delete_a_managed_domain_under_svc_startd() {
    let test = "xm_new_start_and_delete_a_managed_domain_under_svc_startd";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let r = (|| {
        let tree = Hermetic::new("managed-startd", IDS)?;
        let manifests = manifests(tree.base())?;
        let startd = Startd::spawn(&tree, &manifests)?;
        let sock = tree.root().join("run/xend/xmlrpc.sock");
        wait_for_socket(&sock, Duration::from_secs(30)).map_err(|e| {
            Error::Check(format!("{e}; svc-startd's log:\n{}", startd.0.log_text()))
        })?;

        // The tree as a real host has it: every parent reachable, the
        // xVM directories xvm's.
        for d in ["var", "var/lib", "run"] {
            let m = std::fs::metadata(tree.root().join(d)).map_err(Error::io("stat", d))?;
            check(
                m.permissions().mode() & 0o005 == 0o005,
                format!(
                    "{d} is {:o}: xvm cannot reach below it",
                    m.permissions().mode()
                ),
            )?;
        }
        for d in [
            "var/lib/xend",
            "var/lib/xend/domains",
            "var/lib/xend/storage",
        ] {
            let m = std::fs::metadata(tree.root().join(d)).map_err(Error::io("stat", d))?;
            check(
                m.uid() == IDS.xvm,
                format!("{d} belongs to uid {}", m.uid()),
            )?;
        }
        let xend = process_of(IDS.xvm)?;
        check(runs(xend), "no daemon runs as xvm")?;

        let cfg = tree.test_guest("var/lib/xend/storage", &xend::testguest::image())?;
        let cfg = cfg.display().to_string();
        let alice = IDS.alice();
        let xm = |args: &[&str]| xvm_tests::stack::xm(tree.root(), &alice, args);
        let r = xm(&["new", &cfg])?;
        check(
            r.code == 0 && r.out == "Domain testguest stored\n",
            format!(
                "xm new: {}{}\nsvc-startd's log:\n{}",
                r.out,
                r.err,
                startd.0.log_text()
            ),
        )?;
        let stored = tree.root().join("var/lib/xend/domains/testguest.cfg");
        check(stored.exists(), "xm new stored no config")?;
        let r = xm(&["list"])?.ok("xm list")?;
        check(
            r.lists("testguest", "-"),
            format!("the stopped domain in xm list:\n{}", r.out),
        )?;
        let r = xm(&["start", "testguest"])?;
        check(
            r.code == 0 && r.out.starts_with("Started domain testguest"),
            format!("xm start: {}{}", r.out, r.err),
        )?;
        let r = xm(&["list"])?.ok("xm list")?;
        check(
            r.lists("testguest", "1"),
            format!("the started domain in xm list:\n{}", r.out),
        )?;
        let qemu = process_of(IDS.dm_base + 1)?;
        let r = xm(&["delete", "testguest"])?;
        check(
            r.code == 1 && r.err.contains("is running"),
            format!("xm delete of a running domain: {} {}", r.code, r.err),
        )?;
        xm(&["destroy", "testguest"])?.ok("xm destroy")?;
        check(!runs(qemu), "qemu runs on after xm destroy")?;
        let r = xm(&["delete", "testguest"])?;
        check(
            r.code == 0 && !stored.exists(),
            format!("xm delete: {} {}", r.code, r.err),
        )?;
        let r = xm(&["list"])?.ok("xm list")?;
        check(
            !r.out.lines().any(|l| l.starts_with("testguest")),
            format!("a deleted domain in xm list:\n{}", r.out),
        )
    })();
    if let Err(e) = r {
        panic!("{e}");
    }
}
