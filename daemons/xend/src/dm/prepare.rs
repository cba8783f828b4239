//! Everything a device-model launch needs, checked before anything is
//! made (firecracker's jailer: `Env::new` validates, `Env::run` acts).
//!
//! [`prepare`] checks, in this order, and makes nothing: no directory,
//! socket, log file or process, no privilege raised:
//! 1. the ids: never 0; in the device-model range, `base + domid` for uid
//!    and gid, and no user's subordinate range (`/etc/subuid`,
//!    `/etc/subgid`) holds them;
//! 2. the qemu binary: found (PATH only for a bare name), a regular file
//!    the device model's uid may execute;
//! 3. the disks: at most the IDE controller's four, each opened by
//!    [`open_disk`] beneath an image directory. Opening is checking here:
//!    the checks (no symlink, no hard link, a file or block device) are
//!    made on the open fd, and that fd is what qemu gets, so nothing can
//!    be swapped between the check and the use; opening creates nothing;
//! 4. the device nodes its private `/dev` gets (null, zero, urandom, and
//!    kvm when used): character devices on the host;
//! 5. the limits it runs under: xend's hard `RLIMIT_NOFILE` leaves room
//!    for [`DM_NOFILE`] (a hard limit is raised only with sys_resource,
//!    which xend never holds).
//!
//! There is no kernel or initrd to check: `kernel` and `ramdisk` are keys
//! this stack reports and does not act on; an HVM guest boots from its
//! disks.
//!
//! Where the host is read (`/etc/subuid`, `/dev`, `/proc/self/limits`,
//! `PATH`, xend's groups) comes in as a [`Host`], so the refusals are tested without
//! root on a made-up host.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::config::DomainConfig;
use crate::disk::{DiskError, open_disk};
use crate::dm::{DM_NOFILE, DmError, check_disk_count, check_ids, dev_nodes};
use crate::domain::Settings;

/// Where [`prepare`] reads the host.
#[derive(Clone, Debug)]
pub struct Host {
    /// The files handing out subordinate ids.
    pub subid: Vec<PathBuf>,
    /// The host's `/dev`.
    pub dev: PathBuf,
    /// `/proc/self/limits`.
    pub limits: PathBuf,
    /// `PATH`, for a qemu given without a slash.
    pub path: Option<OsString>,
    /// xend's own supplementary groups: a session-mode device model keeps
    /// them, so they count when its right to execute qemu is checked.
    pub groups: Vec<u32>,
}

impl Host {
    /// This host.
    pub fn system() -> Host {
        Host {
            subid: privlib::subid::FILES.iter().map(PathBuf::from).collect(),
            dev: PathBuf::from("/dev"),
            limits: PathBuf::from("/proc/self/limits"),
            path: std::env::var_os("PATH"),
            // Unreadable, they count as none: the check can then only
            // refuse a qemu that the group bits alone would let run.
            groups: privlib::procfs::read_cred(Path::new("/proc"), "self")
                .map(|c| c.groups)
                .unwrap_or_default(),
        }
    }
}

/// The domain to start: its id, the ids its device model runs as, and its
/// config.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Its id.
    pub domid: u32,
    /// The device model's uid.
    pub uid: u32,
    /// The device model's gid.
    pub gid: u32,
    /// Its config.
    pub config: &'a DomainConfig,
    /// Its UUID.
    pub uuid: &'a str,
    /// Where its config came from, and the config's text (saved, to be
    /// adopted by a later xend).
    pub source: &'a str,
    /// The text.
    pub text: &'a str,
}

/// A checked launch: everything [`crate::launch::run`] needs, and the
/// disks already open.
#[derive(Debug)]
pub struct Prepared {
    /// The domain.
    pub domid: u32,
    /// The device model's uid and gid.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// Its supplementary groups (`None`: the user's own, session mode).
    pub groups: Option<Vec<u32>>,
    /// Use KVM.
    pub kvm: bool,
    /// The qemu binary, resolved.
    pub qemu: PathBuf,
    /// The config.
    pub config: DomainConfig,
    /// The disks, open, in config order.
    pub disks: Vec<OwnedFd>,
    /// The domain's run directory, to be made (`<run>/domains/N`).
    pub dir: PathBuf,
    /// Whether it runs under the device-model uid range (how it is killed,
    /// and whether proc_setid is raised to start it).
    pub dm_range: bool,
    /// Its UUID.
    pub uuid: String,
    /// Where its config came from.
    pub source: String,
    /// The config's text.
    pub text: String,
    /// xenstored's socket.
    pub xenstore: PathBuf,
}

/// Why a launch was refused before anything was made.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// An id 0, or too many disks.
    #[error(transparent)]
    Dm(#[from] DmError),
    /// The uid is not the domain's in the device-model range.
    #[error(
        "domain {domid}: uid {uid} is not {base} + {domid} in the device-model range of {count}"
    )]
    OutsideRange {
        /// The domain.
        domid: u32,
        /// The uid asked for.
        uid: u32,
        /// The range's first uid.
        base: u32,
        /// Its length.
        count: u32,
    },
    /// The gid is not the uid (device-model range).
    #[error("domain {domid}: gid {gid} is not the device model's uid {uid}")]
    GidNotUid {
        /// The domain.
        domid: u32,
        /// The uid.
        uid: u32,
        /// The gid asked for.
        gid: u32,
    },
    /// A user's subordinate range holds the uid.
    #[error(transparent)]
    Subid(#[from] privlib::subid::DmRangeError),
    /// A bare program name not found in PATH.
    #[error("qemu {}: not found in PATH", program.display())]
    QemuNotFound {
        /// The name.
        program: PathBuf,
    },
    /// The binary could not be examined.
    #[error("qemu {}: {source}", path.display())]
    Qemu {
        /// The binary.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a regular file.
    #[error("qemu {}: not a regular file", path.display())]
    QemuNotAFile {
        /// The binary.
        path: PathBuf,
    },
    /// The device model's uid may not execute it.
    #[error("qemu {}: uid {uid} may not execute it", path.display())]
    QemuNotExecutable {
        /// The binary.
        path: PathBuf,
        /// The device model's uid.
        uid: u32,
    },
    /// A disk was refused or could not be opened.
    #[error("domain {domid}: {source}")]
    Disk {
        /// The domain.
        domid: u32,
        /// Why.
        #[source]
        source: DiskError,
    },
    /// A device node is missing.
    #[error("{}: {source}", path.display())]
    Node {
        /// The node.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A device node is not a character device.
    #[error("{}: not a character device", path.display())]
    NotADevice {
        /// The node.
        path: PathBuf,
    },
    /// xend's limits could not be read.
    #[error("reading xend's limits: {0}")]
    Limits(#[source] privlib::bounded::FileError),
    /// xend's limits have no readable `Max open files` line.
    #[error("{}: no Max open files line", path.display())]
    LimitsUnreadable {
        /// The file.
        path: PathBuf,
    },
    /// xend's hard limit on open files is not a number.
    #[error("{}: Max open files: {source}", path.display())]
    LimitsNumber {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::num::ParseIntError,
    },
    /// The hard limit on open files is below the device model's.
    #[error("xend's hard limit of {hard} open files is below the device model's {want}")]
    NofileTooLow {
        /// xend's hard limit.
        hard: u64,
        /// [`DM_NOFILE`].
        want: u64,
    },
}

/// Checks everything the launch of `r` needs, opens its disks, and makes
/// nothing (steps 1-5 of this module's list).
pub fn prepare(s: &Settings, r: Request<'_>, host: &Host) -> Result<Prepared, PrepareError> {
    let groups = s
        .dm_range
        .then(|| s.kvm_gid.into_iter().collect::<Vec<_>>());
    // 1. The ids.
    check_ids(r.domid, r.uid, r.gid, groups.as_deref())?;
    if s.dm_range {
        let inside = r.domid >= 1
            && r.domid < s.dm_uid_count
            && s.dm_uid_base.checked_add(r.domid) == Some(r.uid);
        if !inside {
            return Err(PrepareError::OutsideRange {
                domid: r.domid,
                uid: r.uid,
                base: s.dm_uid_base,
                count: s.dm_uid_count,
            });
        }
        if r.gid != r.uid {
            return Err(PrepareError::GidNotUid {
                domid: r.domid,
                uid: r.uid,
                gid: r.gid,
            });
        }
        let files: Vec<&Path> = host.subid.iter().map(PathBuf::as_path).collect();
        privlib::subid::check_dm_range_in(&files, r.uid, 1)?;
    }
    // 2. The binary.
    let qemu = resolve(&s.qemu, host.path.as_deref())?;
    executable_by(
        &qemu,
        r.uid,
        r.gid,
        groups.as_deref().unwrap_or(&host.groups),
    )?;
    // 3. The disks.
    check_disk_count(r.domid, r.config)?;
    let disks = r
        .config
        .disks
        .iter()
        .map(|d| {
            open_disk(&s.image_dirs, d).map_err(|source| PrepareError::Disk {
                domid: r.domid,
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // 4. The device nodes.
    for n in dev_nodes(s.kvm) {
        char_device(&host.dev.join(n))?;
    }
    // 5. The limits.
    let hard = hard_nofile(&host.limits)?;
    if hard.is_some_and(|h| h < DM_NOFILE) {
        return Err(PrepareError::NofileTooLow {
            hard: hard.unwrap_or(0),
            want: DM_NOFILE,
        });
    }
    Ok(Prepared {
        domid: r.domid,
        uid: r.uid,
        gid: r.gid,
        groups,
        kvm: s.kvm,
        qemu,
        config: r.config.clone(),
        disks,
        dir: s.run.join("domains").join(r.domid.to_string()),
        dm_range: s.dm_range,
        uuid: r.uuid.to_string(),
        source: r.source.to_string(),
        text: r.text.to_string(),
        xenstore: s.xenstore.clone(),
    })
}

/// `program` as exec will find it: itself when it has a slash, else the
/// first match in `path` (as privlib's spawn looks it up).
fn resolve(program: &Path, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, PrepareError> {
    if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        return Ok(program.to_path_buf());
    }
    path.into_iter()
        .flat_map(std::env::split_paths)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| PrepareError::QemuNotFound {
            program: program.to_path_buf(),
        })
}

/// Refuses a binary that is not a regular file `uid` (with `gid` and
/// `groups`) may execute, by its mode bits.
fn executable_by(path: &Path, uid: u32, gid: u32, groups: &[u32]) -> Result<(), PrepareError> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).map_err(|source| PrepareError::Qemu {
        path: path.to_path_buf(),
        source,
    })?;
    if !m.is_file() {
        return Err(PrepareError::QemuNotAFile {
            path: path.to_path_buf(),
        });
    }
    let bit = if m.uid() == uid {
        0o100
    } else if m.gid() == gid || groups.contains(&m.gid()) {
        0o010
    } else {
        0o001
    };
    if m.mode() & bit == 0 {
        return Err(PrepareError::QemuNotExecutable {
            path: path.to_path_buf(),
            uid,
        });
    }
    Ok(())
}

fn char_device(path: &Path) -> Result<(), PrepareError> {
    use std::os::unix::fs::FileTypeExt;
    let m = std::fs::metadata(path).map_err(|source| PrepareError::Node {
        path: path.to_path_buf(),
        source,
    })?;
    if !m.file_type().is_char_device() {
        return Err(PrepareError::NotADevice {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// `/proc/PID/limits` is a table of 17 short lines.
const LIMITS_MAX: u64 = 8192;

/// The hard limit on open files in a `/proc/PID/limits` table (`None`:
/// unlimited).
fn hard_nofile(path: &Path) -> Result<Option<u64>, PrepareError> {
    let text = privlib::bounded::read_to_string(path, LIMITS_MAX).map_err(PrepareError::Limits)?;
    let unreadable = || PrepareError::LimitsUnreadable {
        path: path.to_path_buf(),
    };
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .ok_or_else(unreadable)?;
    match line.split_whitespace().nth(1) {
        Some("unlimited") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|source| PrepareError::LimitsNumber {
                path: path.to_path_buf(),
                source,
            }),
        None => Err(unreadable()),
    }
}

#[cfg(test)]
#[path = "prepare_tests.rs"]
mod tests;
