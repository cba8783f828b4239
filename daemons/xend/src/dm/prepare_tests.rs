//! prepare's refusals on a made-up host (no root needed), and that a
//! launch it accepts has made nothing yet.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Host, PrepareError, Prepared, Request, prepare};
use crate::config::{self, DomainConfig};
use crate::disk::{DiskError, OpenDisk};
use crate::dm::prepare::OpenImage;
use crate::domain::Settings;
use crate::scratch::Scratch;

pub(super) const BASE: u32 = 300_000;
pub(super) const DOMID: u32 = 3;

/// A made-up host in a fresh directory: an image directory with one
/// image, an executable qemu, empty subid files, a limits table.
pub(super) struct Fake {
    pub(super) root: Scratch,
}

impl Fake {
    pub(super) fn new(test: &str) -> Fake {
        let root = Scratch::new(&format!("prepare-{test}"));
        std::fs::create_dir_all(root.join("images")).expect("images");
        std::fs::create_dir_all(root.join("bin")).expect("bin");
        std::fs::write(root.join("images/guest.img"), [0u8; 512]).expect("image");
        let qemu = root.join("bin/qemu");
        std::fs::write(&qemu, "#!/bin/sh\n").expect("qemu");
        std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(root.join("subuid"), "").expect("subuid");
        std::fs::write(
            root.join("limits"),
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max open files            1024                 4096                 files\n",
        )
        .expect("limits");
        Fake { root }
    }

    pub(super) fn settings(&self) -> Settings {
        Settings {
            system: true,
            dm_range: true,
            run: self.root.join("run"),
            image_dirs: vec![self.root.join("images")],
            dm_uid_base: BASE,
            dm_uid_count: 100,
            kvm: false,
            kvm_gid: None,
            xenstore: self.root.join("no-xenstored"),
            qemu: self.root.join("bin/qemu"),
            shutdown_timeout: Duration::from_secs(1),
            managed: self.root.join("managed"),
            features: crate::features::Features::default(),
            bridges: crate::features::Bridges::Any,
        }
    }

    pub(super) fn host(&self) -> Host {
        Host {
            subid: vec![self.root.join("subuid")],
            dev: PathBuf::from("/dev"),
            limits: self.root.join("limits"),
            path: None,
            groups: Vec::new(),
        }
    }

    /// `c` prepared with these settings on this host, for the domain's
    /// own ids; it must be.
    pub(super) fn prepared(&self, c: &DomainConfig) -> Prepared {
        prepare(
            &self.settings(),
            request(c, BASE + DOMID, BASE + DOMID),
            &self.host(),
        )
        .expect("prepared")
    }

    pub(super) fn config(&self, disk: &Path) -> DomainConfig {
        let text = format!(
            "name = \"g\"\ntype = \"hvm\"\nmemory = 32\ndisk = [ '{},raw,hda,rw' ]\n",
            disk.display()
        );
        config::parse(Path::new("g.cfg"), &text).expect("config")
    }

    pub(super) fn image(&self) -> PathBuf {
        self.root.join("images/guest.img")
    }
}

pub(super) fn request(c: &DomainConfig, uid: u32, gid: u32) -> Request<'_> {
    Request {
        domid: DOMID,
        uid,
        gid,
        config: c,
        uuid: "00000000-0000-4000-8000-000000000003",
        source: "g.cfg",
        text: "",
    }
}

/// prepare's refusal with `s` and `host`, for the domain's own ids.
pub(super) fn refused(s: &Settings, host: &Host, c: &DomainConfig) -> PrepareError {
    prepare(s, request(c, BASE + DOMID, BASE + DOMID), host).expect_err("refused")
}

#[test]
fn a_good_launch_is_prepared_and_nothing_is_made() {
    let f = Fake::new("good");
    let c = f.config(&f.image());
    let p = f.prepared(&c);
    assert_eq!(p.disks.len(), 1);
    assert_eq!(p.qemu, f.root.join("bin/qemu"));
    assert_eq!(p.dir, f.root.join("run/domains/3"));
    assert_eq!(p.groups, Some(Vec::new()));
    assert!(
        !f.root.join("run").exists(),
        "prepare made the run directory"
    );
}

#[test]
fn ids_outside_the_range_or_zero_are_refused() {
    let f = Fake::new("ids");
    let (s, host, c) = (f.settings(), f.host(), f.config(&f.image()));
    let e = prepare(&s, request(&c, BASE + DOMID + 1, BASE + DOMID + 1), &host).expect_err("uid");
    assert!(
        matches!(e, PrepareError::OutsideRange { uid, .. } if uid == BASE + DOMID + 1),
        "{e:?}"
    );
    let e = prepare(&s, request(&c, BASE + DOMID, 100), &host).expect_err("gid");
    assert!(
        matches!(e, PrepareError::GidNotUid { gid: 100, .. }),
        "{e:?}"
    );
    let e = prepare(&s, request(&c, 0, 0), &host).expect_err("root");
    assert!(matches!(e, PrepareError::RootId { .. }), "{e:?}");
    let kvm0 = Settings {
        kvm_gid: Some(0),
        ..s.clone()
    };
    let e = refused(&kvm0, &host, &c);
    assert!(matches!(e, PrepareError::RootId { .. }), "{e:?}");
    // Session mode: the user's own ids, but never root's.
    let session = Settings {
        dm_range: false,
        ..s
    };
    let e = prepare(&session, request(&c, 0, 1000), &host).expect_err("root");
    assert!(matches!(e, PrepareError::RootId { .. }), "{e:?}");
    prepare(&session, request(&c, 1000, 1000), &host).expect("a user's own uid");
}

#[test]
fn a_uid_a_user_may_map_is_refused() {
    let f = Fake::new("subid");
    std::fs::write(f.root.join("subuid"), format!("alice:{BASE}:65536\n")).expect("subuid");
    let e = refused(&f.settings(), &f.host(), &f.config(&f.image()));
    assert!(matches!(e, PrepareError::Subid(_)), "{e:?}");
    assert!(e.to_string().contains("alice"), "{e}");
}

#[test]
fn a_missing_or_unusable_qemu_is_refused() {
    let f = Fake::new("qemu");
    let (host, c) = (f.host(), f.config(&f.image()));
    let with = |qemu: PathBuf| Settings {
        qemu,
        ..f.settings()
    };
    let e = refused(&with(f.root.join("bin/none")), &host, &c);
    assert!(matches!(e, PrepareError::Qemu { .. }), "{e:?}");
    let e = refused(&with(PathBuf::from("qemu")), &host, &c);
    assert!(matches!(e, PrepareError::QemuNotFound { .. }), "{e:?}");
    let e = refused(&with(f.root.join("bin")), &host, &c);
    assert!(matches!(e, PrepareError::QemuNotAFile { .. }), "{e:?}");
    let qemu = f.root.join("bin/qemu");
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o744)).expect("chmod");
    let e = refused(&with(qemu.clone()), &host, &c);
    assert!(matches!(e, PrepareError::QemuNotExecutable { .. }), "{e:?}");
    assert!(e.to_string().contains(&qemu.display().to_string()), "{e}");
    // A bare name is looked up in PATH.
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let on_path = Host {
        path: Some(f.root.join("bin").into_os_string()),
        ..host
    };
    let p = prepare(
        &with(PathBuf::from("qemu")),
        request(&c, BASE + DOMID, BASE + DOMID),
        &on_path,
    )
    .expect("found in PATH");
    assert_eq!(p.qemu, qemu);
}

#[test]
fn a_disk_outside_the_image_directories_or_one_too_many_is_refused() {
    let f = Fake::new("disks");
    let outside = f.root.join("outside.img");
    std::fs::write(&outside, [0u8; 512]).expect("image");
    let e = refused(&f.settings(), &f.host(), &f.config(&outside));
    assert!(
        matches!(
            e,
            PrepareError::Disk {
                source: DiskError::Outside { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&outside.display().to_string()),
        "{e}"
    );
    let mut five = f.config(&f.image());
    let one = five.disks[0].clone();
    five.disks.extend(std::iter::repeat_n(one, 4));
    let e = refused(&f.settings(), &f.host(), &five);
    assert!(
        matches!(e, PrepareError::TooManyDisks { count: 5, .. }),
        "{e:?}"
    );
}

#[test]
fn missing_device_nodes_are_refused() {
    let f = Fake::new("nodes");
    let dev = f.root.join("dev");
    std::fs::create_dir_all(&dev).expect("dev");
    let host = Host {
        dev: dev.clone(),
        ..f.host()
    };
    let e = refused(&f.settings(), &host, &f.config(&f.image()));
    assert!(matches!(e, PrepareError::Node { .. }), "{e:?}");
    for n in ["null", "zero", "urandom"] {
        std::fs::write(dev.join(n), "").expect("node");
    }
    let e = refused(&f.settings(), &host, &f.config(&f.image()));
    assert!(matches!(e, PrepareError::NotADevice { .. }), "{e:?}");
    assert!(e.to_string().contains("null"), "{e}");
}

#[test]
fn a_hard_limit_below_the_device_models_is_refused() {
    let f = Fake::new("limits");
    let (s, host, c) = (f.settings(), f.host(), f.config(&f.image()));
    std::fs::write(
        &host.limits,
        "Max open files            64                   512                  files\n",
    )
    .expect("limits");
    let e = refused(&s, &host, &c);
    assert!(
        matches!(e, PrepareError::NofileTooLow { hard: 512, .. }),
        "{e:?}"
    );
    std::fs::write(
        &host.limits,
        "Max open files  unlimited  unlimited  files\n",
    )
    .expect("limits");
    prepare(&s, request(&c, BASE + DOMID, BASE + DOMID), &host).expect("unlimited");
    std::fs::write(&host.limits, "Max processes  10  10  processes\n").expect("limits");
    let e = refused(&s, &host, &c);
    assert!(matches!(e, PrepareError::LimitsUnreadable { .. }), "{e:?}");
    std::fs::write(&host.limits, "Max open files  64  lots  files\n").expect("limits");
    let e = refused(&s, &host, &c);
    assert!(matches!(e, PrepareError::LimitsNumber { .. }), "{e:?}");
    // This process's own table reads.
    let real = Host {
        limits: PathBuf::from("/proc/self/limits"),
        ..host
    };
    assert!(super::hard_nofile(&real.limits).is_ok());
}

#[test]
fn the_group_bits_count_for_the_device_models_groups() {
    use std::os::unix::fs::MetadataExt;
    let f = Fake::new("groups");
    let qemu = f.root.join("bin/qemu");
    let mut gid = std::fs::metadata(&qemu).expect("stat").gid();
    if gid == 0 {
        // As root: a group of its own (kvm is never group 0).
        std::os::unix::fs::chown(&qemu, None, Some(4_000_002)).expect("chgrp");
        gid = 4_000_002;
    }
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let c = f.config(&f.image());
    // Device-model range: its only supplementary group is kvm's.
    let kvm = |kvm_gid| Settings {
        kvm_gid,
        ..f.settings()
    };
    prepare(
        &kvm(Some(gid)),
        request(&c, BASE + DOMID, BASE + DOMID),
        &f.host(),
    )
    .expect("executable through the kvm group");
    let e = refused(&kvm(None), &f.host(), &c);
    assert!(matches!(e, PrepareError::QemuNotExecutable { .. }), "{e:?}");
    // Session mode: the device model keeps xend's own groups.
    let session = Settings {
        dm_range: false,
        ..f.settings()
    };
    let (uid, other) = (4_000_001, 4_000_001);
    let with = |groups| Host { groups, ..f.host() };
    prepare(&session, request(&c, uid, other), &with(vec![gid])).expect("through xend's group");
    let e = prepare(&session, request(&c, uid, other), &with(Vec::new())).expect_err("no group");
    assert!(matches!(e, PrepareError::QemuNotExecutable { .. }), "{e:?}");
}

#[test]
fn the_disks_are_a_blockdev_graph_of_fdsets_on_ide_slots() {
    let f = Fake::new("blockdev");
    let img = f.image();
    let iso = f.root.join("images/cd.iso");
    std::fs::write(&iso, [0u8; 2048]).expect("iso");
    let c = crate::config::parse(
        Path::new("g.cfg"),
        &format!(
            "name = \"g\"\ntype = \"hvm\"\nmemory = 32\ndisk = [ '{},raw,hdb,rw', '{},raw,hdc:cdrom,r' ]\n",
            img.display(),
            iso.display()
        ),
    )
    .expect("config");
    let p = f.prepared(&c);
    let a = crate::dm::blockdev::args(&p);
    let joined = a.join(" ");
    // hdb: ro and rw fds in set 1; hdc: its one read-only fd in set 2.
    assert!(
        joined.starts_with("-add-fd fd=5,set=1 -add-fd fd=6,set=1 "),
        "{joined}"
    );
    assert!(joined.contains("-add-fd fd=7,set=2 "), "{joined}");
    assert!(!joined.contains("fd=8"), "{joined}");
    let nodes = blockdev_nodes(&a);
    assert_eq!(
        nodes,
        [
            serde_json::json!({"driver":"file","node-name":"d1-0f","filename":"/dev/fdset/1","read-only":false}),
            serde_json::json!({"driver":"raw","node-name":"d1-0","file":"d1-0f","read-only":false}),
            serde_json::json!({"driver":"file","node-name":"d2-0f","filename":"/dev/fdset/2","read-only":true}),
            serde_json::json!({"driver":"raw","node-name":"d2-0","file":"d2-0f","read-only":true}),
        ]
    );
    assert!(
        joined.contains("-device ide-hd,drive=d1-0,bus=ide.0,unit=1"),
        "{joined}"
    );
    assert!(
        joined.contains("-device ide-cd,drive=d2-0,bus=ide.1,unit=0"),
        "{joined}"
    );
    assert!(!joined.contains("-drive"), "{joined}");
    // No path of an image reaches qemu's command line.
    assert!(!joined.contains(&img.display().to_string()), "{joined}");
    assert_eq!(crate::dm::blockdev::fds(&p).len(), 3);
}

/// The JSON of each `-blockdev` in qemu arguments `a`, in order.
fn blockdev_nodes(a: &[String]) -> Vec<serde_json::Value> {
    a.iter()
        .zip(a.iter().skip(1))
        .filter(|(flag, _)| *flag == "-blockdev")
        .map(|(_, v)| serde_json::from_str(v).expect("json"))
        .collect()
}

#[test]
fn a_qcow2_chain_is_one_node_pair_per_file_bottom_first_each_on_its_own_fdset() {
    let test = "a_qcow2_chain_is_one_node_pair_per_file_bottom_first_each_on_its_own_fdset";
    if !xvm_tests::require_program(test, "qemu-img", "qemu-utils") {
        return;
    }
    let f = Fake::new("blockdev-chain");
    let images = f.root.join("images");
    let made = std::process::Command::new("qemu-img")
        .current_dir(&images)
        .args([
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "guest.img",
            "-F",
            "raw",
            "top.qcow2",
        ])
        .status()
        .expect("qemu-img runs");
    assert!(made.success());
    let c = config::parse(
        Path::new("g.cfg"),
        &format!(
            "name = \"g\"\ntype = \"hvm\"\nmemory = 32\ndisk = [ '{},qcow2,xvda,rw' ]\n",
            images.join("top.qcow2").display()
        ),
    )
    .expect("config");
    let p = f.prepared(&c);
    let a = crate::dm::blockdev::args(&p);
    let joined = a.join(" ");
    // The top: ro and rw in set 1; the backing file: read-only in set 2.
    assert!(
        joined.starts_with("-add-fd fd=5,set=1 -add-fd fd=6,set=1 -add-fd fd=7,set=2 -blockdev"),
        "{joined}"
    );
    let nodes = blockdev_nodes(&a);
    assert_eq!(
        nodes,
        [
            serde_json::json!({"driver":"file","node-name":"d0-1f","filename":"/dev/fdset/2","read-only":true}),
            serde_json::json!({"driver":"raw","node-name":"d0-1","file":"d0-1f","read-only":true}),
            serde_json::json!({"driver":"file","node-name":"d0-0f","filename":"/dev/fdset/1","read-only":false}),
            serde_json::json!({"driver":"qcow2","node-name":"d0-0","file":"d0-0f","read-only":false,"backing":"d0-1"}),
        ]
    );
    assert!(
        joined.ends_with("-device ide-hd,drive=d0-0,bus=ide.0,unit=0"),
        "{joined}"
    );
    // A qcow2 image with no backing file: its backing is null, so qemu
    // opens none by the name in its header either.
    let OpenImage::Disk(d) = &p.disks[0] else {
        panic!("a disk")
    };
    let alone = OpenDisk {
        disk: d.disk.clone(),
        chain: Vec::new(),
    };
    assert!(alone.blockdev_nodes("x", &[]).is_empty());
    let top = &d.blockdev_nodes("h1", &[9, 10])[3];
    assert_eq!(top["backing"], "h1-1");
    assert_eq!(OpenDisk::top("h1"), "h1-0");
    let only_top = d.blockdev_nodes("h1", &[9]);
    assert_eq!(only_top[1]["backing"], serde_json::Value::Null);
}

#[test]
fn a_mac_chosen_for_a_card_is_kept_in_the_config_xend_saves() {
    let f = Fake::new("chosen-mac");
    let mut s = f.settings();
    // Session mode: no bridge is asked of the host.
    s.system = false;
    let mut c = f.config(&f.image());
    c.vifs = vec![crate::config::Vif {
        bridge: None,
        mac: None,
        model: crate::config::NicModel::E1000,
    }];
    let p = prepare(&s, request(&c, BASE + DOMID, BASE + DOMID), &f.host()).expect("prepared");
    let mac = p.nics[0].mac;
    assert_eq!(
        p.config.vifs[0].mac,
        Some(mac),
        "the config holds the chosen MAC"
    );
    let saved = crate::config::parse(Path::new("saved"), &p.text).expect("the saved text reads");
    assert_eq!(saved.vifs[0].mac, Some(mac), "and so does the saved text");
}
