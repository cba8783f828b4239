//! Why xenstored could not start: one variant per start-up step of
//! `main.rs`, in the order it takes them, each keeping its cause.

use std::io;
use std::path::PathBuf;

use privlib::listener::ListenError;
use privlib::mode::ModeError;
use privlib::procfs::ProcError;
use privlib::subid::DmRangeError;
use privlib::{PolicyError, PrivError, SetError};

use crate::config::ConfigError;
use crate::journal::JournalError;

/// A start-up step that failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Reading our own credentials from `/proc/self/status`.
    #[error("reading our credentials: {0}")]
    Cred(#[source] ProcError),
    /// Deciding system or session mode.
    #[error("{0}")]
    Mode(#[source] ModeError),
    /// The device-model uid range overlaps a user's subordinate ids.
    #[error("{0}")]
    DmRange(#[source] DmRangeError),
    /// The run directory is not known.
    #[error("{0}")]
    RunDir(#[source] ConfigError),
    /// The privilege policy does not load.
    #[error("{0}")]
    Policy(#[source] PolicyError),
    /// The account to run as could not be had.
    #[error("{0}")]
    Account(#[source] privlib::cli::AccountError),
    /// Creating the run directory.
    #[error("{}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Setting the run directory's mode.
    #[error("chmod {}: {source}", dir.display())]
    ChmodDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Giving the run directory to the account.
    #[error("chown {}: {source}", dir.display())]
    ChownDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating the trace file (`-T`).
    #[error("{}: {source}", path.display())]
    TraceFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Going into the background.
    #[error("daemonize: {0}")]
    Daemonize(#[source] io::Error),
    /// Writing the pid file (`-F`).
    #[error("{}: {source}", path.display())]
    PidFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Switching to the account with nothing beyond basic.
    #[error("init_daemon_priv: {0}")]
    InitPriv(#[source] PrivError),
    /// Opening and replaying the journal.
    #[error("{0}")]
    Journal(#[source] JournalError),
    /// Binding a socket.
    #[error("{0}")]
    Bind(#[source] ListenError),
    /// Naming the privileges given up for good.
    #[error("{0}")]
    NeverSet(#[source] SetError),
    /// Giving up proc_fork and proc_exec.
    #[error("removing proc_fork, proc_exec: {0}")]
    FiniPriv(#[source] PrivError),
    /// Confining files to the run directory (Landlock).
    #[error("confining files: {0}")]
    Confine(#[source] privlib::LandlockError),
    /// The event loop failed.
    #[error("event loop: {0}")]
    EventLoop(#[source] io::Error),
}
