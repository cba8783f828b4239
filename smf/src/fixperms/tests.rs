//! The report's failures are typed: the node and the cause, not a line.

use std::os::unix::fs::MetadataExt;

use super::{Failure, Plan};
use crate::layout::{Dir, Owner};

static DIRS: [Dir; 2] = [
    Dir {
        path: "var/lib/xvm",
        mode: 0o750,
        owner: Owner::Daemons,
    },
    Dir {
        path: "var/lib/xvm/deep",
        mode: 0o750,
        owner: Owner::Daemons,
    },
];

#[test]
fn a_listed_directory_behind_a_symlink_is_a_typed_failure_naming_it() {
    let root = std::env::temp_dir().join(format!("fixperms-typed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("var/lib")).expect("dirs");
    std::fs::create_dir_all(root.join("elsewhere")).expect("target");
    std::os::unix::fs::symlink(root.join("elsewhere"), root.join("var/lib/xvm")).expect("link");
    let me = std::fs::metadata("/proc/self").expect("self");
    let r = Plan {
        root: root.clone(),
        uid: me.uid(),
        gid: me.gid(),
        dry_run: false,
        dirs: &DIRS,
    }
    .run();
    let linked = root.join("var/lib/xvm");
    // The one beneath it is reached through the symlink too: refused.
    for at in [linked.clone(), linked.join("deep")] {
        assert!(
            r.failures
                .iter()
                .any(|f| matches!(f, Failure::Symlink { path } if *path == at)),
            "{}: {:?}",
            at.display(),
            r.failures
        );
    }
    assert!(
        !root.join("elsewhere/deep").exists(),
        "made through the link"
    );
    let said = r.failures[0].to_string();
    assert!(
        said.ends_with(": a symlink on the way; left alone"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

static SHARED: [Dir; 1] = [Dir {
    path: "run/libvirt",
    mode: 0o711,
    owner: Owner::Shared,
}];

#[test]
fn a_shared_directory_is_made_kept_right_while_ours_and_left_alone_when_anothers() {
    let root = std::env::temp_dir().join(format!("fixperms-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("run")).expect("dirs");
    let me = std::fs::metadata("/proc/self").expect("self");
    let plan = |uid: u32| Plan {
        root: root.clone(),
        uid,
        gid: me.gid(),
        dry_run: false,
        dirs: &SHARED,
    };
    let dir = root.join("run/libvirt");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").mode() & 0o7777;
    // Missing: made, ours, at its mode.
    let r = plan(me.uid()).run();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(mode(&dir), 0o711);
    // Ours with a wrong mode: made right; its contents never walked.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    std::fs::write(dir.join("libvirtd.pid"), "1\n").expect("file");
    std::fs::set_permissions(
        dir.join("libvirtd.pid"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let r = plan(me.uid()).run();
    assert_eq!(mode(&dir), 0o711, "{r:?}");
    assert_eq!(mode(&dir.join("libvirtd.pid")), 0o644, "walked: {r:?}");
    // Another's (the daemons are some other uid here): left alone, said.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let r = plan(me.uid().wrapping_add(4242)).run();
    assert!(r.failures.is_empty() && r.changes.is_empty(), "{r:?}");
    assert_eq!(mode(&dir), 0o755);
    assert!(
        r.left_alone
            .iter()
            .any(|l| l.contains("run/libvirt") && l.contains("left alone")),
        "{:?}",
        r.left_alone
    );
    let _ = std::fs::remove_dir_all(&root);
}
