//! The device model: one qemu per domain, with no privilege at all.
//!
//! - [`prepare`] checks everything a launch needs and makes nothing;
//!   [`crate::launch::run`] then makes the domain's directory, sockets and
//!   log, and calls [`spawn`] here;
//! - [`log`] keeps qemu's output, bounded; [`kill`] ends it without any
//!   capability.
//!
//! The launch, in this order (each step below the one it depends on):
//! 1. Validate everything first ([`prepare`]): the ids, the qemu binary,
//!    the disks (opened by xend; qemu gets the open fds, never a path),
//!    the /dev nodes, the limits. xend binds QMP and serial in its own
//!    0700 directory and passes the listening fds: only xend can connect
//!    to them.
//! 2. Fork (privlib's spawn). In the child, as root still: rlimits first
//!    (no core dump, [`DM_NOFILE`] open files), the bounding set emptied,
//!    supplementary groups set to `kvm` only when the domain uid can use
//!    /dev/kvm, then gid and uid = the domain's own.
//! 3. As that uid: a user namespace mapping only it, whose mount
//!    namespace gets a read-only tmpfs /dev holding null, zero, urandom
//!    (and kvm when used); no capability survives, inside or out.
//! 4. no_new_privs; Landlock: read /usr and the loader cache, read-write
//!    only the allowed /dev nodes; seccomp: no fork, no further exec, no
//!    network sockets (unix sockets stay).
//! 5. exec qemu, which adds its own `-sandbox` filter with everything it
//!    can deny.

pub mod kill;
pub mod log;
pub mod prepare;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use privlib::{FsAccess, PrivSet, Spawn, parse_set};

use crate::config::DomainConfig;

/// Where qemu is.
pub const QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// The fd numbers qemu gets: QMP, serial, then one per disk.
const FD_QMP: i32 = 3;
const FD_SERIAL: i32 = 4;
const FD_DISK0: i32 = 5;

/// One device model to start.
#[derive(Debug)]
pub struct DmSpec<'a> {
    /// The domain.
    pub domid: u32,
    /// Its config.
    pub config: &'a DomainConfig,
    /// The uid and gid it runs as (base + domid).
    pub uid: u32,
    /// The gid.
    pub gid: u32,
    /// Use KVM (/dev/kvm goes into its /dev); else TCG.
    pub kvm: bool,
    /// Its supplementary groups (`kvm` when used; none otherwise). `None`
    /// in session mode: it keeps the user's own.
    pub groups: Option<Vec<u32>>,
    /// The listening QMP socket (xend's).
    pub qmp: &'a OwnedFd,
    /// The listening serial socket (xend's; the console daemon connects).
    pub serial: &'a OwnedFd,
    /// The disks, opened by xend, in config order.
    pub disks: &'a [OwnedFd],
    /// Where stderr of qemu goes.
    pub log: &'a OwnedFd,
    /// The qemu binary.
    pub qemu: PathBuf,
}

/// Why a device model could not start.
#[derive(Debug, thiserror::Error)]
pub enum DmError {
    /// Uid, gid or a supplementary group 0.
    #[error("domain {domid}: a device model never runs as uid or gid 0")]
    RootId {
        /// The domain.
        domid: u32,
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
    /// The read-only twin of a disk fd could not be opened.
    #[error("domain {domid}: disk {index}: a read-only fd: {source}")]
    ReadOnlyTwin {
        /// The domain.
        domid: u32,
        /// The disk, from 0 in config order.
        index: usize,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// privlib could not start it.
    #[error("domain {domid}: starting qemu: {source}")]
    Spawn {
        /// The domain.
        domid: u32,
        /// The failure (names the step).
        #[source]
        source: privlib::SpawnError,
    },
}

/// Disks a domain may have: the emulated IDE controller's slots.
pub const MAX_DISKS: usize = 4;

/// Refuses ids a device model must never run as: uid, gid or a
/// supplementary group 0.
pub fn check_ids(domid: u32, uid: u32, gid: u32, groups: Option<&[u32]>) -> Result<(), DmError> {
    if uid == 0 || gid == 0 || groups.is_some_and(|g| g.contains(&0)) {
        return Err(DmError::RootId { domid });
    }
    Ok(())
}

/// Refuses more disks than the IDE controller has slots.
pub fn check_disk_count(domid: u32, c: &DomainConfig) -> Result<(), DmError> {
    if c.disks.len() > MAX_DISKS {
        return Err(DmError::TooManyDisks {
            domid,
            count: c.disks.len(),
        });
    }
    Ok(())
}

/// The host's device nodes a device model gets in its private `/dev`.
pub fn dev_nodes(kvm: bool) -> Vec<&'static str> {
    let mut nodes = vec!["null", "zero", "urandom"];
    if kvm {
        nodes.push("kvm");
    }
    nodes
}

/// The fd numbers of disk `i` in qemu: (read-write, read-only).
fn disk_fds(i: usize) -> (i32, i32) {
    let base = FD_DISK0 + 2 * i32::try_from(i).unwrap_or(0);
    (base, base + 1)
}

/// The privileges qemu keeps: basic, without fork, further exec, network,
/// signalling others, and with file access only by the Landlock rules.
pub fn dm_privileges() -> PrivSet {
    parse_set("basic,!proc_fork,!proc_exec,!net_access,!proc_session,!proc_info,!file_link_any,!file_read,!file_write")
        .unwrap_or_else(|_| PrivSet::none())
}

/// The qemu command line (arguments after the program).
pub fn qemu_args(spec: &DmSpec<'_>) -> Vec<String> {
    let c = spec.config;
    let accel = if spec.kvm { "kvm" } else { "tcg" };
    let mut a: Vec<String> = vec![
        "-name".into(),
        format!("guest={},debug-threads=off", c.name),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-machine".into(),
        format!("pc,accel={accel}"),
        "-m".into(),
        c.memory_mib.to_string(),
        "-smp".into(),
        c.vcpus.to_string(),
        "-chardev".into(),
        format!("socket,id=qmp,fd={FD_QMP},server=on,wait=off"),
        "-mon".into(),
        "chardev=qmp,mode=control".into(),
        "-chardev".into(),
        format!("socket,id=ser0,fd={FD_SERIAL},server=on,wait=off"),
        "-serial".into(),
        "chardev:ser0".into(),
    ];
    for (i, d) in c.disks.iter().enumerate() {
        let set = i + 1;
        // Two fds a set: qemu asks for the access mode it needs (it probes
        // read-only first), and an fdset answers only with a matching fd.
        let (rw, ro) = disk_fds(i);
        a.push("-add-fd".into());
        a.push(format!("fd={ro},set={set}"));
        if !d.read_only {
            a.push("-add-fd".into());
            a.push(format!("fd={rw},set={set}"));
        }
        a.push("-drive".into());
        a.push(format!(
            "file=/dev/fdset/{set},format={},if=ide,index={},media={}{}",
            d.format.name(),
            crate::config::ide_index(&d.vdev).unwrap_or(i),
            if d.cdrom { "cdrom" } else { "disk" },
            if d.read_only { ",readonly=on" } else { "" }
        ));
    }
    if c.vnc {
        // A VNC server that listens nowhere: xend accepts clients on its
        // own socket and hands each one over QMP (add_client).
        a.extend(["-vnc".into(), "none".into()]);
    }
    a.extend([
        "-boot".into(),
        "order=cd".into(),
        "-sandbox".into(),
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny".into(),
    ]);
    a
}

/// Open files a device model may have (disks, VNC clients, sockets).
pub const DM_NOFILE: u64 = 1024;

/// Starts the device model of `spec`, checking its ids and disks first
/// (for callers that did not go through [`prepare::prepare`]).
pub fn launch(spec: &DmSpec<'_>) -> Result<privlib::Child, DmError> {
    check_ids(spec.domid, spec.uid, spec.gid, spec.groups.as_deref())?;
    check_disk_count(spec.domid, spec.config)?;
    spawn(spec)
}

/// Starts the device model of `spec`, whose ids and disks are checked:
/// privlib's spawn does steps 2-5 of this module's list in its fixed order.
pub fn spawn(spec: &DmSpec<'_>) -> Result<privlib::Child, DmError> {
    if spec.disks.len() != spec.config.disks.len() {
        return Err(DmError::DiskCount {
            domid: spec.domid,
            configured: spec.config.disks.len(),
            opened: spec.disks.len(),
        });
    }
    let nodes = dev_nodes(spec.kvm);
    let mut sp = Spawn::new(&spec.qemu)
        // No core dumps (a guest's memory), and a bound on open files:
        // the child sets them first, while still privileged.
        .rlimit(libc::RLIMIT_CORE, 0, 0)
        .rlimit(libc::RLIMIT_NOFILE, DM_NOFILE, DM_NOFILE)
        .args(qemu_args(spec))
        .uid(spec.uid)
        .gid(spec.gid)
        .privileges(dm_privileges())
        .limit(dm_privileges())
        .no_new_privs(true)
        .private_dev(&nodes)
        .fs_allow("/usr", FsAccess::READ | FsAccess::EXEC)
        .fs_allow("/etc/ld.so.cache", FsAccess::READ)
        .pass_fd(spec.log.as_raw_fd(), 1)
        .pass_fd(spec.log.as_raw_fd(), 2)
        .pass_fd(spec.qmp.as_raw_fd(), FD_QMP)
        .pass_fd(spec.serial.as_raw_fd(), FD_SERIAL);
    if let Some(g) = &spec.groups {
        sp = sp.groups(g);
    }
    for n in &nodes {
        sp = sp.fs_allow(
            Path::new("/dev").join(n),
            FsAccess::READ | FsAccess::WRITE | FsAccess::DEVICE,
        );
    }
    // A read-only twin of each disk fd, opened through the fd itself (the
    // same file, whatever its path now names).
    let mut twins = Vec::new();
    for (index, d) in spec.disks.iter().enumerate() {
        let ro =
            std::fs::File::open(format!("/proc/self/fd/{}", d.as_raw_fd())).map_err(|source| {
                DmError::ReadOnlyTwin {
                    domid: spec.domid,
                    index,
                    source,
                }
            })?;
        let (rw_fd, ro_fd) = disk_fds(index);
        sp = sp
            .pass_fd(d.as_raw_fd(), rw_fd)
            .pass_fd(ro.as_raw_fd(), ro_fd);
        twins.push(ro);
    }
    sp.spawn().map_err(|source| DmError::Spawn {
        domid: spec.domid,
        source,
    })
}
