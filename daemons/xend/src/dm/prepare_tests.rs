//! prepare's refusals on a made-up host (no root needed), and that a
//! launch it accepts has made nothing yet.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Host, PrepareError, Request, prepare};
use crate::config::{self, DomainConfig};
use crate::disk::DiskError;
use crate::domain::Settings;
use crate::scratch::Scratch;

const BASE: u32 = 300_000;
const DOMID: u32 = 3;

/// A made-up host in a fresh directory: an image directory with one
/// image, an executable qemu, empty subid files, a limits table.
struct Fake {
    root: Scratch,
}

impl Fake {
    fn new(test: &str) -> Fake {
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

    fn settings(&self) -> Settings {
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
        }
    }

    fn host(&self) -> Host {
        Host {
            subid: vec![self.root.join("subuid")],
            dev: PathBuf::from("/dev"),
            limits: self.root.join("limits"),
            path: None,
            groups: Vec::new(),
        }
    }

    fn config(&self, disk: &Path) -> DomainConfig {
        let text = format!(
            "name = \"g\"\ntype = \"hvm\"\nmemory = 32\ndisk = [ '{},raw,hda,rw' ]\n",
            disk.display()
        );
        config::parse(Path::new("g.cfg"), &text).expect("config")
    }

    fn image(&self) -> PathBuf {
        self.root.join("images/guest.img")
    }
}

fn request(c: &DomainConfig, uid: u32, gid: u32) -> Request<'_> {
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
fn refused(s: &Settings, host: &Host, c: &DomainConfig) -> PrepareError {
    prepare(s, request(c, BASE + DOMID, BASE + DOMID), host).expect_err("refused")
}

#[test]
fn a_good_launch_is_prepared_and_nothing_is_made() {
    let f = Fake::new("good");
    let c = f.config(&f.image());
    let p = prepare(
        &f.settings(),
        request(&c, BASE + DOMID, BASE + DOMID),
        &f.host(),
    )
    .expect("prepared");
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
