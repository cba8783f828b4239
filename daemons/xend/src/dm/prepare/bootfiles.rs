//! The kernel and ramdisk of a direct kernel boot (`kernel`, `ramdisk`
//! and `cmdline`, as xl.cfg has them for an HVM guest), checked and
//! opened for [`prepare`](super::prepare) with the disks: they are opened
//! by xend exactly as disks are (beneath an image directory, no symlink
//! on the way, no other hard link; a regular file here), read-only, and
//! qemu gets those fds and a Landlock rule to read those very files and
//! no other.
//!
//! qemu loads a kernel by a name (`-kernel /proc/self/fd/N`), and that
//! open checks the file's mode bits against the device model's uid: a
//! root-owned mode-0600 kernel would be refused. Such a file is not
//! changed (no chown, no chmod: nothing to restore after a crash): xend
//! copies the bytes of the fd it checked, at most [`BOOT_MAX`], into a
//! file without a name (`O_TMPFILE | O_EXCL`, never linkable) of mode
//! 0444 in its managed-domains directory (on disk, not the run
//! directory's tmpfs: a user who may create domains could otherwise fill
//! `/run` for the whole host with copies; the run directory is used only
//! where that file system has no `O_TMPFILE`), and qemu gets that copy,
//! read-only, with the Landlock rule on it: it can still read those bytes and nothing
//! else, and can write neither the copy nor the original. The copy is
//! gone with its last fd, so even a killed xend leaves nothing behind.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::disk::{Access, DiskError, ImageKind, open_boot_file};
use crate::dm::prepare::{OpenImage, PrepareError, Request, allowed};
use crate::domain::Settings;

/// The kernel and ramdisk `r`'s config boots directly (none, one or
/// both, in that order), opened as disks are (`access`), read-only; each
/// one the device model (with `dm_groups`) may not read, as its copy.
pub(super) fn open(
    s: &Settings,
    r: &Request<'_>,
    access: &Access,
    dm_groups: &[u32],
) -> Result<Vec<OpenImage>, PrepareError> {
    let mut boot = Vec::new();
    for (kind, file) in [
        (ImageKind::Kernel, &r.config.kernel),
        (ImageKind::Ramdisk, &r.config.ramdisk),
    ] {
        if let Some(f) = file {
            let disk_err = |source| PrepareError::Disk {
                domid: r.domid,
                source,
            };
            let fd = open_boot_file(access, Path::new(f), kind).map_err(disk_err)?;
            // qemu opens it again (`/proc/self/fd/N`), which checks its
            // mode bits against the device model's uid: a file it may not
            // read is given as a copy (see the module's text).
            let m = std::fs::File::from(fd.try_clone().map_err(|source| {
                disk_err(DiskError::Open {
                    kind,
                    path: PathBuf::from(f),
                    source,
                })
            })?)
            .metadata();
            let fd = if m.is_ok_and(|m| allowed(&m, r.uid, r.gid, dm_groups, 0o4)) {
                fd
            } else {
                copy_boot_file(&s.managed, &fd)
                    .or_else(|e| match e {
                        CopyError::Io(ref io) if no_tmpfile(io) => copy_boot_file(&s.run, &fd),
                        e => Err(e),
                    })
                    .map_err(|e| match e {
                        CopyError::TooLarge => PrepareError::BootTooLarge {
                            domid: r.domid,
                            kind,
                            path: PathBuf::from(f),
                        },
                        CopyError::Io(source) => PrepareError::BootCopy {
                            domid: r.domid,
                            kind,
                            path: PathBuf::from(f),
                            source,
                        },
                    })?
            };
            boot.push(OpenImage::Boot(kind, fd));
        }
    }
    Ok(boot)
}

/// The largest kernel or ramdisk xend copies for a device model that may
/// not read it (Debian's largest initrds are well below).
pub const BOOT_MAX: u64 = 256 << 20;

/// Whether the file system of a directory has no `O_TMPFILE`.
fn no_tmpfile(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR))
}

/// Why a boot file could not be copied.
#[derive(Debug)]
enum CopyError {
    TooLarge,
    Io(std::io::Error),
}

/// A copy of the file open as `from`, at most [`BOOT_MAX`] bytes, in a
/// file of mode 0444 with no name in `dir` (`O_TMPFILE | O_EXCL`: it can
/// never be given one), open read-only.
fn copy_boot_file(dir: &Path, from: &OwnedFd) -> Result<OwnedFd, CopyError> {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = std::fs::File::from(from.try_clone().map_err(CopyError::Io)?);
    src.rewind().map_err(CopyError::Io)?;
    let mut dst = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o444)
        .custom_flags(libc::O_TMPFILE | libc::O_EXCL | libc::O_CLOEXEC)
        .open(dir)
        .map_err(CopyError::Io)?;
    // The mode again, through the fd: O_TMPFILE's mode is cut by xend's
    // umask (0077 in system mode), and the device model is another uid.
    dst.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o444))
        .map_err(CopyError::Io)?;
    let n = std::io::copy(&mut (&mut src).take(BOOT_MAX + 1), &mut dst).map_err(CopyError::Io)?;
    if n > BOOT_MAX {
        return Err(CopyError::TooLarge);
    }
    // Read-only from here: the copy, reopened through its fd (mode 0444
    // lets its owner read it, and nobody write it).
    std::fs::File::open(format!("/proc/self/fd/{}", dst.as_raw_fd()))
        .map(OwnedFd::from)
        .map_err(CopyError::Io)
}

#[cfg(test)]
#[path = "bootfiles_tests.rs"]
mod tests;
