//! Opening a domain's disk images, and the kernel and ramdisk of a direct
//! kernel boot, for its device model: beneath an image directory, no
//! symlink on the way, no hard-linked file; a disk is a regular file or a
//! block device, opened read-only when the config says so; a kernel or
//! ramdisk is a regular file, always opened read-only.
//!
//! The checks are made on the open fd (firecracker's jailer habit), so
//! what was checked is what qemu gets: the path is never looked up again.
//!
//! A qcow2 disk's backing files are read from its header here
//! ([`crate::qcow2`]), each resolved against the directory of the file
//! naming it and opened under the same checks, read-only, at most
//! [`MAX_BACKING`] deep, the same file never twice: qemu gets the whole
//! chain as fds and never follows a name ([`crate::dm::blockdev`]).
//!
//! Files xvm may not open (root-owned, mode 0600, as `/var/lib/xen/images`
//! keeps them) are opened with the DAC override of the foreign-images
//! feature ([`Feature::ForeignImages`]) raised around that one open
//! (and the reopens through the fd, which the kernel checks again), when
//! the plain open was refused with EACCES. Nothing about the file is
//! changed, so nothing is left to restore if xend dies: the device model
//! gets an open fd and no right to the file's name (DESIGN section 4:
//! devices reach a device model as open fds, never as paths). In session
//! mode xend holds no privilege: the user's own refusal stands.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use crate::config::{self, Format};
use crate::domain::Settings;
use crate::features::{Feature, Features};
use crate::qcow2::{self, Qcow2Error};

/// What an opened file is to the domain (the word its errors start with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// A disk (`disk = [...]`).
    Disk,
    /// The kernel of a direct kernel boot (`kernel`).
    Kernel,
    /// Its initial ramdisk (`ramdisk`).
    Ramdisk,
    /// A qcow2 disk's backing file (read-only).
    Backing,
}

impl std::fmt::Display for ImageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageKind::Disk => "disk",
            ImageKind::Kernel => "kernel",
            ImageKind::Ramdisk => "ramdisk",
            ImageKind::Backing => "backing file",
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
    #[error("{kind} {}: not a {}", path.display(), if matches!(kind, ImageKind::Disk | ImageKind::Backing) { "file or block device" } else { "regular file" })]
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
    /// Session mode: the user may not open it, and xend holds no
    /// privilege to open it anyway.
    #[error("{kind} {}: you may not {} it (session mode: xend opens images as you)", path.display(), if *write { "read and write" } else { "read" })]
    Denied {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// Opened for writing.
        write: bool,
    },
    /// xvm may not open it and the foreign-images feature is off.
    #[error(transparent)]
    Feature(#[from] crate::features::Disabled),
    /// xvm may not open it and the feature's privileges could not be
    /// raised.
    #[error("{kind} {}: raising the foreign-images privileges: {source}", path.display())]
    Raise {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: privlib::PrivError,
    },
    /// A qcow2 header that was refused.
    #[error("{kind} {}: {source}", path.display())]
    Qcow2 {
        /// What it is.
        kind: ImageKind,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Qcow2Error,
    },
    /// A backing chain deeper than [`MAX_BACKING`].
    #[error("disk {}: more than {MAX_BACKING} backing files", disk.display())]
    ChainTooDeep {
        /// The disk.
        disk: PathBuf,
    },
    /// A backing chain that comes back to a file already in it.
    #[error("disk {}: backing file {} is already in its chain (a loop); refused", disk.display(), path.display())]
    Loop {
        /// The disk.
        disk: PathBuf,
        /// The backing file named again.
        path: PathBuf,
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

/// A qcow2 chain has at most this many backing files.
pub const MAX_BACKING: usize = 8;

/// What opening an image may use: the image directories, and (system
/// mode, the feature on) the foreign-images privileges.
#[derive(Clone, Debug)]
pub struct Access {
    /// Directories images must be beneath.
    pub dirs: Vec<PathBuf>,
    /// System mode: xend may raise the foreign-images privileges.
    pub system: bool,
    /// xend's features.
    pub features: Features,
}

impl Access {
    /// As xend runs with `s`.
    pub fn of(s: &Settings) -> Access {
        Access {
            dirs: s.image_dirs.clone(),
            system: s.system,
            features: s.features.clone(),
        }
    }
}

/// One open file of a disk's chain.
#[derive(Debug)]
pub struct ChainFile {
    /// Its path, as configured or resolved from the header naming it.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// A block device (qemu's `host_device` driver), else a regular file.
    pub block: bool,
    /// Read-only.
    pub ro: OwnedFd,
    /// Read-write, only for a disk's top file when it is written.
    pub rw: Option<OwnedFd>,
}

impl ChainFile {
    /// The fds to put in this file's one fdset: the read-only one, then
    /// the read-write one when there is one. qemu takes from the set the
    /// fd whose access mode matches the open it makes.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.ro.as_fd()];
        if let Some(rw) = &self.rw {
            v.push(rw.as_fd());
        }
        v
    }
}

/// A disk opened with its chain: the file the config names first, then
/// each backing file in turn.
#[derive(Debug)]
pub struct OpenDisk {
    /// The disk as configured.
    pub disk: config::Disk,
    /// Its files, top first.
    pub chain: Vec<ChainFile>,
}

impl OpenDisk {
    /// Its files, top first.
    pub fn files(&self) -> &[ChainFile] {
        &self.chain
    }

    /// The fds it passes to qemu.
    pub fn fd_count(&self) -> usize {
        self.chain.iter().map(|f| f.fds().len()).sum()
    }
}

/// Opens a disk for the device model: beneath its image directory, no
/// symlink on the way, not a file with other hard links (their other
/// names may be anywhere), a regular file or a block device; read-write
/// unless the disk is read-only or a CD-ROM; and, for qcow2, each
/// backing file the same way, read-only.
pub fn open_disk(a: &Access, d: &config::Disk) -> Result<OpenDisk, DiskError> {
    // A CD-ROM is never written, whatever its access says.
    let write = !(d.read_only || d.cdrom);
    let top = open_checked(a, &d.target, write, ImageKind::Disk)?;
    let mut seen = vec![top.id];
    let mut chain = vec![ChainFile {
        path: d.target.clone(),
        format: d.format,
        block: top.block,
        ro: top.ro,
        rw: top.rw,
    }];
    while let Some(last) = chain.last().filter(|f| f.format == Format::Qcow2) {
        let kind = if chain.len() == 1 {
            ImageKind::Disk
        } else {
            ImageKind::Backing
        };
        let Some(b) = read_header(&last.ro, kind, &last.path)?.backing else {
            break;
        };
        if chain.len() > MAX_BACKING {
            return Err(DiskError::ChainTooDeep {
                disk: d.target.clone(),
            });
        }
        let path = backing_path(&last.path, Path::new(&b.name));
        let f = open_checked(a, &path, false, ImageKind::Backing)?;
        if seen.contains(&f.id) {
            return Err(DiskError::Loop {
                disk: d.target.clone(),
                path,
            });
        }
        seen.push(f.id);
        chain.push(ChainFile {
            path,
            format: b.format,
            block: f.block,
            ro: f.ro,
            rw: None,
        });
    }
    Ok(OpenDisk {
        disk: d.clone(),
        chain,
    })
}

/// Opens disk `d` for a running domain (hot-plug) with the same checks
/// as at its start ([`open_disk`]): the node graph for QMP's
/// `blockdev-add` is [`OpenDisk::blockdev_nodes`].
pub fn open_for_hotplug(s: &Settings, d: &config::Disk) -> Result<OpenDisk, DiskError> {
    open_disk(&Access::of(s), d)
}

/// Opens the kernel or ramdisk of a direct kernel boot (`kind` says
/// which) as a disk is opened, and read-only: beneath an image directory,
/// no symlink on the way, no other hard link, and a regular file (a block
/// device is no kernel).
pub fn open_boot_file(a: &Access, target: &Path, kind: ImageKind) -> Result<OwnedFd, DiskError> {
    Ok(open_checked(a, target, false, kind)?.ro)
}

/// Where a backing file named `name` in the header of `image` is: an
/// absolute name as it is, a relative one beneath the image's directory
/// (as qemu resolves it), with `.` and `..` taken lexically; no symlink
/// is followed on the way anyway, so the lexical parent is the real one.
fn backing_path(image: &Path, name: &Path) -> PathBuf {
    let joined = if name.is_absolute() {
        name.to_path_buf()
    } else {
        image.parent().unwrap_or(Path::new("/")).join(name)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The qcow2 header of the file open as `fd`, read through the fd.
fn read_header(fd: &OwnedFd, kind: ImageKind, path: &Path) -> Result<qcow2::Header, DiskError> {
    let open = |source| DiskError::Open {
        kind,
        path: path.to_path_buf(),
        source,
    };
    let bad = |source| DiskError::Qcow2 {
        kind,
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::from(fd.try_clone().map_err(open)?);
    let head = read_upto(&f, 72).map_err(open)?;
    let want = qcow2::needed(&head).map_err(bad)?;
    let buf = read_upto(&f, want).map_err(open)?;
    qcow2::parse(&buf).map_err(bad)
}

/// Up to `n` bytes from the start of `f` (fewer at its end).
fn read_upto(f: &std::fs::File, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = f.read_at(&mut buf[got..], u64::try_from(got).unwrap_or(u64::MAX))?;
        if k == 0 {
            break;
        }
        got += k;
    }
    buf.truncate(got);
    Ok(buf)
}

/// A file opened and checked.
struct Checked {
    /// (device, inode): the same file twice in a chain is a loop.
    id: (u64, u64),
    block: bool,
    ro: OwnedFd,
    rw: Option<OwnedFd>,
}

/// `open()`, and when the kernel refuses it with EACCES the same again
/// with the foreign-images privileges raised around it alone (system
/// mode, the feature on); otherwise the refusal. The outer error is
/// why the raise was not made; the inner one is the open's.
fn dac<T>(
    a: &Access,
    kind: ImageKind,
    path: &Path,
    write: bool,
    open: impl Fn() -> std::io::Result<T>,
) -> Result<std::io::Result<T>, DiskError> {
    match open() {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            if !a.system {
                return Err(DiskError::Denied {
                    kind,
                    path: path.to_path_buf(),
                    write,
                });
            }
            a.features.require(
                Feature::ForeignImages,
                &format!(
                    "{kind} {}, which xvm may not {},",
                    path.display(),
                    if write { "read and write" } else { "read" }
                ),
            )?;
            // Reading takes the read override alone; writing both.
            let raise = if write {
                crate::privs::Raised::on(Feature::ForeignImages)
            } else {
                crate::privs::Raised::part(Feature::ForeignImages, READ_OVERRIDE)
            };
            let _raised = raise.map_err(|source| DiskError::Raise {
                kind,
                path: path.to_path_buf(),
                source,
            })?;
            Ok(open())
        }
        r => Ok(r),
    }
}

/// The part of foreign-images a read-only open raises.
const READ_OVERRIDE: &str = "file_dac_read,file_dac_search";

fn open_checked(
    a: &Access,
    target: &Path,
    write: bool,
    kind: ImageKind,
) -> Result<Checked, DiskError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (dir, rel) = beneath(&a.dirs, target, kind)?;
    let path = || target.to_path_buf();
    let open = |source| DiskError::Open {
        kind,
        path: path(),
        source,
    };
    let dfd = dac(a, kind, target, false, || {
        privlib::os::fs::open_no_symlinks(None, dir, true)
    })?
    .map_err(|source| DiskError::ImageDir {
        kind,
        path: path(),
        dir: dir.to_path_buf(),
        source,
    })?;
    let fd = dac(a, kind, target, write, || {
        privlib::os::fs::open_beneath(dfd.as_fd(), &rel, write)
    })?
    .map_err(|e| {
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
    let block =
        matches!(kind, ImageKind::Disk | ImageKind::Backing) && meta.file_type().is_block_device();
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
    // blocking I/O: read-only, and read-write when written. The kernel
    // checks the mode bits again on these opens, so a file xvm may not
    // open needs the raise here too.
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let reopen = |w: bool| {
        dac(a, kind, target, w, || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(w)
                .open(&proc)
                .map(OwnedFd::from)
        })
    };
    let ro = reopen(false)?.map_err(open)?;
    let rw = if write {
        Some(reopen(true)?.map_err(open)?)
    } else {
        None
    };
    Ok(Checked {
        id: (meta.dev(), meta.ino()),
        block,
        ro,
        rw,
    })
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
