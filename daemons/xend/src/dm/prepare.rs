//! Everything a device-model launch needs, checked before anything is
//! made (firecracker's jailer: `Env::new` validates, `Env::run` acts).
//!
//! [`prepare`] checks, in the order of the list in [`crate::launch`]
//! (its part P: ids, binary, disks, device nodes, limits), and makes
//! nothing: no directory, socket, log file or process, no privilege
//! raised. A [`Prepared`] is made only here (its fields are the crate's),
//! so whatever starts a device model ([`crate::dm::spawn`]) has been
//! through every check.
//!
//! A direct kernel boot's kernel and ramdisk are checked with the disks
//! ([`bootfiles`]); the refusals are [`PrepareError`]s ([`error`]).
//!
//! Where the host is read (`/etc/subuid`, `/dev`, `/proc/self/limits`,
//! `PATH`, xend's groups) comes in as a [`Host`], so the refusals are tested without
//! root on a made-up host.

pub mod bootfiles;
pub mod error;

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::config::DomainConfig;
use crate::disk::{Access, ImageKind, OpenDisk, open_disk};
use crate::dm::blockdev::{MAX_BLOCK_FDS, fd_count};
use crate::dm::{DM_NOFILE, MAX_DISKS, dev_nodes};
use crate::domain::Settings;

pub use bootfiles::BOOT_MAX;
pub use error::PrepareError;

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

    /// This host as a caller that owns its device-model uids whatever
    /// `/etc/subuid` says (no subordinate-id files), with a qemu named by
    /// full path and no supplementary groups of xend's own: the KVM test
    /// and the launch benchmark.
    pub fn own_uids() -> Host {
        Host {
            subid: Vec::new(),
            dev: PathBuf::from("/dev"),
            limits: PathBuf::from("/proc/self/limits"),
            path: None,
            groups: Vec::new(),
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

/// A file xend opened for qemu: a disk, or the kernel or ramdisk of a
/// direct kernel boot (read-only, one fd).
#[derive(Debug)]
pub(crate) enum OpenImage {
    /// A disk and its chain, as [`open_disk`] opened it.
    Disk(OpenDisk),
    /// The kernel ([`ImageKind::Kernel`]) or ramdisk.
    Boot(ImageKind, OwnedFd),
}

/// A checked launch: everything [`crate::launch::run`] and
/// [`crate::dm::spawn`] need, and the disks already open. Made only by
/// [`prepare`].
#[derive(Debug)]
pub struct Prepared {
    /// The domain.
    pub(crate) domid: u32,
    /// The device model's uid and gid.
    pub(crate) uid: u32,
    /// Its gid.
    pub(crate) gid: u32,
    /// Its supplementary groups (`None`: the user's own, session mode).
    pub(crate) groups: Option<Vec<u32>>,
    /// Use KVM.
    pub(crate) kvm: bool,
    /// The qemu binary, resolved.
    pub(crate) qemu: PathBuf,
    /// The config.
    pub(crate) config: DomainConfig,
    /// The disks, open, in config order; then the kernel and the ramdisk
    /// when the config boots one directly.
    pub(crate) disks: Vec<OpenImage>,
    /// The domain's run directory, to be made (`<run>/domains/N`).
    pub(crate) dir: PathBuf,
    /// Whether it runs under the device-model uid range (how it is killed,
    /// and whether proc_setid is raised to start it).
    pub(crate) dm_range: bool,
    /// Its UUID.
    pub(crate) uuid: String,
    /// Where its config came from.
    pub(crate) source: String,
    /// The config's text.
    pub(crate) text: String,
    /// xenstored's socket.
    pub(crate) xenstore: PathBuf,
    /// Its network cards, checked ([`crate::net`]); their backends are
    /// made at launch.
    pub(crate) nics: Vec<crate::net::NicPlan>,
    /// Started to receive another host's state (relocation): qemu waits
    /// for it (`-incoming defer`), paused (`-S`), and the domain is
    /// registered in the store once that state is loaded.
    pub(crate) incoming: bool,
}

/// Checks everything the launch of `r` needs, opens its disks (and its
/// kernel and ramdisk), and makes nothing (steps P1-P5 of [`crate::launch`]'s list).
pub fn prepare(s: &Settings, r: Request<'_>, host: &Host) -> Result<Prepared, PrepareError> {
    let groups = s
        .dm_range
        .then(|| s.kvm_gid.into_iter().collect::<Vec<_>>());
    // P1. The ids.
    if r.uid == 0 || r.gid == 0 || groups.as_deref().is_some_and(|g| g.contains(&0)) {
        return Err(PrepareError::RootId { domid: r.domid });
    }
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
    // P2. The binary.
    let qemu = resolve(&s.qemu, host.path.as_deref())?;
    executable_by(
        &qemu,
        r.uid,
        r.gid,
        groups.as_deref().unwrap_or(&host.groups),
    )?;
    // P3. The disks, each with its qcow2 chain (crate::disk); then the
    // kernel and ramdisk.
    if r.config.disks.len() > MAX_DISKS {
        return Err(PrepareError::TooManyDisks {
            domid: r.domid,
            count: r.config.disks.len(),
        });
    }
    let access = Access::of(s);
    let mut disks = r
        .config
        .disks
        .iter()
        .map(|d| {
            open_disk(&access, d)
                .map(OpenImage::Disk)
                .map_err(|source| PrepareError::Disk {
                    domid: r.domid,
                    source,
                })
        })
        .collect::<Result<Vec<_>, PrepareError>>()?;
    // qemu's fd numbers and nodes are laid out per configured disk: one
    // open disk for each, or none of it starts.
    if disks.len() != r.config.disks.len() {
        return Err(PrepareError::DiskCount {
            domid: r.domid,
            configured: r.config.disks.len(),
            opened: disks.len(),
        });
    }
    let need = fd_count(disks.iter().filter_map(|d| match d {
        OpenImage::Disk(d) => Some(d),
        OpenImage::Boot(..) => None,
    }));
    if need > MAX_BLOCK_FDS {
        return Err(PrepareError::TooManyBlockFds {
            domid: r.domid,
            need,
        });
    }
    // The kernel and ramdisk, as disks are opened, read-only.
    let dm_groups = groups.as_deref().unwrap_or(&host.groups);
    disks.extend(bootfiles::open(s, &r, &access, dm_groups)?);
    // What the device model may hold beyond nothing (default deny).
    crate::dm::policy::check(s, r.config).map_err(|source| PrepareError::Policy {
        domid: r.domid,
        source,
    })?;
    // The network cards, checked (their backends are made at launch).
    let nics = crate::net::plan(s, &r.config.vifs).map_err(|source| PrepareError::Net {
        domid: r.domid,
        source,
    })?;
    // A card's MAC chosen here is the domain's from now on, as Xen's
    // xend records it: in the config xend keeps and saves (what
    // `xm network-list` shows, and what a later xend adopts).
    let mut config = r.config.clone();
    let mut chosen = false;
    for n in &nics {
        if let Some(v) = config.vifs.get_mut(n.index).filter(|v| v.mac.is_none()) {
            v.mac = Some(n.mac);
            chosen = true;
        }
    }
    let text = if chosen {
        config.to_text()
    } else {
        r.text.to_string()
    };
    // P4. The device nodes.
    for n in dev_nodes(s.kvm) {
        char_device(&host.dev.join(n))?;
    }
    // P5. The limits.
    let limits =
        privlib::bounded::read_to_string(&host.limits, LIMITS_MAX).map_err(PrepareError::Limits)?;
    let hard = hard_limit(&host.limits, &limits, NOFILE_LINE)?;
    if hard.is_some_and(|h| h < DM_NOFILE) {
        return Err(PrepareError::NofileTooLow {
            hard: hard.unwrap_or(0),
            want: DM_NOFILE,
        });
    }
    // Locked memory (crate::dm::policy): a device model allowed to lock
    // needs its guest's memory and qemu's within xend's hard limit, which
    // xend cannot raise.
    if let Some(need) = crate::dm::policy::memlock(r.config, s.kvm) {
        let hard = hard_limit(&host.limits, &limits, MEMLOCK_LINE)?;
        crate::dm::policy::check_memlock(need, hard).map_err(|source| PrepareError::Policy {
            domid: r.domid,
            source,
        })?;
    }
    Ok(Prepared {
        domid: r.domid,
        uid: r.uid,
        gid: r.gid,
        groups,
        kvm: s.kvm,
        qemu,
        config,
        disks,
        dir: s.run.join("domains").join(r.domid.to_string()),
        dm_range: s.dm_range,
        uuid: r.uuid.to_string(),
        source: r.source.to_string(),
        text,
        xenstore: s.xenstore.clone(),
        nics,
        incoming: false,
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
    let m = std::fs::metadata(path).map_err(|source| PrepareError::Qemu {
        path: path.to_path_buf(),
        source,
    })?;
    if !m.is_file() {
        return Err(PrepareError::QemuNotAFile {
            path: path.to_path_buf(),
        });
    }
    if !allowed(&m, uid, gid, groups, 0o1) {
        return Err(PrepareError::QemuNotExecutable {
            path: path.to_path_buf(),
            uid,
        });
    }
    Ok(())
}

/// Whether the mode bits of `m` grant `uid` (with `gid` and `groups`) the
/// access `bit` (4 read, 2 write, 1 execute), as the kernel picks the
/// owner's, the group's or the others' bits.
pub(super) fn allowed(m: &std::fs::Metadata, uid: u32, gid: u32, groups: &[u32], bit: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let shift = if m.uid() == uid {
        6
    } else if m.gid() == gid || groups.contains(&m.gid()) {
        3
    } else {
        0
    };
    m.mode() & (bit << shift) != 0
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
pub(crate) const LIMITS_MAX: u64 = 8192;

/// The hard limit on open files in the `/proc/PID/limits` table at
/// `path` (`None`: unlimited).
#[cfg(test)]
fn hard_nofile(path: &Path) -> Result<Option<u64>, PrepareError> {
    let text = privlib::bounded::read_to_string(path, LIMITS_MAX).map_err(PrepareError::Limits)?;
    hard_limit(path, &text, NOFILE_LINE)
}

/// The line of the hard limit on open files.
const NOFILE_LINE: &str = "Max open files";
/// The line of the hard limit on locked memory (in bytes).
pub(crate) const MEMLOCK_LINE: &str = "Max locked memory";

/// The hard limit on the `/proc/PID/limits` table `text`'s line `line`
/// (read from `path`; `None`: unlimited).
pub(crate) fn hard_limit(
    path: &Path,
    text: &str,
    line: &'static str,
) -> Result<Option<u64>, PrepareError> {
    let unreadable = || PrepareError::LimitsUnreadable {
        path: path.to_path_buf(),
        line,
    };
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .ok_or_else(unreadable)?;
    match rest.split_whitespace().nth(1) {
        Some("unlimited") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|source| PrepareError::LimitsNumber {
                path: path.to_path_buf(),
                line,
                source,
            }),
        None => Err(unreadable()),
    }
}

#[cfg(test)]
#[path = "prepare_tests.rs"]
mod tests;
