//! open_disk's refusals, each planted in a fresh image directory (no root
//! needed): the typed error, and a message that names the path.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Access, DiskError, ImageKind, OpenDisk};
use crate::config::{Disk, Format};
use crate::scratch::Scratch;

/// A fresh image directory and a directory outside it.
struct Images {
    root: Scratch,
    dir: PathBuf,
    outside: PathBuf,
}

impl Images {
    fn new(test: &str) -> Images {
        let root = Scratch::new(&format!("disk-{test}"));
        let (dir, outside) = (root.join("images"), root.join("outside"));
        std::fs::create_dir_all(&dir).expect("image dir");
        std::fs::create_dir_all(&outside).expect("outside dir");
        Images { root, dir, outside }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    /// A one-sector image at `path`.
    fn image(&self, path: &Path) -> PathBuf {
        std::fs::write(path, [0u8; 512]).expect("image");
        path.to_path_buf()
    }
}

fn disk(target: &Path, read_only: bool) -> Disk {
    Disk {
        target: target.to_path_buf(),
        format: Format::Raw,
        vdev: "hda".into(),
        read_only,
        cdrom: false,
    }
}

/// open_disk with `dirs`, as session mode (no privilege to raise).
fn open_disk(dirs: &[PathBuf], d: &Disk) -> Result<OpenDisk, DiskError> {
    super::open_disk(
        &Access {
            dirs: dirs.to_vec(),
            system: false,
            features: crate::features::Features::default(),
        },
        d,
    )
}

/// The top file's fd of `d`: read-write when it is written.
fn top(d: OpenDisk) -> std::os::fd::OwnedFd {
    let f = d.chain.into_iter().next().expect("a top file");
    f.rw.unwrap_or(f.ro)
}

/// open_disk's refusal of `target`, which must name it.
fn refused(dirs: &[PathBuf], target: &Path, read_only: bool) -> DiskError {
    let e = open_disk(dirs, &disk(target, read_only)).expect_err("refused");
    assert!(
        e.to_string().contains(&target.display().to_string()),
        "the message names {}: {e}",
        target.display()
    );
    e
}

#[test]
fn an_image_beneath_the_directory_opens_read_write_or_read_only_as_asked() {
    let im = Images::new("modes");
    let img = im.image(&im.dir.join("guest.img"));
    let rw = open_disk(&im.dirs(), &disk(&img, false)).expect("read-write");
    std::fs::File::from(top(rw))
        .write_all(b"x")
        .expect("a read-write disk takes writes");
    let ro = open_disk(&im.dirs(), &disk(&img, true)).expect("read-only");
    assert!(
        std::fs::File::from(top(ro)).write_all(b"x").is_err(),
        "a read-only disk's fd refuses writes"
    );
    let cd = Disk {
        cdrom: true,
        ..disk(&img, false)
    };
    let cd = open_disk(&im.dirs(), &cd).expect("cdrom");
    assert!(
        cd.chain[0].rw.is_none(),
        "a CD-ROM is never opened for writing"
    );
}

#[test]
fn a_symlink_is_refused_whether_it_points_inside_or_outside() {
    let im = Images::new("symlink");
    let inside = im.image(&im.dir.join("real.img"));
    let outside = im.image(&im.outside.join("secret.img"));
    for (name, to) in [("in.img", &inside), ("out.img", &outside)] {
        let link = im.dir.join(name);
        std::os::unix::fs::symlink(to, &link).expect("symlink");
        for read_only in [false, true] {
            let e = refused(&im.dirs(), &link, read_only);
            assert!(matches!(e, DiskError::Symlink { .. }), "{name}: {e:?}");
        }
    }
    // A symlinked directory on the way is refused the same.
    std::os::unix::fs::symlink(&im.outside, im.dir.join("sub")).expect("symlink");
    let e = refused(&im.dirs(), &im.dir.join("sub/secret.img"), false);
    assert!(matches!(e, DiskError::Symlink { .. }), "{e:?}");
}

#[test]
fn a_hard_linked_image_is_refused() {
    let im = Images::new("hardlink");
    let other = im.image(&im.outside.join("secret.img"));
    let img = im.dir.join("guest.img");
    std::fs::hard_link(&other, &img).expect("hard link");
    let e = refused(&im.dirs(), &img, true);
    assert!(matches!(e, DiskError::HardLinked { links: 2, .. }), "{e:?}");
}

#[test]
fn a_path_outside_the_image_directories_is_refused() {
    let im = Images::new("outside");
    let img = im.image(&im.outside.join("secret.img"));
    let e = refused(&im.dirs(), &img, false);
    assert!(matches!(e, DiskError::Outside { .. }), "{e:?}");
    assert!(e.to_string().contains(&im.dir.display().to_string()), "{e}");
    // The image directory itself is no image.
    let e = refused(&im.dirs(), &im.dir, false);
    assert!(matches!(e, DiskError::Outside { .. }), "{e:?}");
    // No image directory at all.
    let e = refused(&[], &img, false);
    assert!(matches!(e, DiskError::Outside { .. }), "{e:?}");
}

#[test]
fn dot_dot_and_relative_paths_are_refused() {
    let im = Images::new("dotdot");
    im.image(&im.outside.join("secret.img"));
    let up = im.dir.join("../outside/secret.img");
    let e = refused(&im.dirs(), &up, false);
    assert!(matches!(e, DiskError::NotAbsolute { .. }), "{e:?}");
    let e = refused(&im.dirs(), Path::new("images/guest.img"), false);
    assert!(matches!(e, DiskError::NotAbsolute { .. }), "{e:?}");
}

#[test]
fn a_fifo_a_directory_or_a_device_in_place_of_the_image_is_refused() {
    let im = Images::new("types");
    let fifo = im.dir.join("fifo.img");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    // Opened without blocking (no writer), then refused by its type.
    for read_only in [false, true] {
        let e = refused(&im.dirs(), &fifo, read_only);
        assert!(matches!(e, DiskError::NotAnImage { .. }), "{e:?}");
    }
    let sub = im.dir.join("dir.img");
    std::fs::create_dir(&sub).expect("dir");
    let e = refused(&im.dirs(), &sub, true);
    assert!(matches!(e, DiskError::NotAnImage { .. }), "{e:?}");
    // Read-write, the kernel refuses a directory before its type is seen.
    let e = refused(&im.dirs(), &sub, false);
    assert!(matches!(e, DiskError::Open { .. }), "{e:?}");
    // A character device: /dev as the image directory (no mknod needed).
    let e = refused(&[PathBuf::from("/dev")], Path::new("/dev/null"), true);
    assert!(matches!(e, DiskError::NotAnImage { .. }), "{e:?}");
}

#[test]
fn a_missing_image_or_image_directory_is_an_open_error_naming_both() {
    let im = Images::new("missing");
    let e = refused(&im.dirs(), &im.dir.join("none.img"), false);
    assert!(matches!(e, DiskError::Open { .. }), "{e:?}");
    let gone = im.root.join("gone");
    let e = refused(std::slice::from_ref(&gone), &gone.join("guest.img"), false);
    assert!(matches!(e, DiskError::ImageDir { .. }), "{e:?}");
    assert!(e.to_string().contains(&gone.display().to_string()), "{e}");
}

/// qemu-img run with `args`, in `dir`.
fn qemu_img(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("qemu-img")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("qemu-img runs");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `qemu-img create` in `dir` of the qcow2 overlay `name` over
/// `backing`, a file of `format`.
fn overlay(dir: &Path, backing: &str, format: &str, name: &str) {
    qemu_img(
        dir,
        &[
            "create", "-q", "-f", "qcow2", "-b", backing, "-F", format, name,
        ],
    );
}

fn qcow2(target: &Path) -> Disk {
    Disk {
        format: Format::Qcow2,
        ..disk(target, false)
    }
}

#[test]
fn a_qcow2_chain_is_opened_file_by_file_backing_files_read_only() {
    let test = "a_qcow2_chain_is_opened_file_by_file_backing_files_read_only";
    if !xvm_tests::require_program(test, "qemu-img", "qemu-utils") {
        return;
    }
    let im = Images::new("chain");
    std::fs::create_dir(im.dir.join("base")).expect("dir");
    im.image(&im.dir.join("base/base.img"));
    overlay(&im.dir, "base/base.img", "raw", "mid.qcow2");
    overlay(&im.dir, "mid.qcow2", "qcow2", "top.qcow2");
    let d = open_disk(&im.dirs(), &qcow2(&im.dir.join("top.qcow2"))).expect("chain");
    let paths: Vec<_> = d.chain.iter().map(|f| f.path.clone()).collect();
    assert_eq!(
        paths,
        [
            im.dir.join("top.qcow2"),
            im.dir.join("mid.qcow2"),
            im.dir.join("base/base.img")
        ]
    );
    let formats: Vec<_> = d.chain.iter().map(|f| f.format).collect();
    assert_eq!(formats, [Format::Qcow2, Format::Qcow2, Format::Raw]);
    assert!(d.chain[0].rw.is_some(), "the top is written");
    assert!(
        d.chain[1..].iter().all(|f| f.rw.is_none()),
        "backing files are read-only"
    );
    assert_eq!(d.fd_count(), 4);
    // A raw disk has no chain, whatever its bytes say.
    let raw = open_disk(&im.dirs(), &disk(&im.dir.join("top.qcow2"), true)).expect("raw");
    assert_eq!(raw.chain.len(), 1);
}

#[test]
fn a_backing_file_outside_the_image_directories_or_through_a_symlink_is_refused_by_name() {
    let test =
        "a_backing_file_outside_the_image_directories_or_through_a_symlink_is_refused_by_name";
    if !xvm_tests::require_program(test, "qemu-img", "qemu-utils") {
        return;
    }
    let im = Images::new("chain-outside");
    let secret = im.image(&im.outside.join("secret.img"));
    let s = secret.to_str().expect("utf-8");
    overlay(&im.dir, s, "raw", "abs.qcow2");
    overlay(&im.dir, "../outside/secret.img", "raw", "up.qcow2");
    for name in ["abs.qcow2", "up.qcow2"] {
        let e = open_disk(&im.dirs(), &qcow2(&im.dir.join(name))).expect_err("refused");
        assert!(
            matches!(e, DiskError::Outside { kind: ImageKind::Backing, ref path, .. } if *path == secret),
            "{name}: {e:?}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("backing file {s}: not beneath")),
            "{e}"
        );
    }
    std::os::unix::fs::symlink(&secret, im.dir.join("link.img")).expect("symlink");
    qemu_img(
        &im.dir,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "link.img",
            "-F",
            "raw",
            "-u",
            "link.qcow2",
            "1M",
        ],
    );
    let e = open_disk(&im.dirs(), &qcow2(&im.dir.join("link.qcow2"))).expect_err("refused");
    assert!(
        matches!(
            e,
            DiskError::Symlink {
                kind: ImageKind::Backing,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_backing_loop_or_a_chain_too_deep_is_refused() {
    let test = "a_backing_loop_or_a_chain_too_deep_is_refused";
    if !xvm_tests::require_program(test, "qemu-img", "qemu-utils") {
        return;
    }
    let im = Images::new("chain-loop");
    qemu_img(&im.dir, &["create", "-q", "-f", "qcow2", "a.qcow2", "1M"]);
    overlay(&im.dir, "a.qcow2", "qcow2", "b.qcow2");
    // a names b: a loop (qemu-img's unsafe rebase does not open it).
    qemu_img(
        &im.dir,
        &["rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2"],
    );
    let e = open_disk(&im.dirs(), &qcow2(&im.dir.join("b.qcow2"))).expect_err("refused");
    assert!(
        matches!(e, DiskError::Loop { ref path, .. } if *path == im.dir.join("b.qcow2")),
        "{e:?}"
    );
    // A chain of ten backing files.
    qemu_img(&im.dir, &["create", "-q", "-f", "qcow2", "c0.qcow2", "1M"]);
    for i in 1..=super::MAX_BACKING + 1 {
        let (b, t) = (format!("c{}.qcow2", i - 1), format!("c{i}.qcow2"));
        overlay(&im.dir, &b, "qcow2", &t);
    }
    let deep = im.dir.join(format!("c{}.qcow2", super::MAX_BACKING + 1));
    let e = open_disk(&im.dirs(), &qcow2(&deep)).expect_err("refused");
    assert!(matches!(e, DiskError::ChainTooDeep { .. }), "{e:?}");
    let ok = im.dir.join(format!("c{}.qcow2", super::MAX_BACKING));
    assert_eq!(
        open_disk(&im.dirs(), &qcow2(&ok))
            .expect("eight")
            .chain
            .len(),
        super::MAX_BACKING + 1
    );
}

#[test]
fn a_hostile_qcow2_header_is_refused_naming_the_file() {
    let im = Images::new("chain-hostile");
    let img = im.dir.join("bad.qcow2");
    let mut b = vec![0u8; 512];
    b[0..4].copy_from_slice(&crate::qcow2::MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&9u32.to_be_bytes());
    std::fs::write(&img, &b).expect("image");
    let e = open_disk(&im.dirs(), &qcow2(&img)).expect_err("refused");
    assert!(
        matches!(
            e,
            DiskError::Qcow2 {
                source: crate::qcow2::Qcow2Error::Version(9),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("disk {}: qcow2 version 9", img.display())),
        "{e}"
    );
}

#[test]
fn an_image_xvm_may_not_open_is_refused_by_mode_feature_or_missing_privilege() {
    use privlib::testing::{ChildFailure, as_user};
    let test = "an_image_xvm_may_not_open_is_refused_by_mode_feature_or_missing_privilege";
    if !xvm_tests::require_root(test) {
        return;
    }
    let im = Images::new("foreign");
    // The scratch tree is root's: let the child through to the image.
    for d in [im.root.join(""), im.dir.clone()] {
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let img = im.image(&im.dir.join("root.img"));
    std::fs::set_permissions(&img, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let dirs = im.dirs();
    let d = disk(&img, false);
    let r = as_user(300_777, &[], move || {
        let fail = |what: &str, e: &dyn std::fmt::Debug| ChildFailure(format!("{what}: {e:?}"));
        let open = |system, features| {
            super::open_disk(
                &Access {
                    dirs: dirs.clone(),
                    system,
                    features,
                },
                &d,
            )
        };
        // Session mode: the user's own refusal, no raise.
        match open(false, crate::features::Features::default()) {
            Err(DiskError::Denied { write: true, .. }) => {}
            other => return Err(fail("session mode", &other.map(|_| ()))),
        }
        // The feature off: its one line.
        match open(true, crate::features::Features::only(&[])) {
            Err(DiskError::Feature(e)) => {
                let s = e.to_string();
                let want = format!(
                    "disk {}, which xvm may not read and write, needs xend's feature foreign-images, which is off",
                    img.display()
                );
                if !s.starts_with(&want) || s.contains('\n') {
                    return Err(fail("the refusal", &s));
                }
            }
            other => return Err(fail("feature off", &other.map(|_| ()))),
        }
        // On, but this process holds nothing to raise.
        match open(true, crate::features::Features::default()) {
            Err(DiskError::Raise { .. }) => Ok(()),
            other => Err(fail("nothing held", &other.map(|_| ()))),
        }
    });
    r.expect("refused each way");
}
