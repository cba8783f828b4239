//! The device model: one qemu per domain, with no privilege at all.
//!
//! The launch, in this order (each step below the one it depends on):
//! 1. Validate everything first: the qemu binary, the uid, the disks (xend
//!    has opened them; qemu gets the open fds, never a path), the sockets
//!    (xend has bound QMP and serial in its own 0700 directory and passes
//!    the listening fds: only xend can connect to them).
//! 2. Fork (privlib's spawn). In the child, as root still: the bounding
//!    set emptied, supplementary groups set to `kvm` only when the domain
//!    uid can use /dev/kvm, then gid and uid = the domain's own.
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

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use privlib::{FsAccess, PrivSet, Spawn, parse_set};

use crate::config::{DomainConfig, Format};

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
    /// The spec does not fit.
    #[error("domain {domid}: {why}")]
    Invalid {
        /// The domain.
        domid: u32,
        /// What is wrong.
        why: String,
    },
    /// privlib could not start it.
    #[error("domain {domid}: starting qemu: {source}")]
    Spawn {
        /// The domain.
        domid: u32,
        /// The failure (names the step).
        source: privlib::SpawnError,
    },
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
            match d.format {
                Format::Raw => "raw",
                Format::Qcow2 => "qcow2",
            },
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

/// Starts the device model of `spec`.
pub fn launch(spec: &DmSpec<'_>) -> Result<privlib::Child, DmError> {
    let invalid = |why: String| DmError::Invalid {
        domid: spec.domid,
        why,
    };
    // 1. Validate.
    if spec.uid == 0 || spec.gid == 0 || spec.groups.as_ref().is_some_and(|g| g.contains(&0)) {
        return Err(invalid("a device model never runs as uid or gid 0".into()));
    }
    if spec.disks.len() != spec.config.disks.len() {
        return Err(invalid(format!(
            "{} disks configured, {} opened",
            spec.config.disks.len(),
            spec.disks.len()
        )));
    }
    if spec.disks.len() > 4 {
        return Err(invalid(
            "more than 4 disks (the IDE controller has 4 slots)".into(),
        ));
    }
    let mut nodes = vec!["null", "zero", "urandom"];
    if spec.kvm {
        nodes.push("kvm");
    }
    // 2-5: privlib's spawn does them in its fixed order.
    let mut sp = Spawn::new(&spec.qemu)
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
        .pass_fd(spec.serial.as_raw_fd(), FD_SERIAL)
        // No core dumps (a guest's memory), and a bound on open files.
        .rlimit(libc::RLIMIT_CORE, 0, 0)
        .rlimit(libc::RLIMIT_NOFILE, DM_NOFILE, DM_NOFILE);
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
    for (i, d) in spec.disks.iter().enumerate() {
        let ro = std::fs::File::open(format!("/proc/self/fd/{}", d.as_raw_fd()))
            .map_err(|e| invalid(format!("disk {i}: a read-only fd: {e}")))?;
        let (rw_fd, ro_fd) = disk_fds(i);
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
