//! Starting virtd: its steps in order ([`start`]), each failing with its
//! own [`StartError`] variant, its cause kept. `main.rs` parses the
//! arguments into [`Options`], calls [`start`] and prints the line.
//!
//! The order: our credentials and mode; the paths, the policy and the
//! account; the sockets' directory made (as root, given to the account,
//! 0711: every local user must reach the sockets, the gate decides);
//! the privilege drop (`init_daemon_priv` to xvm with nothing beyond
//! basic) before anything is read from a peer; the two sockets bound as
//! xvm; proc_fork and proc_exec given up; files confined (Landlock) to
//! what virtd opens; then serving.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use privlib::cli::{DaemonAccount, DaemonMode};
use privlib::listener::ListenError;
use privlib::mode::{ModeError, env_path, session_run, xvm_root};
use privlib::os::landlock;
use privlib::procfs::ProcError;
use privlib::{
    InitFlags, LandlockError, Policy, PolicyError, PrivError, PrivSet, SetError, confine_fs,
    fini_daemon_priv, init_daemon_priv, parse_set,
};

use crate::server::{self, Server};
use crate::session::{Env, Mode};

/// What `main.rs` read from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// System or session mode, and the log level.
    pub mode: DaemonMode,
    /// The account (system mode).
    pub account: DaemonAccount,
    /// xend's socket (none: by mode).
    pub xend_socket: Option<PathBuf>,
    /// xenstored's socket (none: `XENSTORED_PATH`, else by mode).
    pub store_socket: Option<PathBuf>,
    /// The sockets' directory (none: `<run>/libvirt`).
    pub sock_dir: Option<PathBuf>,
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
    /// Making the sockets' directory.
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
    /// Binding a socket.
    #[error("{0}")]
    Bind(#[source] ListenError),
    /// Naming the privileges given up for good.
    #[error("{0}")]
    NeverSet(#[source] SetError),
    /// Giving up proc_fork and proc_exec.
    #[error("removing proc_fork, proc_exec: {0}")]
    FiniPriv(#[source] PrivError),
    /// Confining files (Landlock).
    #[error("confining files: {0}")]
    Confine(#[source] LandlockError),
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(#[source] io::Error),
}

/// Where things are, by mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The sockets' directory (`libvirt-sock`, `libvirt-sock-ro`).
    pub sock_dir: PathBuf,
    /// xend's socket.
    pub xend: PathBuf,
    /// xenstored's socket.
    pub store: PathBuf,
}

impl Paths {
    /// System mode under `root` (`XVM_ROOT` or `/`): `/run/libvirt`,
    /// where virsh looks for `libvirt-sock` by default.
    pub fn system(root: &Path) -> Paths {
        Paths {
            sock_dir: root.join("run/libvirt"),
            xend: root.join("run/xend/xmlrpc.sock"),
            store: env_path("XENSTORED_PATH").unwrap_or_else(|| root.join("run/xenstored/socket")),
        }
    }

    /// Session mode: the session's run directory.
    pub fn session() -> Result<Paths, ModeError> {
        let run = session_run()?;
        Ok(Paths {
            sock_dir: run.join("libvirt"),
            xend: run.join("xend/xmlrpc.sock"),
            store: env_path("XENSTORED_PATH").unwrap_or_else(|| run.join("xenstored/socket")),
        })
    }
}

/// The host's name, for `virsh hostname`.
fn hostname() -> String {
    privlib::os::host::hostname().unwrap_or_else(|| "localhost".to_string())
}

/// Starts virtd and serves until it is killed or accepting fails.
pub fn start(a: Options) -> Result<(), StartError> {
    let ids = privlib::procfs::read_cred(Path::new("/proc"), "self").map_err(StartError::Cred)?;
    let system = a.mode.is_system().map_err(StartError::Mode)?;
    a.mode.install_log();
    let mut paths = if system {
        Paths::system(&xvm_root())
    } else {
        Paths::session().map_err(StartError::Mode)?
    };
    if let Some(p) = a.xend_socket {
        paths.xend = p;
    }
    if let Some(p) = a.store_socket {
        paths.store = p;
    }
    if let Some(d) = a.sock_dir {
        paths.sock_dir = d;
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
    // Started as root: the directory is the account's. Started as the
    // account, it must be ours already (xvm-fixperms' layout).
    let owner = (ids.uid[1] == 0 && account.is_some()).then_some(me);
    if owner.is_some() || !paths.sock_dir.exists() {
        privlib::os::fs::make_dir(&paths.sock_dir, 0o711, owner).map_err(|source| {
            StartError::Dir {
                dir: paths.sock_dir.clone(),
                source,
            }
        })?;
    }

    // Least privilege before anything is read from a peer.
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        account.as_ref().map(|u| u.uid),
        account.as_ref().map(|u| u.gid),
        &PrivSet::none(),
    )
    .map_err(StartError::InitPriv)?;

    let rw = server::bind(&paths.sock_dir.join("libvirt-sock")).map_err(StartError::Bind)?;
    let ro = server::bind(&paths.sock_dir.join("libvirt-sock-ro")).map_err(StartError::Bind)?;

    // Never again: forking, exec, and files beyond what it uses.
    let never = parse_set("proc_fork,proc_exec").map_err(StartError::NeverSet)?;
    fini_daemon_priv(&never).map_err(StartError::FiniPriv)?;
    let dev = landlock::READ_FILE | landlock::WRITE_FILE | landlock::IOCTL_DEV;
    let allow: Vec<(&Path, u64)> = vec![
        // Consoles: the pty slaves xenconsoled names in the store.
        (Path::new("/dev/pts"), dev | landlock::READ_DIR),
        // CPU time of device models; the host's name.
        (Path::new("/proc"), landlock::READ),
        // Accounts and groups, for the policy's decisions.
        (Path::new("/etc"), landlock::READ),
        (paths.sock_dir.as_path(), landlock::READ | landlock::WRITE),
    ];
    confine_fs(&allow).map_err(StartError::Confine)?;

    let env = Arc::new(Env {
        mode: if system { Mode::System } else { Mode::Session },
        xend_socket: paths.xend.clone(),
        store_socket: paths.store.clone(),
        hostname: hostname(),
    });
    let server = Server::new(policy, env).map_err(StartError::Serve)?;
    tracing::info!(
        mode = if system { "system" } else { "session" },
        socket = %rw.path().display(),
        ro = %ro.path().display(),
        xend = %paths.xend.display(),
        store = %paths.store.display(),
        "virtd serving"
    );
    server.serve(rw, ro).map_err(StartError::Serve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths_are_where_virsh_looks() {
        let p = Paths::system(Path::new("/"));
        assert_eq!(p.sock_dir, Path::new("/run/libvirt"));
        assert_eq!(p.xend, Path::new("/run/xend/xmlrpc.sock"));
    }
}
