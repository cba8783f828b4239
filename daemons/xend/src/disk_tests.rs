//! open_disk's refusals, each planted in a fresh image directory (no root
//! needed): the typed error, and a message that names the path.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DiskError, open_disk};
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
    std::fs::File::from(rw)
        .write_all(b"x")
        .expect("a read-write disk takes writes");
    let ro = open_disk(&im.dirs(), &disk(&img, true)).expect("read-only");
    assert!(
        std::fs::File::from(ro).write_all(b"x").is_err(),
        "a read-only disk's fd refuses writes"
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
