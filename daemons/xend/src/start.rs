//! Starting xend: its start-up steps in order ([`start`]), each failing
//! with its own [`StartError`] variant, its cause kept. `main.rs` parses
//! the arguments into [`Options`], calls [`start`] and prints the one line.
//!
//! The order: our credentials and mode; the layout (where xend keeps
//! things), the policy and the account; the layout made; the device-model
//! uid range checked against users' subordinate ids; KVM; the privilege
//! drop (`init_daemon_priv` to xvm, keeping only what starting and ending
//! device models takes, bracketed); the layout checked as the account;
//! the socket bound; the VNC address policy (a warning when it is
//! `any`); domains a previous xend left adopted; then the
//! accept thread and, on this thread, looking after the domains.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use privlib::cli::{DaemonAccount, DaemonMode};
use privlib::listener::ListenError;
use privlib::mode::{ModeError, xvm_root};
use privlib::procfs::ProcError;
use privlib::subid::DmRangeError;
use privlib::{
    GateLimits, InitFlags, Policy, PolicyError, PrivError, SetError, init_daemon_priv, parse_set,
    priv_bracket_init,
};

use crate::domain::Settings;
use crate::layout::{Layout, LayoutError};
use crate::manager::Manager;
use crate::server::Xend;
use crate::vnc::VncListen;

/// How to start: what `main.rs` parsed from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// System or session mode, and the log level.
    pub mode: DaemonMode,
    /// The account (system mode) and the device-model uid range.
    pub account: DaemonAccount,
    /// Disk images must be beneath one of these (none: the layout's).
    pub image_dirs: Vec<PathBuf>,
    /// The qemu binary.
    pub qemu: PathBuf,
    /// How long a shutdown may take before the domain is destroyed.
    pub shutdown_timeout: Duration,
    /// Connections served at once.
    pub max_conns: usize,
    /// Connections one user may have served at once.
    pub max_conns_per_uid: usize,
    /// Where VNC listeners may be opened ([`crate::vnc`]).
    pub vnc_listen: VncListen,
    /// KVM or TCG.
    pub accel: Accel,
    /// The features on (`--feature-NAME on|off`, the manifest's
    /// `features` group): what xend keeps besides proc_setid.
    pub features: crate::features::Features,
    /// The bridges guests' cards may join (`--bridges`).
    pub bridges: crate::features::Bridges,
}

/// How device models run guests (`--accel`, the manifest's
/// `config/accel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// KVM when /dev/kvm is usable, else TCG.
    Auto,
    /// KVM, or xend does not start.
    Kvm,
    /// TCG only.
    Tcg,
}

/// A start-up step that failed, in the order [`start`] takes them.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Reading our own credentials from `/proc/self/status`.
    #[error("{0}")]
    Cred(#[source] ProcError),
    /// Deciding system or session mode.
    #[error("{0}")]
    Mode(#[source] ModeError),
    /// The session layout is not known (no home, no runtime directory).
    #[error("{0}")]
    SessionLayout(#[source] LayoutError),
    /// The privilege policy does not load.
    #[error("{0}")]
    Policy(#[source] PolicyError),
    /// The account to run as could not be had.
    #[error("{0}")]
    Account(#[source] privlib::cli::AccountError),
    /// Making the layout's directories.
    #[error("{0}")]
    MakeLayout(#[source] LayoutError),
    /// The device-model uid range overlaps a user's subordinate ids.
    #[error("{0}")]
    DmRange(#[source] DmRangeError),
    /// The privileges xend keeps do not parse.
    #[error("{0}")]
    KeepSet(#[source] SetError),
    /// A feature that is on needs privileges xend was not started with.
    #[error(
        "feature {feature} is on and needs {privileges}, which xend was not started with: give them in the manifest's method_credential privileges and limit_privileges, or turn the feature off (--feature-{feature} off)"
    )]
    FeatureNotGiven {
        /// The feature's name.
        feature: &'static str,
        /// Its privileges xend lacks.
        privileges: String,
    },
    /// Switching to the account, keeping only those.
    #[error("init_daemon_priv: {0}")]
    InitPriv(#[source] PrivError),
    /// Lowering the features' privileges in E.
    #[error("lowering the features' privileges in E: {0}")]
    LowerFeatures(#[source] PrivError),
    /// Removing for good what the features that are off declared.
    #[error("fini_daemon_priv of {privileges}: {source}")]
    FiniPriv {
        /// What was to be removed.
        privileges: String,
        /// The cause.
        #[source]
        source: PrivError,
    },
    /// The bracketed privileges do not parse.
    #[error("{0}")]
    BracketSet(#[source] SetError),
    /// Bracketing proc_setid.
    #[error("bracketing proc_setid: {0}")]
    Bracket(#[source] PrivError),
    /// The layout is not the account's (checked as the account).
    #[error("{0}")]
    CheckLayout(#[source] LayoutError),
    /// Binding xend's socket.
    #[error("{0}")]
    Bind(#[source] ListenError),
    /// The connection gate could not be made.
    #[error("connection gate: {0}")]
    Gate(#[source] std::io::Error),
    /// The accept thread could not be started.
    #[error("accept thread: {0}")]
    AcceptThread(#[source] std::io::Error),
    /// `--accel kvm`, and /dev/kvm is not usable.
    #[error(
        "--accel kvm: /dev/kvm is missing, or not a device the kvm group (system mode) or this user (session mode) may use"
    )]
    NoKvm,
    /// Looking after the domains failed (poll).
    #[error("poll: {0}")]
    Watch(#[source] std::io::Error),
}

/// KVM when /dev/kvm is a device the `kvm` group (system) or we
/// (session) may use.
fn kvm(system: bool) -> (bool, Option<u32>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata("/dev/kvm") else {
        return (false, None);
    };
    if system {
        let gid = m.gid();
        let usable = m.mode() & 0o060 == 0o060 && gid != 0;
        (usable, usable.then_some(gid))
    } else {
        let ok = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        (ok, None)
    }
}

/// Every privilege of a feature that is on must be in P now: a
/// restarter that gave less (a manifest from before the feature) gets a
/// refusal naming the feature rather than init_daemon_priv's bare
/// "not held".
fn check_given(f: &crate::features::Features) -> Result<(), StartError> {
    let held = privlib::getppriv()
        .map_err(StartError::InitPriv)?
        .permitted
        .caps(privlib::last_cap());
    for i in f.enabled() {
        let want = parse_set(i.privileges).map_err(StartError::KeepSet)?;
        let missing = want.caps(privlib::last_cap()).minus(held);
        if !missing.is_empty() {
            return Err(StartError::FeatureNotGiven {
                feature: i.name,
                privileges: format!("{} ({missing})", i.privileges),
            });
        }
    }
    Ok(())
}

/// Starts xend and serves until a step fails: it returns only with the
/// error.
pub fn start(a: Options) -> Result<Infallible, StartError> {
    let ids = privlib::procfs::read_cred(Path::new("/proc"), "self").map_err(StartError::Cred)?;
    let system = a.mode.is_system().map_err(StartError::Mode)?;
    a.mode.install_log();
    let layout = if system {
        Layout::system(&xvm_root())
    } else {
        Layout::session().map_err(StartError::SessionLayout)?
    };
    let image_dirs = if a.image_dirs.is_empty() {
        layout.image_dirs.clone()
    } else {
        a.image_dirs
    };
    let policy = Policy::load(system, ids.uid[1]).map_err(StartError::Policy)?;
    let account = if system {
        Some(a.account.lookup().map_err(StartError::Account)?)
    } else {
        None
    };
    layout
        .prepare(account.as_ref())
        .map_err(StartError::MakeLayout)?;
    // Device models under their own uids: system mode, or root in session
    // mode (a device model never runs as root).
    let dm_range = system || ids.uid[1] == 0;
    if dm_range {
        privlib::subid::check_dm_range(a.account.dm_uid_base, a.account.dm_uid_count)
            .map_err(StartError::DmRange)?;
    }
    let (use_kvm, kvm_gid) = match a.accel {
        Accel::Tcg => (false, None),
        Accel::Auto => kvm(dm_range),
        Accel::Kvm => match kvm(dm_range) {
            (true, gid) => (true, gid),
            (false, _) => return Err(StartError::NoKvm),
        },
    };

    // Least privilege: xvm, and in P only what starting and ending device
    // models takes and what the features that are on declare, each raised
    // around its step alone.
    let keep =
        crate::privs::keep_set(system, dm_range, &a.features).map_err(StartError::KeepSet)?;
    let removed =
        crate::privs::removed_set(system, &keep, &a.features).map_err(StartError::KeepSet)?;
    if system {
        check_given(&a.features)?;
    }
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        account.as_ref().map(|u| u.uid),
        account.as_ref().map(|u| u.gid),
        &keep,
    )
    .map_err(StartError::InitPriv)?;
    if dm_range {
        let bracketed = parse_set(crate::privs::BRACKETED).map_err(StartError::BracketSet)?;
        priv_bracket_init(&bracketed).map_err(StartError::Bracket)?;
    }
    // init_daemon_priv left E = P: the features' privileges go from E
    // until Raised puts one feature's there around its call; and what a
    // feature that is off declared goes for good, whatever the restarter
    // gave.
    let features =
        crate::privs::features_set(crate::features::TABLE.iter()).map_err(StartError::KeepSet)?;
    privlib::setppriv(privlib::PrivOp::Off, privlib::Which::Effective, &features)
        .map_err(StartError::LowerFeatures)?;
    privlib::fini_daemon_priv(&removed).map_err(|source| StartError::FiniPriv {
        privileges: removed.to_string(),
        source,
    })?;
    tracing::info!(
        "privileges: P holds {keep}, each beyond basic raised in E only around its step; removed for good: {}",
        if removed.is_empty() {
            "none".to_string()
        } else {
            removed.to_string()
        }
    );
    for line in a.features.describe() {
        tracing::info!(
            "{line}{}",
            if system {
                ""
            } else {
                " (session mode: xend holds none of them)"
            }
        );
    }

    // As the account now: what it keeps its state in must be its own.
    layout
        .check(account.as_ref().map_or(ids.uid[1], |u| u.uid))
        .map_err(StartError::CheckLayout)?;

    let socket = layout.run.join("xmlrpc.sock");
    let server = crate::server::bind(&socket).map_err(StartError::Bind)?;
    let endpoint = socket.display().to_string();
    let mut m = Manager::new(Settings {
        system,
        dm_range,
        run: layout.run.clone(),
        image_dirs,
        dm_uid_base: a.account.dm_uid_base,
        dm_uid_count: a.account.dm_uid_count,
        kvm: use_kvm,
        kvm_gid,
        xenstore: layout.xenstore.clone(),
        qemu: a.qemu,
        shutdown_timeout: a.shutdown_timeout,
        managed: layout.managed.clone(),
        features: a.features,
        bridges: a.bridges,
    });
    m.vnc_listen = a.vnc_listen;
    if a.vnc_listen == VncListen::Any {
        tracing::warn!(
            "--vnc-listen any: a domain's VNC on an address other than loopback is open to every host that reaches it, with no check of who connects"
        );
    }
    m.adopt_all();
    let domains = m.domains.len();
    let xend = Arc::new(Xend::new(m, policy, endpoint.clone()));
    // Threads from here on: the privilege drop above is done.
    let gate = crate::server::gate(GateLimits {
        total: a.max_conns,
        per_uid: a.max_conns_per_uid,
        ..GateLimits::default()
    })
    .map_err(StartError::Gate)?;
    {
        let xend = Arc::clone(&xend);
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || {
                if let Err(e) = xend.serve(&server, &gate) {
                    tracing::error!("accepting on xend's socket: {e}");
                    std::process::exit(1);
                }
            })
            .map_err(StartError::AcceptThread)?;
    }
    tracing::info!(mode = if system { "system" } else { "session" }, socket = %endpoint, kvm = use_kvm, domains, "xend serving");
    // Managed domains marked autostart, on a thread of their own: the
    // domains are looked after meanwhile.
    {
        let xend = Arc::clone(&xend);
        let spawned = std::thread::Builder::new()
            .name("autostart".into())
            .spawn(move || xend.autostart_all());
        if let Err(e) = spawned {
            tracing::error!("autostart: no thread to start domains on: {e}");
        }
    }
    // This thread looks after the domains: device models that end,
    // shutdowns past their deadline, VNC clients to hand over.
    xend.watch().map_err(StartError::Watch)
}
