//! Opening a domain's disk images for its device model: beneath an image
//! directory, no symlink on the way, no hard-linked file, a regular file
//! or a block device, opened read-only when the config says so.
//!
//! The checks are made on the open fd (firecracker's jailer habit), so
//! what was checked is what qemu gets: the path is never looked up again.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::config;

/// Why a disk image was refused or could not be opened. Every message
/// names the disk's path.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Relative, or with a `..` component.
    #[error("disk {}: give an absolute path without ..", path.display())]
    NotAbsolute {
        /// The disk.
        path: PathBuf,
    },
    /// Not beneath any image directory.
    #[error("disk {}: not beneath an image directory ({})", path.display(), shown(dirs))]
    Outside {
        /// The disk.
        path: PathBuf,
        /// The image directories.
        dirs: Vec<PathBuf>,
    },
    /// The image directory itself could not be opened (or is reached
    /// through a symlink).
    #[error("disk {}: image directory {}: {source}", path.display(), dir.display())]
    ImageDir {
        /// The disk.
        path: PathBuf,
        /// Its image directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A symlink on the way below the image directory (or at the image).
    #[error("disk {}: a symlink on the way; refused", path.display())]
    Symlink {
        /// The disk.
        path: PathBuf,
        /// The kernel's answer (ELOOP or EXDEV).
        #[source]
        source: std::io::Error,
    },
    /// It could not be opened, examined or reopened.
    #[error("disk {}: {source}", path.display())]
    Open {
        /// The disk.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A directory, FIFO, socket or character device.
    #[error("disk {}: not a file or block device", path.display())]
    NotAnImage {
        /// The disk.
        path: PathBuf,
    },
    /// A regular file with other names, which may be anywhere.
    #[error("disk {}: has {links} hard links; refused", path.display())]
    HardLinked {
        /// The disk.
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
fn beneath<'a>(dirs: &'a [PathBuf], target: &Path) -> Result<(&'a Path, PathBuf), DiskError> {
    if !target.is_absolute()
        || target
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(DiskError::NotAbsolute {
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
        path: target.to_path_buf(),
        dirs: dirs.to_vec(),
    })
}

/// Opens a disk for the device model: beneath its image directory, no
/// symlink on the way, not a file with other hard links (their other
/// names may be anywhere), a regular file or a block device; read-write
/// unless the disk is read-only.
pub fn open_disk(dirs: &[PathBuf], d: &config::Disk) -> Result<OwnedFd, DiskError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (dir, rel) = beneath(dirs, &d.target)?;
    let path = || d.target.clone();
    let open = |source| DiskError::Open {
        path: path(),
        source,
    };
    let dfd = privlib::os::fs::open_no_symlinks(None, dir, true).map_err(|source| {
        DiskError::ImageDir {
            path: path(),
            dir: dir.to_path_buf(),
            source,
        }
    })?;
    let fd = privlib::os::fs::open_beneath(dfd.as_fd(), &rel, !d.read_only).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) {
            DiskError::Symlink {
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
    if !(meta.file_type().is_file() || meta.file_type().is_block_device()) {
        return Err(DiskError::NotAnImage { path: path() });
    }
    if meta.file_type().is_file() && meta.nlink() > 1 {
        return Err(DiskError::HardLinked {
            path: path(),
            links: meta.nlink(),
        });
    }
    // The checked file, reopened through its own fd (not its path) for
    // blocking I/O.
    std::fs::OpenOptions::new()
        .read(true)
        .write(!d.read_only)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(OwnedFd::from)
        .map_err(open)
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
