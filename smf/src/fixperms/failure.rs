//! What xvm-fixperms could not make right, one variant per kind: the
//! node's path, and the system's own error where there is one.

use std::io;
use std::path::{Path, PathBuf};

/// One thing that could not be fixed. Any of these makes the run fail.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Opening, reading or making the node failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The node.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Changing its owner failed.
    #[error("chown {}: {source}", path.display())]
    Chown {
        /// The node.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Changing its mode failed.
    #[error("chmod {}: {source}", path.display())]
    Chmod {
        /// The node.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A listed directory is reached through a symlink: never followed.
    #[error("{}: a symlink on the way; left alone", path.display())]
    Symlink {
        /// The directory.
        path: PathBuf,
    },
    /// A listed directory is not a directory.
    #[error("{}: not a directory; left alone", path.display())]
    NotDirectory {
        /// The node.
        path: PathBuf,
    },
    /// The tree nests deeper than is walked.
    #[error("{}: nested too deep; not walked", path.display())]
    TooDeep {
        /// Where the walk stopped.
        path: PathBuf,
    },
    /// One of the host's directories the daemons cannot pass (reported on
    /// the real root, never changed there).
    #[error(
        "{}: mode {mode:04o}: the daemons cannot pass it (a host has it 0755); left alone",
        path.display()
    )]
    Impassable {
        /// The directory.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// No vault could be made beside a file to hold its name.
    #[error("{}: no private directory beside it to hold its name: {source}", path.display())]
    NoVault {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file's name could not be moved into the vault.
    #[error("{}: holding its name: {source}", path.display())]
    Hold {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A step on the held file failed (`step`: fstat, chown, ...).
    #[error("{}: {step}: {source}", path.display())]
    Held {
        /// The file.
        path: PathBuf,
        /// The step.
        step: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The held name could not be put back: the file is left in the vault.
    #[error(
        "{}: putting its name back failed ({source}); the file is at {}",
        path.display(),
        held.display()
    )]
    PutBack {
        /// The file's name in the tree.
        path: PathBuf,
        /// Where it is now.
        held: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A vault could not be removed after the walk.
    #[error("{}: removing it: {source}", path.display())]
    RemoveVault {
        /// The vault.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl Failure {
    /// [`Failure::Io`] at `path`.
    pub fn io(path: &Path, source: io::Error) -> Failure {
        Failure::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
