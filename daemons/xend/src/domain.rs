//! What a domain is at run time, and what it is launched with: the
//! settings of this xend ([`Settings`]), a running domain ([`Domain`],
//! [`DState`]), one reserved to be started ([`Reservation`]), and the
//! limits on them ([`MAX_MANAGED`]).
//!
//! Plain data: everything that starts, records or ends a domain
//! ([`crate::dm`], [`crate::entries`], [`crate::saved`],
//! [`crate::launch`], [`crate::manager`]) is built over this module, and
//! it uses none of them.

use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::api::DomainState;
use crate::config::DomainConfig;

/// Managed domains xend keeps at most: each is a file read by every
/// `xm list`, and any `virt_manage` user may store them.
pub const MAX_MANAGED: usize = 256;

/// How xend runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// System mode (xend as xvm).
    pub system: bool,
    /// Device models run under their own uids from the range: always in
    /// system mode, and in session mode when started by root (a device
    /// model never runs as root). Otherwise they run as the user.
    pub dm_range: bool,
    /// `<run>/xend`.
    pub run: PathBuf,
    /// Directories disk images must be beneath.
    pub image_dirs: Vec<PathBuf>,
    /// Domain N's device model runs as `dm_uid_base + N` (system mode).
    pub dm_uid_base: u32,
    /// How many domids there are.
    pub dm_uid_count: u32,
    /// Use KVM.
    pub kvm: bool,
    /// The kvm group device models get (system mode), when KVM is used.
    pub kvm_gid: Option<u32>,
    /// xenstored's socket.
    pub xenstore: PathBuf,
    /// The qemu binary.
    pub qemu: PathBuf,
    /// How long a shutdown may take before the domain is destroyed.
    pub shutdown_timeout: Duration,
    /// Managed domains' configs (`/var/lib/xend/domains`).
    pub managed: PathBuf,
    /// The features this xend runs with ([`crate::features`]).
    pub features: crate::features::Features,
    /// The bridges its guests' cards may join.
    pub bridges: crate::features::Bridges,
}

/// A domain's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DState {
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Asked to power off; destroyed at the deadline.
    ShuttingDown(Instant),
    /// Its qemu ended unasked, and on_crash is preserve.
    Crashed,
}

impl DState {
    /// Running when `runs`, else paused (a domain resumed, or left as
    /// it was, after a migration).
    pub fn running_if(runs: bool) -> DState {
        if runs {
            DState::Running
        } else {
            DState::Paused
        }
    }

    /// As the API shows it.
    pub fn shown(self) -> DomainState {
        match self {
            DState::Running => DomainState::Running,
            DState::Paused => DomainState::Paused,
            DState::ShuttingDown(_) => DomainState::ShuttingDown,
            DState::Crashed => DomainState::Crashed,
        }
    }
}

/// One domain.
#[derive(Debug)]
pub struct Domain {
    /// Its id.
    pub domid: u32,
    /// Its config.
    pub config: DomainConfig,
    /// Its UUID.
    pub uuid: String,
    /// Its state.
    pub state: DState,
    /// Its device model.
    pub child: Option<privlib::Child>,
    /// When it started.
    pub started: SystemTime,
    /// `<run>/xend/domains/N`.
    pub dir: PathBuf,
    /// The uid its device model runs as.
    pub uid: u32,
    /// Its VNC socket (`<dir>/vnc`), when `vnc = 1`: xend's listener,
    /// each client handed to qemu.
    pub vnc: Option<UnixListener>,
    /// Its VNC TCP listener, when `vnc = 1` (on `vnclisten`, see
    /// [`crate::vnc`]): xend's, each client admitted by the gate handed
    /// to qemu. Closed when the domain ends (dropped with it).
    pub vnc_tcp: Option<TcpListener>,
}

/// A domain reserved by [`crate::manager::Manager::reserve`], to be
/// started by [`crate::launch::launch`] (no lock needed) and recorded by
/// [`crate::manager::Manager::finish`].
#[derive(Debug)]
pub struct Reservation {
    /// Its id.
    pub domid: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) cfg: DomainConfig,
    pub(crate) uuid: String,
    pub(crate) source: String,
    pub(crate) text: String,
    /// Arriving from another host: started to receive its state.
    pub(crate) incoming: bool,
}

/// Where qemu is (the default of `xend --qemu`).
pub const QEMU: &str = "/usr/bin/qemu-system-x86_64";

impl Settings {
    /// Settings for driving a device model alone, without the rest of
    /// xend (the KVM test, the launch benchmark): system mode, device
    /// models under `dm_uid_base + domid` (100 domids), the shipped qemu,
    /// images, run and state directories beneath `dir`, no xenstored.
    pub fn device_model_only(
        dir: &std::path::Path,
        dm_uid_base: u32,
        kvm_gid: Option<u32>,
    ) -> Settings {
        Settings {
            system: true,
            dm_range: true,
            run: dir.join("run"),
            image_dirs: vec![dir.to_path_buf()],
            dm_uid_base,
            dm_uid_count: 100,
            kvm: kvm_gid.is_some(),
            kvm_gid,
            xenstore: dir.join("no-xenstored"),
            qemu: QEMU.into(),
            shutdown_timeout: Duration::from_secs(1),
            managed: dir.join("managed"),
            features: crate::features::Features::default(),
            bridges: crate::features::Bridges::Any,
        }
    }
}

/// Settings for a manager that starts nothing (tests): session mode, no
/// uid range, no xenstored, no qemu, everything beneath `dir`.
#[cfg(test)]
pub(crate) fn test_settings(dir: &std::path::Path) -> Settings {
    Settings {
        system: false,
        dm_range: false,
        run: dir.join("run"),
        image_dirs: Vec::new(),
        dm_uid_base: 200_000,
        dm_uid_count: 1000,
        kvm: false,
        kvm_gid: None,
        xenstore: dir.join("no-xenstored"),
        qemu: PathBuf::from("/nonexistent/qemu"),
        shutdown_timeout: Duration::from_secs(1),
        managed: dir.join("domains"),
        features: crate::features::Features::default(),
        bridges: crate::features::Bridges::Any,
    }
}
