//! Opening a domain's disk images for its device model: beneath an image
//! directory, no symlink on the way, no hard-linked file.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use crate::config;

/// The image directory `target` lies beneath, and its path below it:
/// absolute, no `..`, under one of `dirs`.
fn beneath<'a>(dirs: &'a [PathBuf], target: &Path) -> Result<(&'a Path, PathBuf), String> {
    if !target.is_absolute()
        || target
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(format!(
            "disk {}: give an absolute path without ..",
            target.display()
        ));
    }
    for d in dirs {
        if let Ok(rel) = target.strip_prefix(d)
            && !rel.as_os_str().is_empty()
        {
            return Ok((d.as_path(), rel.to_path_buf()));
        }
    }
    Err(format!(
        "disk {}: not beneath an image directory ({})",
        target.display(),
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Opens a disk for the device model: beneath its image directory, no
/// symlink on the way, not a file with other hard links (their other
/// names may be anywhere), a regular file or a block device.
pub fn open_disk(dirs: &[PathBuf], d: &config::Disk) -> Result<OwnedFd, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (dir, rel) = beneath(dirs, &d.target)?;
    let name = d.target.display();
    let dfd = privlib::os::fs::open_no_symlinks(None, dir, true)
        .map_err(|e| format!("image directory {}: {e}", dir.display()))?;
    let fd = privlib::os::fs::open_beneath(dfd.as_fd(), &rel, !d.read_only).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) {
            format!("disk {name}: a symlink on the way; refused")
        } else {
            format!("disk {name}: {e}")
        }
    })?;
    let meta = std::fs::File::from(fd.try_clone().map_err(|e| e.to_string())?)
        .metadata()
        .map_err(|e| format!("disk {name}: {e}"))?;
    if !(meta.file_type().is_file() || meta.file_type().is_block_device()) {
        return Err(format!("disk {name}: not a file or block device"));
    }
    if meta.file_type().is_file() && meta.nlink() > 1 {
        return Err(format!(
            "disk {name}: has {} hard links; refused",
            meta.nlink()
        ));
    }
    // The checked file, reopened through its own fd (not its path) for
    // blocking I/O.
    std::fs::OpenOptions::new()
        .read(true)
        .write(!d.read_only)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(OwnedFd::from)
        .map_err(|e| format!("disk {name}: {e}"))
}
