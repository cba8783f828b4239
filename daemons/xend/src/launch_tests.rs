//! run's first steps fail by name and leave nothing behind (no root
//! needed: they fail before any process is started).

use std::path::{Path, PathBuf};

use super::{RunError, run};
use crate::config;
use crate::dm::prepare::Prepared;
use crate::scratch::Scratch;

fn prepared(dir: PathBuf) -> Prepared {
    let text = "name = \"g\"\ntype = \"hvm\"\nmemory = 32\n";
    Prepared {
        domid: 3,
        uid: 300_003,
        gid: 300_003,
        groups: Some(Vec::new()),
        kvm: false,
        qemu: PathBuf::from("/nonexistent/qemu"),
        config: config::parse(Path::new("g.cfg"), text).expect("config"),
        disks: Vec::new(),
        dir,
        dm_range: true,
        uuid: "00000000-0000-4000-8000-000000000003".into(),
        source: "g.cfg".into(),
        text: text.into(),
        xenstore: PathBuf::from("/nonexistent/xenstored"),
    }
}

#[test]
fn a_directory_that_cannot_be_made_is_step_2() {
    let root = Scratch::new("run-dir");
    std::fs::write(root.join("file"), "").expect("file");
    let dir = root.join("file/domains/3");
    let e = run(prepared(dir.clone())).expect_err("no directory under a file");
    assert!(
        matches!(&e, RunError::Dir { path, .. } if *path == dir),
        "{e:?}"
    );
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
}

#[test]
fn a_socket_that_cannot_be_bound_is_step_3_and_the_directory_goes() {
    let root = Scratch::new("run-socket");
    // Longer than a unix socket's path may be (108 bytes).
    let dir = root.join("d".repeat(120)).join("3");
    let e = run(prepared(dir.clone())).expect_err("no socket");
    assert!(
        matches!(&e, RunError::Socket { path, .. } if *path == dir.join("qmp")),
        "{e:?}"
    );
    assert!(
        !dir.exists(),
        "the directory is removed after a failed step"
    );
}
