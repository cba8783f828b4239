//! What survives xend: each running domain's `state.json`, written when
//! it starts (`save_state`, from [`crate::launch`]), and read back by the
//! next xend to adopt it ([`crate::manager::Manager::adopt_all`]).
//!
//! # Format
//! `<run>/xend/domains/DOMID/state.json`, mode 0600, replaced atomically:
//! one JSON object `{"domid", "uuid", "source", "config", "pid", "uid",
//! "start_time", "started", "attached"}` and nothing else (`attached`,
//! what was hot-plugged since the start, [`Attached`], may be missing: a
//! file written before it existed has nothing attached); at most
//! [`STATE_MAX`] bytes. The directory name is the domid; nothing in the
//! file is believed that xend can work out itself. Rewritten (whole, as
//! above) after each hot-plug ([`record_attached`]).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config;
use crate::domain::Domain;
use crate::procstat::{ProcStatError, proc_identity};

/// The longest state file: the config text (at most
/// [`config::MAX_FILE`]) escaped, a few numbers, and what is attached
/// (bounded by [`MAX_HOT_DISKS`] and [`crate::net::MAX_NICS`] entries of
/// at most a path each).
pub const STATE_MAX: u64 = 2 * config::MAX_FILE as u64 + (1 << 17);

/// Disks that may be hot-plugged into one domain.
pub const MAX_HOT_DISKS: usize = 8;

/// A disk hot-plugged into a running domain: what detaching it needs
/// (its qemu device, nodes and fd sets are named from `vdev` and `n`,
/// [`HotDisk::device`], [`HotDisk::prefix`], [`HotDisk::fdset`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotDisk {
    /// The guest's name for it (`xvdb`), as given to `block-attach`.
    pub vdev: String,
    /// The disk as a spec ([`config::Disk::to_spec`]).
    pub spec: String,
    /// Its hot-plug number in the domain (one per attach, never reused).
    pub n: u32,
    /// The files of its chain (one fd set and two nodes each): read back,
    /// 1 to [`FDSETS_PER_DISK`] ([`chain_files`]).
    #[serde(deserialize_with = "chain_files")]
    pub files: u32,
}

/// [`HotDisk::files`] as read from a state file: a count a chain can have
/// (the top, at most [`FDSETS_PER_DISK`] in all), or the file is refused
/// as not one of xend's ([`StateError::Foreign`]). Detaching walks that
/// many fd sets and nodes: a larger count would reach the fd sets of the
/// next disk, and loop as long as the file says.
fn chain_files<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let files = <u32 as serde::Deserialize>::deserialize(d)?;
    if (1..=FDSETS_PER_DISK).contains(&files) {
        Ok(files)
    } else {
        Err(serde::de::Error::custom(format_args!(
            "a hot-plugged disk of {files} files (a chain has 1 to {FDSETS_PER_DISK})"
        )))
    }
}

/// The fd sets of hot-plugged disks start here (those of the disks a
/// domain started with are numbered from 1), [`FDSETS_PER_DISK`] each.
pub const HOT_FDSET0: u32 = 1000;
/// Fd sets each hot-plugged disk may take: one per file of its chain.
pub const FDSETS_PER_DISK: u32 = 16;

impl HotDisk {
    /// Its qemu device id.
    pub fn device(&self) -> String {
        format!("hot-{}", self.vdev)
    }

    /// The prefix of its block nodes (`h<n>`).
    pub fn prefix(&self) -> String {
        format!("h{}", self.n)
    }

    /// The fd set of its chain's file `i` (0 the top).
    pub fn fdset(&self, i: u32) -> u32 {
        HOT_FDSET0
            .saturating_add(self.n.saturating_mul(FDSETS_PER_DISK))
            .saturating_add(i)
    }
}

/// A network card hot-plugged into a running domain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotNic {
    /// Its device number (`xm network-detach DOMAIN DEVID`): after the
    /// config's cards; its tap is `vif<domid>.<devid>`.
    pub devid: u32,
    /// The card as a vif spec ([`config::Vif::to_spec`], the MAC chosen).
    pub spec: String,
}

impl HotNic {
    /// Its qemu device id.
    pub fn device(&self) -> String {
        format!("hotnic{}", self.devid)
    }

    /// Its qemu netdev id (and the name its fd is given by `getfd`).
    pub fn netdev(&self) -> String {
        format!("hotnet{}", self.devid)
    }
}

/// What was hot-plugged into a running domain since its start.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attached {
    /// Disks, in the order attached.
    #[serde(default)]
    pub disks: Vec<HotDisk>,
    /// Network cards, in the order attached.
    #[serde(default)]
    pub nics: Vec<HotNic>,
    /// The next disk's [`HotDisk::n`].
    #[serde(default)]
    pub next: u32,
}

impl Attached {
    /// Nothing attached, and nothing ever was.
    pub fn is_empty(&self) -> bool {
        self.disks.is_empty() && self.nics.is_empty() && self.next == 0
    }
}

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
    /// What was hot-plugged since.
    #[serde(default, skip_serializing_if = "Attached::is_empty")]
    pub attached: Attached,
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
        attached: Attached::default(),
    };
    write_state(&d.dir, &st)
}

/// Records in `dir/state.json` what is hot-plugged into the domain now
/// (the rest of the file as it was).
pub fn record_attached(dir: &Path, attached: &Attached) -> Result<(), StateError> {
    let mut st = read_state(&dir.join("state.json"))?;
    st.attached = attached.clone();
    write_state(dir, &st)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with_files(files: &str) -> Vec<u8> {
        format!(
            r#"{{"domid":3,"uuid":"u","source":"s","config":"c","pid":1,"uid":2,"start_time":4,"started":5,"attached":{{"disks":[{{"vdev":"xvdb","spec":"x","n":0,"files":{files}}}],"next":1}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_hot_disk_of_more_files_than_its_fd_sets_is_a_foreign_state_file() {
        let dir = crate::scratch::Scratch::new("saved-files");
        let path = dir.join("state.json");
        for files in [
            "0".to_string(),
            (FDSETS_PER_DISK + 1).to_string(),
            u32::MAX.to_string(),
        ] {
            std::fs::write(&path, state_with_files(&files)).expect("write");
            let e = read_state(&path).expect_err(&files);
            assert!(matches!(e, StateError::Foreign { .. }), "{files}: {e:?}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("{}: not a state file of xend's", path.display()))
                    && msg.contains(&format!(
                        "a hot-plugged disk of {files} files (a chain has 1 to 16)"
                    )),
                "{msg}"
            );
        }
        for files in ["1".to_string(), FDSETS_PER_DISK.to_string()] {
            std::fs::write(&path, state_with_files(&files)).expect("write");
            let st = read_state(&path).expect(&files);
            assert_eq!(st.attached.disks[0].files.to_string(), files);
        }
    }
}
