//! The device model: one qemu per domain, with no privilege at all.
//!
//! There is one way to start one: [`prepare::prepare`] checks everything
//! and opens the disks (a [`prepare::Prepared`] is made only there), then
//! [`spawn`] starts qemu from it. The whole launch, with its order and
//! why, is the one list in [`crate::launch`].
//!
//! - [`prepare`] checks everything a launch needs and makes nothing;
//! - [`spawn`] (here) starts qemu from what prepare checked and the fds
//!   [`crate::launch::run`] made: privlib's spawn acts in the child in
//!   its fixed order;
//! - [`log`] keeps qemu's output, bounded; [`kill`] ends it without any
//!   capability.

pub mod blockdev;
pub mod kill;
pub mod log;
pub mod machine;
pub mod netdev;
pub mod policy;
pub mod prepare;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use privlib::{FsAccess, PrivSet, Spawn, parse_set};

use crate::config::DomainConfig;
use crate::disk::ImageKind;
use crate::dm::prepare::{OpenImage, Prepared};

pub use crate::domain::QEMU;

/// The fd numbers qemu gets, each kind in its own range: QMP, serial,
/// then the block devices' ([`FD_BLOCK0`] up to [`FD_BLOCK_END`]), the
/// kernel and ramdisk of a direct kernel boot, then one per network card
/// ([`FD_NIC0`], [`crate::net::MAX_NICS`] of them).
const FD_QMP: i32 = 3;
const FD_SERIAL: i32 = 4;
/// The first block-device fd.
pub const FD_BLOCK0: i32 = 5;
/// Past the last block-device fd (64 of them).
pub const FD_BLOCK_END: i32 = 69;
const FD_KERNEL: i32 = FD_BLOCK_END;
const FD_RAMDISK: i32 = FD_KERNEL + 1;
/// The first network card's backend.
pub const FD_NIC0: i32 = FD_RAMDISK + 1;

/// The fd number of a kernel or ramdisk in qemu (`None`: a disk's).
fn boot_fd(kind: ImageKind) -> Option<i32> {
    match kind {
        ImageKind::Kernel => Some(FD_KERNEL),
        ImageKind::Ramdisk => Some(FD_RAMDISK),
        ImageKind::Disk | ImageKind::Backing => None,
    }
}

/// The fds [`spawn`] passes to qemu besides the disks, made by
/// [`crate::launch::run`] (or a test's own).
#[derive(Clone, Copy, Debug)]
pub struct DmFds<'a> {
    /// The listening QMP socket (xend's).
    pub qmp: &'a OwnedFd,
    /// The listening serial socket (xend's; the console daemon connects).
    pub serial: &'a OwnedFd,
    /// Where stdout and stderr of qemu go.
    pub log: &'a OwnedFd,
    /// The backends of its network cards, one per
    /// [`prepare::Prepared`]'s `nics`, in order (made at launch,
    /// [`crate::net`]).
    pub nics: &'a [OwnedFd],
}

/// Why a prepared device model did not start: privlib's spawn failed
/// (every check came before, in [`prepare::prepare`]).
#[derive(Debug, thiserror::Error)]
#[error("domain {domid}: starting qemu: {source}")]
pub struct DmError {
    /// The domain.
    pub domid: u32,
    /// The failure (names privlib's step).
    #[source]
    pub source: privlib::SpawnError,
}

/// Disks a domain may have: the emulated IDE controller's slots.
pub const MAX_DISKS: usize = 4;

/// The host's device nodes a device model gets in its private `/dev`.
pub fn dev_nodes(kvm: bool) -> Vec<&'static str> {
    let mut nodes = vec!["null", "zero", "urandom"];
    if kvm {
        nodes.push("kvm");
    }
    nodes
}

/// The privileges qemu keeps: basic, without fork, further exec, network,
/// signalling others, and with file access only by the Landlock rules.
pub fn dm_privileges() -> PrivSet {
    parse_set("basic,!proc_fork,!proc_exec,!net_access,!proc_session,!proc_info,!file_link_any,!file_read,!file_write")
        .unwrap_or_else(|_| PrivSet::none())
}

/// The qemu command line of `c` (arguments after the program), with
/// KVM or TCG.
pub fn qemu_args(c: &DomainConfig, kvm: bool) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-name".into(),
        format!("guest={},debug-threads=off", c.name),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
    ];
    a.extend(machine::args(c, kvm));
    a.extend([
        "-chardev".into(),
        format!("socket,id=qmp,fd={FD_QMP},server=on,wait=off"),
        "-mon".into(),
        "chardev=qmp,mode=control".into(),
        "-chardev".into(),
        format!("socket,id=ser0,fd={FD_SERIAL},server=on,wait=off"),
        "-serial".into(),
        "chardev:ser0".into(),
    ]);
    // The disks: dm::blockdev, from the files prepare opened (spawn).
    // Direct kernel boot: qemu reads the files xend opened and checked,
    // by its own fds (`/proc/self/fd/N` names the open file, not a path).
    if c.kernel.is_some() {
        a.push("-kernel".into());
        a.push(format!("/proc/self/fd/{FD_KERNEL}"));
        if c.ramdisk.is_some() {
            a.push("-initrd".into());
            a.push(format!("/proc/self/fd/{FD_RAMDISK}"));
        }
        if let Some(cmdline) = &c.cmdline {
            a.push("-append".into());
            a.push(cmdline.clone());
        }
    }
    if c.vnc {
        // A VNC server that listens nowhere: xend accepts clients on its
        // own socket and hands each one over QMP (add_client); and a VGA
        // card for it to show (-nodefaults leaves none).
        a.extend(["-vnc".into(), "none".into(), "-device".into(), "VGA".into()]);
    }
    a.extend([
        "-sandbox".into(),
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny".into(),
    ]);
    a
}

/// What a device model receiving another host's state is started with:
/// it waits for `migrate-incoming` (`-incoming defer`) and stays paused
/// once loaded (`-S`) until xend resumes it.
pub fn incoming_args(incoming: bool) -> Vec<String> {
    if incoming {
        ["-S", "-incoming", "defer"].map(String::from).to_vec()
    } else {
        Vec::new()
    }
}

/// Open files a device model may have (disks, VNC clients, sockets).
pub const DM_NOFILE: u64 = 1024;

/// Starts the device model `p` describes, with the fds `fds`: privlib's
/// spawn does, in the child, step 5 of [`crate::launch`]'s list in its
/// fixed order. Checks nothing: a [`Prepared`] exists only once
/// [`prepare::prepare`] checked it.
pub fn spawn(p: &Prepared, fds: &DmFds<'_>) -> Result<privlib::Child, DmError> {
    let nodes = dev_nodes(p.kvm);
    let mut sp = Spawn::new(&p.qemu)
        // No core dumps (a guest's memory), and a bound on open files:
        // the child sets them first, while still privileged.
        .rlimit(libc::RLIMIT_CORE, 0, 0)
        .rlimit(libc::RLIMIT_NOFILE, DM_NOFILE, DM_NOFILE)
        .args(qemu_args(&p.config, p.kvm))
        .args(blockdev::args(p))
        .args(netdev::args(p))
        .args(policy::args(p))
        // A domain arriving from another host: qemu waits, paused, for
        // the state xend hands it later (`migrate-incoming` on an fd).
        .args(incoming_args(p.incoming))
        .uid(p.uid)
        .gid(p.gid)
        .privileges(policy::privileges(p))
        .limit(policy::privileges(p))
        .no_new_privs(true)
        .private_dev(&nodes)
        .fs_allow("/usr", FsAccess::READ | FsAccess::EXEC)
        .fs_allow("/etc/ld.so.cache", FsAccess::READ)
        .pass_fd(fds.log.as_raw_fd(), 1)
        .pass_fd(fds.log.as_raw_fd(), 2)
        .pass_fd(fds.qmp.as_raw_fd(), FD_QMP)
        .pass_fd(fds.serial.as_raw_fd(), FD_SERIAL);
    if let Some(g) = &p.groups {
        sp = sp.groups(g);
    }
    // Its locked-memory limit (and, allowed to lock, qemu told to): the
    // device-model policy.
    sp = policy::limits(sp, p);
    for n in &nodes {
        sp = sp.fs_allow(
            Path::new("/dev").join(n),
            FsAccess::READ | FsAccess::WRITE | FsAccess::DEVICE,
        );
    }
    sp = blockdev::pass(sp, p);
    for f in &p.disks {
        if let OpenImage::Boot(kind, fd) = f {
            let Some(to) = boot_fd(*kind) else { continue };
            // Landlock lets qemu read this file and no other: the rule
            // is made in xend (before the fork) on /proc/self/fd/N,
            // xend's own fd, so it names the very inode xend checked
            // (or its copy, see dm::prepare).
            sp = sp
                .pass_fd(fd.as_raw_fd(), to)
                .fs_allow(format!("/proc/self/fd/{}", fd.as_raw_fd()), FsAccess::READ);
        }
    }
    // Its taps' fds stay what xend made them: an attached tap takes
    // TUNSETPERSIST or TUNSETOWNER without any capability, which would let
    // a guest that took over qemu leave its tap on the bridge for anyone
    // to attach to after the domain ends.
    sp = netdev::pass(sp, fds.nics).seccomp(&privlib::basic::seccomp::tap_reconfigure());
    sp.spawn().map_err(|source| DmError {
        domid: p.domid,
        source,
    })
}
