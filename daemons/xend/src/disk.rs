//! Opening a domain's disk images, and the kernel and ramdisk of a direct
//! kernel boot, for its device model: beneath an image directory, no
//! symlink on the way, no hard-linked file; a disk is a regular file or a
//! block device, opened read-only when the config says so; a kernel or
//! ramdisk is a regular file, always opened read-only.
//!
//! The checks are made on the open fd (firecracker's jailer habit), so
//! what was checked is what qemu gets: the path is never looked up again.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::config;

/// What an opened file is to the domain (the word its errors start with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// A disk (`disk = [...]`).
    Disk,
    /// The kernel of a direct kernel boot (`kernel`).
    Kernel,
    /// Its initial ramdisk (`ramdisk`).
    Ramdisk,
}

impl std::fmt::Display for ImageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageKind::Disk => "disk",
            ImageKind::Kernel => "kernel",
            ImageKind::Ramdisk => "ramdisk",
        })
    }
}

/// Why a disk image (or a kernel or ramdisk) was refused or could not be
/// opened. Every message names what it is and its path.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Relative, or with a `..` component.
    #[error("{kind} {}: give an absolute path without ..", path.display())]
    NotAbsolute {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
    },
    /// Not beneath any image directory.
    #[error("{kind} {}: not beneath an image directory ({})", path.display(), shown(dirs))]
    Outside {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// The image directories.
        dirs: Vec<PathBuf>,
    },
    /// The image directory itself could not be opened (or is reached
    /// through a symlink).
    #[error("{kind} {}: image directory {}: {source}", path.display(), dir.display())]
    ImageDir {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// Its image directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A symlink on the way below the image directory (or at the image).
    #[error("{kind} {}: a symlink on the way; refused", path.display())]
    Symlink {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// The kernel's answer (ELOOP or EXDEV).
        #[source]
        source: std::io::Error,
    },
    /// It could not be opened, examined or reopened.
    #[error("{kind} {}: {source}", path.display())]
    Open {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A directory, FIFO, socket or character device (for a disk; for a
    /// kernel or ramdisk, anything but a regular file).
    #[error("{kind} {}: not a {}", path.display(), if *kind == ImageKind::Disk { "file or block device" } else { "regular file" })]
    NotAnImage {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
    },
    /// A regular file with other names, which may be anywhere.
    #[error("{kind} {}: has {links} hard links; refused", path.display())]
    HardLinked {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
}

fn shown(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The image directory `target` lies beneath, and its path below it:
/// absolute, no `..`, under one of `dirs`.
fn beneath<'a>(
    dirs: &'a [PathBuf],
    target: &Path,
    kind: ImageKind,
) -> Result<(&'a Path, PathBuf), DiskError> {
    if !target.is_absolute()
        || target
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(DiskError::NotAbsolute {
            kind,
            path: target.to_path_buf(),
        });
    }
    for d in dirs {
        if let Ok(rel) = target.strip_prefix(d)
            && !rel.as_os_str().is_empty()
        {
            return Ok((d.as_path(), rel.to_path_buf()));
        }
    }
    Err(DiskError::Outside {
        kind,
        path: target.to_path_buf(),
        dirs: dirs.to_vec(),
    })
}

/// Opens a disk for the device model: beneath its image directory, no
/// symlink on the way, not a file with other hard links (their other
/// names may be anywhere), a regular file or a block device; read-write
/// unless the disk is read-only.
pub fn open_disk(dirs: &[PathBuf], d: &config::Disk) -> Result<OwnedFd, DiskError> {
    open_checked(dirs, &d.target, !d.read_only, ImageKind::Disk)
}

/// Opens the kernel or ramdisk of a direct kernel boot (`kind` says
/// which) as a disk is opened, and read-only: beneath an image directory,
/// no symlink on the way, no other hard link, and a regular file (a block
/// device is no kernel).
pub fn open_boot_file(
    dirs: &[PathBuf],
    target: &Path,
    kind: ImageKind,
) -> Result<OwnedFd, DiskError> {
    open_checked(dirs, target, false, kind)
}

fn open_checked(
    dirs: &[PathBuf],
    target: &Path,
    write: bool,
    kind: ImageKind,
) -> Result<OwnedFd, DiskError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (dir, rel) = beneath(dirs, target, kind)?;
    let path = || target.to_path_buf();
    let open = |source| DiskError::Open {
        kind,
        path: path(),
        source,
    };
    let dfd = privlib::os::fs::open_no_symlinks(None, dir, true).map_err(|source| {
        DiskError::ImageDir {
            kind,
            path: path(),
            dir: dir.to_path_buf(),
            source,
        }
    })?;
    let fd = privlib::os::fs::open_beneath(dfd.as_fd(), &rel, write).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) {
            DiskError::Symlink {
                kind,
                path: path(),
                source: e,
            }
        } else {
            open(e)
        }
    })?;
    let meta = std::fs::File::from(fd.try_clone().map_err(open)?)
        .metadata()
        .map_err(open)?;
    let block = kind == ImageKind::Disk && meta.file_type().is_block_device();
    if !(meta.file_type().is_file() || block) {
        return Err(DiskError::NotAnImage { kind, path: path() });
    }
    if meta.file_type().is_file() && meta.nlink() > 1 {
        return Err(DiskError::HardLinked {
            kind,
            path: path(),
            links: meta.nlink(),
        });
    }
    // The checked file, reopened through its own fd (not its path) for
    // blocking I/O.
    std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(OwnedFd::from)
        .map_err(open)
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
