//! Starting xenconsoled: its steps in order ([`start`]), each failing
//! with its own [`StartError`] variant, its cause kept. `main.rs` parses
//! the arguments into [`Options`], calls [`start`] and prints the line.
//!
//! The order: our credentials and mode; the paths, the policy and the
//! account; the run and log directories made (as root, given to the
//! account); the privilege drop (`init_daemon_priv` to xvm with nothing
//! beyond basic), before anything is read from a peer; the store
//! connected (as xvm: served as `xvm_control`); the signal fd; the
//! hypervisor log; proc_fork and proc_exec given up; files confined
//! (Landlock) to what the daemon uses; then the watches and the loop.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use privlib::cli::{DaemonAccount, DaemonMode};
use privlib::mode::{ModeError, env_path, session_data, session_run, xvm_root};
use privlib::os::landlock;
use privlib::procfs::ProcError;
use privlib::{
    InitFlags, LandlockError, Policy, PolicyError, PrivError, PrivSet, SetError, confine_fs,
    fini_daemon_priv, init_daemon_priv, parse_set,
};
use xenstored::client::{Client, ClientError};

use crate::console::ConsoleSettings;
use crate::daemon::{Daemon, LoopError};
use crate::gate::SerialListen;
use crate::logfile::{LogFile, LogLimits};

/// Which logs are kept (`--log`, `--timestamp`), as Xen's xenconsoled
/// has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// None.
    None,
    /// Each guest's (`guest-NAME.log`).
    Guest,
    /// The daemon's own domain events (`hypervisor.log`).
    Hv,
    /// Both.
    All,
}

impl Which {
    /// Whether the guests' logs are meant.
    pub fn guest(self) -> bool {
        matches!(self, Which::Guest | Which::All)
    }

    /// Whether the hypervisor log is meant.
    pub fn hv(self) -> bool {
        matches!(self, Which::Hv | Which::All)
    }
}

/// How to start: what `main.rs` parsed from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// System or session mode, and the log level.
    pub mode: DaemonMode,
    /// The account (system mode).
    pub account: DaemonAccount,
    /// Which logs are kept.
    pub log: Which,
    /// Where (none: by mode).
    pub log_dir: Option<PathBuf>,
    /// Which logs get timestamps.
    pub timestamp: Which,
    /// Bytes a log may reach before it is rotated.
    pub log_max_size: u64,
    /// Rotated logs kept.
    pub log_max_backups: u32,
    /// Bytes per second read from one domain (0: no limit).
    pub rate_limit: u64,
    /// Which `serial/0/tcp` addresses are listened on.
    pub serial_listen: SerialListen,
    /// xend's run directory (none: by mode).
    pub xend_run: Option<PathBuf>,
}

/// A start-up step that failed, in the order [`start`] takes them.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Reading our own credentials from `/proc/self/status`.
    #[error("{0}")]
    Cred(#[source] ProcError),
    /// Deciding system or session mode, or the session's directories.
    #[error("{0}")]
    Mode(#[source] ModeError),
    /// The privilege policy does not load.
    #[error("{0}")]
    Policy(#[source] PolicyError),
    /// The account to run as could not be had.
    #[error("{0}")]
    Account(#[source] privlib::cli::AccountError),
    /// Making or giving a directory.
    #[error("{}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Switching to the account with nothing beyond basic.
    #[error("init_daemon_priv: {0}")]
    InitPriv(#[source] PrivError),
    /// Connecting to xenstored.
    #[error("xenstored at {}: {source}", path.display())]
    Store {
        /// Its socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// Making the signal fd.
    #[error("signalfd: {0}")]
    Signals(#[source] io::Error),
    /// Opening the hypervisor log.
    #[error("{}: {source}", path.display())]
    HvLog {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Naming the privileges given up for good.
    #[error("{0}")]
    NeverSet(#[source] SetError),
    /// Giving up proc_fork and proc_exec.
    #[error("removing proc_fork, proc_exec: {0}")]
    FiniPriv(#[source] PrivError),
    /// Confining files (Landlock).
    #[error("confining files: {0}")]
    Confine(#[source] LandlockError),
    /// The loop failed.
    #[error("{0}")]
    Loop(#[source] LoopError),
}

/// Where things are, by mode.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The daemon's run directory.
    pub run: PathBuf,
    /// Its logs.
    pub log_dir: PathBuf,
    /// xend's run directory.
    pub xend_run: PathBuf,
    /// xenstored's socket.
    pub xenstore: PathBuf,
}

impl Paths {
    /// System mode under `root` (`XVM_ROOT` or `/`).
    pub fn system(root: &Path) -> Paths {
        Paths {
            run: root.join("run/xenconsoled"),
            log_dir: root.join("var/log/xen/console"),
            xend_run: root.join("run/xend"),
            xenstore: env_path("XENSTORED_PATH")
                .unwrap_or_else(|| root.join("run/xenstored/socket")),
        }
    }

    /// Session mode: the session's run and data directories.
    pub fn session() -> Result<Paths, ModeError> {
        let run = session_run()?;
        Ok(Paths {
            run: run.join("xenconsoled"),
            log_dir: session_data()?.join("log/console"),
            xend_run: run.join("xend"),
            xenstore: env_path("XENSTORED_PATH").unwrap_or_else(|| run.join("xenstored/socket")),
        })
    }
}

/// Makes a directory of the daemon's ([`privlib::os::fs::make_dir`]:
/// a symlink in its place is refused, never followed).
fn make_dir(dir: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<(), StartError> {
    privlib::os::fs::make_dir(dir, mode, owner).map_err(|source| StartError::Dir {
        dir: dir.to_path_buf(),
        source,
    })
}

/// Starts xenconsoled and serves until SIGTERM (`Ok`) or a failure.
pub fn start(a: Options) -> Result<(), StartError> {
    let ids = privlib::procfs::read_cred(Path::new("/proc"), "self").map_err(StartError::Cred)?;
    let system = a.mode.is_system().map_err(StartError::Mode)?;
    a.mode.install_log();
    let mut paths = if system {
        Paths::system(&xvm_root())
    } else {
        Paths::session().map_err(StartError::Mode)?
    };
    if let Some(d) = a.log_dir {
        paths.log_dir = d;
    }
    if let Some(d) = a.xend_run {
        paths.xend_run = d;
    }
    let policy = Policy::load(system, ids.uid[1]).map_err(StartError::Policy)?;
    let account = if system {
        Some(a.account.lookup().map_err(StartError::Account)?)
    } else {
        None
    };
    let me = account
        .as_ref()
        .map_or((ids.uid[1], ids.gid[1]), |u| (u.uid, u.gid));
    // Started as root: what is made is the account's. Started as the
    // account (a service manager did the switch): it is ours already.
    let owner = (ids.uid[1] == 0 && account.is_some()).then_some(me);
    // The run directory holds nothing yet; started as the account where
    // no layout made it (a parent it may not write), it runs without.
    let run = match make_dir(&paths.run, 0o700, owner) {
        Ok(()) => Some(paths.run.clone()),
        Err(StartError::Dir { source, .. })
            if owner.is_none() && source.kind() == io::ErrorKind::PermissionDenied =>
        {
            tracing::warn!(dir = %paths.run.display(), "not made ({source}): running without a run directory (xvm-fixperms' layout should make it xvm's, 0700)");
            None
        }
        Err(e) => return Err(e),
    };
    if a.log != Which::None {
        make_dir(&paths.log_dir, 0o750, owner)?;
    }

    // Least privilege before anything is read from a peer.
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        account.as_ref().map(|u| u.uid),
        account.as_ref().map(|u| u.gid),
        &PrivSet::none(),
    )
    .map_err(StartError::InitPriv)?;

    let xs = Client::connect_with_timeout(&paths.xenstore, Duration::from_secs(10)).map_err(
        |source| StartError::Store {
            path: paths.xenstore.clone(),
            source,
        },
    )?;
    let signals = privlib::os::poll::signal_fd(&[libc::SIGHUP, libc::SIGTERM, libc::SIGINT])
        .map_err(StartError::Signals)?;
    let limits = |stamped: bool| LogLimits {
        max_size: a.log_max_size,
        backups: a.log_max_backups,
        timestamp: stamped,
    };
    let hv_log = if a.log.hv() {
        let path = paths.log_dir.join("hypervisor.log");
        Some(
            LogFile::open(&path, limits(a.timestamp.hv()))
                .map_err(|source| StartError::HvLog { path, source })?,
        )
    } else {
        None
    };

    // Never again: forking, exec, and files beyond what it uses.
    let never = parse_set("proc_fork,proc_exec").map_err(StartError::NeverSet)?;
    fini_daemon_priv(&never).map_err(StartError::FiniPriv)?;
    let rw = landlock::READ | landlock::WRITE;
    let dev = landlock::READ_FILE | landlock::WRITE_FILE | landlock::IOCTL_DEV;
    let mut allow: Vec<(&Path, u64)> = vec![
        (Path::new("/dev/ptmx"), dev),
        (Path::new("/dev/pts"), dev | landlock::READ_DIR),
        (Path::new("/proc"), landlock::READ),
        (Path::new("/etc"), landlock::READ),
    ];
    if let Some(d) = &run {
        allow.push((d.as_path(), rw));
    }
    if a.log != Which::None {
        allow.push((paths.log_dir.as_path(), rw));
    }
    if paths.xend_run.exists() {
        allow.push((paths.xend_run.as_path(), landlock::READ));
    }
    confine_fs(&allow).map_err(StartError::Confine)?;

    let settings = ConsoleSettings {
        xend_run: paths.xend_run.clone(),
        guest_log_dir: a.log.guest().then(|| paths.log_dir.clone()),
        log_limits: limits(a.timestamp.guest()),
        rate_limit: a.rate_limit,
        owner: me,
    };
    if a.serial_listen == SerialListen::Any {
        tracing::warn!(
            "--serial-listen any: a domain's serial/0/tcp on a non-loopback address is open to everyone who can reach it"
        );
    }
    let mut d = Daemon::new(xs, signals, policy, settings, a.serial_listen, hv_log)
        .map_err(StartError::Loop)?;
    tracing::info!(
        mode = if system { "system" } else { "session" },
        store = %paths.xenstore.display(),
        xend_run = %paths.xend_run.display(),
        log_dir = %paths.log_dir.display(),
        "xenconsoled serving"
    );
    d.run().map_err(StartError::Loop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_symlink_in_the_directory_s_place_is_refused_and_its_target_left_alone() {
        let d = std::env::temp_dir().join(format!("xcd-make-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let target = d.join("elsewhere");
        std::fs::create_dir_all(&target).expect("target");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let before = std::fs::metadata(&target).expect("stat");
        let link = d.join("run");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        // As root the chown would succeed; as anyone, the chmod would.
        let r = make_dir(&link, 0o700, Some((before.uid() + 1, before.gid() + 1)));
        let msg = r.map(|()| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("is a symlink: refused"), "{msg:?}");
        let after = std::fs::metadata(&target).expect("stat");
        assert_eq!(
            (after.uid(), after.gid(), after.mode()),
            (before.uid(), before.gid(), before.mode())
        );
        // A real directory is made and given its mode.
        let real = d.join("real/sub");
        make_dir(&real, 0o700, None).expect("make_dir");
        let m = std::fs::metadata(&real).expect("stat");
        assert!(m.is_dir());
        assert_eq!(m.mode() & 0o7777, 0o700);
        let _ = std::fs::remove_dir_all(&d);
    }
}
