//! What survives xend: each running domain's `state.json`, written when
//! it starts (`save_state`, from [`crate::launch`]), and read back by the
//! next xend to adopt it ([`crate::manager::Manager::adopt_all`]).
//!
//! # Format
//! `<run>/xend/domains/DOMID/state.json`, mode 0600, replaced atomically:
//! one JSON object `{"domid", "uuid", "source", "config", "pid", "uid",
//! "start_time", "started"}` and nothing else; at most
//! [`STATE_MAX`] bytes. The directory name is the domid; nothing in the
//! file is believed that xend can work out itself.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config;
use crate::domain::Domain;
use crate::procstat::{ProcStatError, proc_identity};

/// The longest state file: the config text (at most
/// [`config::MAX_FILE`]) escaped, and a few numbers.
pub const STATE_MAX: u64 = 2 * config::MAX_FILE as u64;

/// What survives xend: enough to find and adopt a running domain.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    /// The domain's id.
    pub domid: u32,
    /// Its UUID.
    pub uuid: String,
    /// Where its config came from.
    pub source: String,
    /// Its config text.
    pub config: String,
    /// Its device model's pid.
    pub pid: i32,
    /// The uid its device model runs as.
    pub uid: u32,
    /// The device model's start time (clock ticks since boot).
    pub start_time: u64,
    /// When the domain started (seconds since the epoch).
    pub started: u64,
}

/// Why a state file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The device model's start time could not be read.
    #[error("the device model: {0}")]
    Identity(#[source] ProcStatError),
    /// The file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be read, or is over [`STATE_MAX`].
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: privlib::bounded::FileError,
    },
    /// The file is torn, or not one of ours.
    #[error("{}: not a state file of xend's: {source}", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// No UUID could be made for a new domain.
    #[error(transparent)]
    Uuid(#[from] crate::uuid::UuidError),
}

/// Records a started domain in `<dir>/state.json` (for xend's next run).
pub(crate) fn save_state(d: &Domain, uid: u32, source: &str, text: &str) -> Result<(), StateError> {
    let pid = d.child.as_ref().map_or(0, privlib::Child::pid);
    let (start_time, _) = proc_identity(pid).map_err(StateError::Identity)?;
    let st = SavedState {
        domid: d.domid,
        uuid: d.uuid.clone(),
        source: source.to_string(),
        config: text.to_string(),
        pid,
        uid,
        start_time,
        started: d
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs()),
    };
    write_state(&d.dir, &st)
}

/// Writes `st` as `dir/state.json`, atomically.
pub fn write_state(dir: &Path, st: &SavedState) -> Result<(), StateError> {
    let path = dir.join("state.json");
    // A struct of strings and numbers always serializes.
    let body = serde_json::to_vec(st).unwrap_or_default();
    replace_file(&dir.join("state.json.new"), &path, &body)
        .map_err(|source| StateError::Write { path, source })
}

/// Replaces `path` by `bytes` atomically: written to `tmp` (mode 0600:
/// configs and saved state are for xvm alone), synced, renamed over
/// `path`, the directory synced.
pub(crate) fn replace_file(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Reads a state file: at most [`STATE_MAX`] bytes, exactly the fields
/// of [`SavedState`].
pub fn read_state(path: &Path) -> Result<SavedState, StateError> {
    let body = privlib::bounded::read_file(path, STATE_MAX).map_err(|source| StateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&body).map_err(|source| StateError::Foreign {
        path: path.to_path_buf(),
        source,
    })
}
