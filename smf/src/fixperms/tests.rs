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
