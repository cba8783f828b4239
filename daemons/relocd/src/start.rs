//! Starting xvm-relocd: its steps in order, each failing with its own
//! [`StartError`]: the mode and paths; the TLS files read (as root when
//! started as root: the key may be root's alone); the port bound; the
//! drop to the account with nothing beyond basic (`init_daemon_priv`),
//! before any peer is read; fork and exec given up for good; files
//! confined (Landlock) to reading `/etc` (name resolution); then the
//! job thread and the accept loop.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use privlib::cli::{DaemonAccount, DaemonMode};
use privlib::mode::{ModeError, session_run, xvm_root};
use privlib::os::landlock;
use privlib::{
    InitFlags, LandlockError, PrivError, PrivSet, SetError, confine_fs, fini_daemon_priv,
    init_daemon_priv, parse_set,
};

use crate::Ctx;
use crate::tls::TlsError;

/// How to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// System or session mode, and the log level.
    pub mode: DaemonMode,
    /// The account (system mode).
    pub account: DaemonAccount,
    /// Where to listen.
    pub listen: SocketAddr,
    /// This host's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA peers' certificates must come from (PEM).
    pub ca: PathBuf,
    /// The names a peer's certificate must be valid for (one of them).
    pub allow: Vec<String>,
    /// xend's socket (none: by mode).
    pub xend_socket: Option<PathBuf>,
}

/// A start-up step that failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Deciding the mode, or the session's directories.
    #[error("{0}")]
    Mode(#[source] ModeError),
    /// The TLS files or the allowed names.
    #[error("{0}")]
    Tls(#[source] TlsError),
    /// Binding the port.
    #[error("listening on {at}: {source}")]
    Listen {
        /// The address.
        at: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The account to run as.
    #[error("{0}")]
    Account(#[source] privlib::cli::AccountError),
    /// Switching to the account with nothing beyond basic.
    #[error("init_daemon_priv: {0}")]
    InitPriv(#[source] PrivError),
    /// Naming the privileges given up for good.
    #[error("{0}")]
    NeverSet(#[source] SetError),
    /// Giving up fork and exec.
    #[error("removing proc_fork, proc_exec: {0}")]
    FiniPriv(#[source] PrivError),
    /// Confining files.
    #[error("confining files: {0}")]
    Confine(#[source] LandlockError),
    /// The job thread could not start.
    #[error("the job thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// xend's socket by mode.
fn xend_socket(system: bool) -> Result<PathBuf, ModeError> {
    Ok(if system {
        xvm_root().join("run/xend/xmlrpc.sock")
    } else {
        session_run()?.join("xend/xmlrpc.sock")
    })
}

/// Starts the server; returns only on a failure (serving never ends).
pub fn start(a: Options) -> Result<(), StartError> {
    let system = a.mode.is_system().map_err(StartError::Mode)?;
    a.mode.install_log();
    let xend = match a.xend_socket {
        Some(p) => p,
        None => xend_socket(system).map_err(StartError::Mode)?,
    };
    let tls = crate::tls::load(&a.cert, &a.key, &a.ca, &a.allow).map_err(StartError::Tls)?;
    let listener = TcpListener::bind(a.listen).map_err(|source| StartError::Listen {
        at: a.listen,
        source,
    })?;
    let listen = listener.local_addr().unwrap_or(a.listen);
    let account = if system {
        Some(a.account.lookup().map_err(StartError::Account)?)
    } else {
        None
    };
    // Least privilege before any peer is read: the key is in memory, the
    // port bound.
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        account.as_ref().map(|u| u.uid),
        account.as_ref().map(|u| u.gid),
        &PrivSet::none(),
    )
    .map_err(StartError::InitPriv)?;
    let never = parse_set("proc_fork,proc_exec").map_err(StartError::NeverSet)?;
    fini_daemon_priv(&never).map_err(StartError::FiniPriv)?;
    // No file is opened from here on but name resolution's: reading /etc.
    confine_fs(&[(Path::new("/etc"), landlock::READ)]).map_err(StartError::Confine)?;
    let ctx = Arc::new(Ctx { tls, xend, listen });
    let jobs = Arc::clone(&ctx);
    std::thread::Builder::new()
        .name("jobs".into())
        .spawn(move || crate::sender::run(&jobs))
        .map_err(StartError::Thread)?;
    tracing::info!(
        mode = if system { "system" } else { "session" },
        listen = %listen,
        xend = %ctx.xend.display(),
        "xvm-relocd serving"
    );
    crate::peer::serve(&listener, &ctx);
    Ok(())
}
