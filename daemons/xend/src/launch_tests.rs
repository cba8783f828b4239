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
        nics: Vec::new(),
        incoming: false,
    }
}

#[test]
fn a_directory_that_cannot_be_made_is_step_1() {
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
fn a_socket_that_cannot_be_bound_is_step_2_and_the_directory_goes() {
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

/// A leftover domain directory is cleared, not reused: a stale socket in
/// it would make step 2's bind fail, and does not.
#[test]
fn a_leftover_directory_is_cleared_and_one_that_cannot_be_is_refused() {
    let root = Scratch::new("run-leftover");
    let dir = root.join("domains/3");
    std::fs::create_dir_all(&dir).expect("leftover");
    let stale = std::os::unix::net::UnixListener::bind(dir.join("qmp")).expect("stale qmp");
    drop(stale);
    std::fs::write(dir.join("state.json"), "{}").expect("stale state");
    let e = run(prepared(dir.clone())).expect_err("no qemu");
    assert!(
        matches!(&e, RunError::Spawn(_)),
        "got past steps 1-4: {e:?}"
    );
    assert!(
        !dir.exists(),
        "the directory is removed after a failed step"
    );
    // A leftover that is no directory cannot be cleared: refused at step
    // 1, and left as it was.
    std::fs::write(&dir, "not a directory").expect("file");
    let e = run(prepared(dir.clone())).expect_err("refused");
    assert!(
        matches!(&e, RunError::Dir { path, .. } if *path == dir),
        "{e:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&dir).expect("left"),
        "not a directory"
    );
}

/// `prepared` with VNC on `vnclisten`.
fn with_vnc(dir: PathBuf, vnclisten: &str) -> Prepared {
    let mut p = prepared(dir);
    let text = format!("{}vnc = 1\nvnclisten = '{vnclisten}'\n", p.text);
    p.config = config::parse(Path::new("g.cfg"), &text).expect("config");
    p.text = text;
    p
}

#[test]
fn a_vnc_port_in_use_is_step_2_naming_the_address_and_the_directory_goes() {
    let root = Scratch::new("run-vnc");
    let dir = root.join("domains/3");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = taken.local_addr().expect("addr");
    let e = run(with_vnc(dir.clone(), &at.to_string())).expect_err("in use");
    assert!(
        matches!(&e, RunError::Vnc { domid: 3, source: crate::vnc::VncError::InUse { addr } } if *addr == at),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("domain 3: VNC address {at} is in use")),
        "{e}"
    );
    assert!(
        !dir.exists(),
        "the directory is removed after a failed step"
    );
    // Free: step 2 passes (the launch fails later, at the missing qemu),
    // and the listener goes with the failed launch. A port freed here can
    // be taken at once by another test of this binary (each binds or
    // connects from the ephemeral range), so a port someone else took is
    // tried again with another; a launch that kept its listener fails all
    // five.
    drop(taken);
    let mut at = at;
    for _ in 0..5 {
        match run(with_vnc(dir.clone(), &at.to_string())).expect_err("no qemu") {
            RunError::Vnc {
                source: crate::vnc::VncError::InUse { .. },
                ..
            } => {}
            e => {
                assert!(matches!(&e, RunError::Spawn(_)), "got past step 2: {e:?}");
                if std::net::TcpListener::bind(at).is_ok() {
                    return;
                }
            }
        }
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        at = free.local_addr().expect("addr");
    }
    panic!("five free ports in a row stayed in use after a failed launch");
}

/// A card whose backend cannot be made fails step 3, naming the card's
/// interface, and the directory goes (a name the kernel would refuse is
/// refused before any privilege is raised or any tap made, so this needs
/// neither root nor a namespace).
#[test]
fn a_card_whose_tap_cannot_be_made_is_step_3_and_the_directory_goes() {
    let root = Scratch::new("run-net");
    let dir = root.join("domains/3");
    let mut p = prepared(dir.clone());
    p.nics = vec![crate::net::NicPlan {
        index: 1_000_000_000_000,
        vif: config::Vif {
            bridge: None,
            mac: None,
            model: config::NicModel::E1000,
        },
        mac: config::Mac([0, 0x16, 0x3e, 0, 0, 1]),
        kind: crate::net::BackendKind::Tap {
            bridge: "xenbr0".into(),
        },
    }];
    let e = run(p).expect_err("no tap");
    assert!(matches!(&e, RunError::Net(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("\"vif3.1000000000000\": not a valid interface name"),
        "{e}"
    );
    assert!(
        !dir.exists(),
        "the directory is removed after a failed step"
    );
}
