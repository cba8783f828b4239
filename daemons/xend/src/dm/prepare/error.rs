//! Why [`prepare`](super::prepare) refused a launch: one variant per
//! check, each naming the domain and what was wrong, before anything was
//! made.

use std::path::PathBuf;

use crate::disk::{DiskError, ImageKind};
use crate::dm::MAX_DISKS;
use crate::dm::blockdev::MAX_BLOCK_FDS;
use crate::dm::prepare::BOOT_MAX;

/// Why a launch was refused before anything was made.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Uid, gid or a supplementary group 0.
    #[error("domain {domid}: a device model never runs as uid or gid 0")]
    RootId {
        /// The domain.
        domid: u32,
    },
    /// More disks than the emulated IDE controller has slots.
    #[error(
        "domain {domid}: {count} disks: more than {MAX_DISKS} (the IDE controller has {MAX_DISKS} slots)"
    )]
    TooManyDisks {
        /// The domain.
        domid: u32,
        /// Disks in its config.
        count: usize,
    },
    /// Not one open disk per configured disk.
    #[error("domain {domid}: {configured} disks configured, {opened} opened")]
    DiskCount {
        /// The domain.
        domid: u32,
        /// Disks in its config.
        configured: usize,
        /// Disks opened.
        opened: usize,
    },
    /// The disks' files need more fds than qemu's block range has.
    #[error(
        "domain {domid}: its disks and their backing files need {need} fds, more than the {MAX_BLOCK_FDS} a device model's disks may have"
    )]
    TooManyBlockFds {
        /// The domain.
        domid: u32,
        /// The fds needed.
        need: usize,
    },
    /// A kernel or ramdisk the device model may not read could not be
    /// copied for it.
    #[error("domain {domid}: {kind} {}: copying it for the device model: {source}", path.display())]
    BootCopy {
        /// The domain.
        domid: u32,
        /// Which file.
        kind: ImageKind,
        /// Its path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kernel or ramdisk larger than [`BOOT_MAX`], to be copied.
    #[error("domain {domid}: {kind} {}: larger than {BOOT_MAX} bytes", path.display())]
    BootTooLarge {
        /// The domain.
        domid: u32,
        /// Which file.
        kind: ImageKind,
        /// Its path.
        path: PathBuf,
    },
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
    /// xend's limits have no readable line for a limit.
    #[error("{}: no {line} line", path.display())]
    LimitsUnreadable {
        /// The file.
        path: PathBuf,
        /// The line's name (`Max open files`).
        line: &'static str,
    },
    /// The config's device-model privileges were refused
    /// ([`crate::dm::policy`]).
    #[error("domain {domid}: {source}")]
    Policy {
        /// The domain.
        domid: u32,
        /// Why.
        #[source]
        source: crate::dm::policy::PolicyError,
    },
    /// A network card was refused.
    #[error("domain {domid}: {source}")]
    Net {
        /// The domain.
        domid: u32,
        /// Why.
        #[source]
        source: crate::net::NetError,
    },
    /// xend's hard limit on open files (or locked memory) is not a
    /// number.
    #[error("{}: {line}: {source}", path.display())]
    LimitsNumber {
        /// The file.
        path: PathBuf,
        /// The line's name.
        line: &'static str,
        /// The cause.
        #[source]
        source: std::num::ParseIntError,
    },
    /// The hard limit on open files is below the device model's.
    #[error("xend's hard limit of {hard} open files is below the device model's {want}")]
    NofileTooLow {
        /// xend's hard limit.
        hard: u64,
        /// [`DM_NOFILE`](crate::dm::DM_NOFILE).
        want: u64,
    },
}
