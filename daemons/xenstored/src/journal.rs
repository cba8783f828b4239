//! Durability: every acknowledged change is in the journal file before
//! its reply is sent.
//!
//! # Format
//! `XVMTDB1\n`, then records: `len: u32 LE`, `crc32(body): u32 LE`, `body`.
//! A body is one batch: the changes of one request, so a request is
//! applied on recovery whole or not at all ([`record`] holds its format).
//!
//! On start the file is replayed, one record at a time: a record's length
//! is checked against [`MAX_RECORD`] before its body is read, so replay
//! holds at most one record in memory however long the file. A torn last record (the daemon died in
//! mid-write, before the reply) is cut off with a warning; a record whose
//! checksum fails elsewhere is damage and stops the daemon with its
//! offset. When the journal has grown to four times its last snapshot, a
//! snapshot of the whole tree is written to a new file, synced, and
//! renamed over it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::daemon::{Change, Daemon};
use crate::txn::TxOp;

pub mod record;

use record::encode;
pub use record::{DecodeError, crc32};

const MAGIC: &[u8; 8] = b"XVMTDB1\n";
const MAGIC_LEN: u64 = 8;
/// A record never exceeds this; [`Journal::record`] refuses to write a
/// longer one, so that every record written can be read back. One request
/// is one record: a direct change creates at most a path's depth of nodes
/// (about 1,500 paths of up to 3 KiB), a commit is bounded by the
/// transaction bounds (1,024 nodes, 2,048 operations, by default: a few
/// MiB at worst); a snapshot writes records of at most [`SNAPSHOT_RECORD`]
/// bytes.
pub const MAX_RECORD: usize = 16 << 20;
/// A snapshot record is closed once it holds this many bytes.
const SNAPSHOT_RECORD: usize = 256 << 10;

/// What is wrong with a damaged journal.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// It does not start with this xenstored's magic.
    #[error("not a journal of this xenstored")]
    NotAJournal,
    /// A record header gives a length past [`MAX_RECORD`].
    #[error("record length {0} exceeds {MAX_RECORD}")]
    TooLong(u64),
    /// A record's body does not match its checksum.
    #[error("checksum mismatch")]
    Checksum,
    /// A record's body does not replay.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is damaged.
    #[error(
        "{path}: damaged at byte {offset}: {what}; refusing to start (move the file away to start empty)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What is wrong.
        #[source]
        what: Damage,
    },
    /// One request's changes are too many to be one record.
    #[error("{path}: a record of {len} bytes exceeds {MAX_RECORD}: not written")]
    RecordTooLong {
        /// The file.
        path: PathBuf,
        /// The record's length.
        len: usize,
    },
}

/// Reads into `buf` until it is full or the file ends; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// How a replay ended: at the end of the file, or at a torn record (the
/// daemon died in mid-write, before the reply) to cut off.
enum Replayed {
    /// The file ends here.
    End(u64),
    /// A torn record starts here.
    Torn(u64, &'static str),
}

/// Replays the records after the magic, one at a time; `damaged` names
/// the file and offset of damage.
fn replay(
    r: &mut impl Read,
    d: &mut Daemon,
    damaged: impl Fn(u64, Damage) -> JournalError,
    io_err: impl Fn(io::Error) -> JournalError,
) -> Result<Replayed, JournalError> {
    let mut at = MAGIC_LEN;
    loop {
        let mut header = [0u8; 8];
        match read_full(r, &mut header).map_err(&io_err)? {
            0 => return Ok(Replayed::End(at)),
            8 => {}
            _ => return Ok(Replayed::Torn(at, "torn record header")),
        }
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
        // Checked before anything is allocated for the body.
        let Some(size) = usize::try_from(len).ok().filter(|l| *l <= MAX_RECORD) else {
            return Err(damaged(at, Damage::TooLong(u64::from(len))));
        };
        let mut body = vec![0u8; size];
        if read_full(r, &mut body).map_err(&io_err)? < size {
            return Ok(Replayed::Torn(at, "torn last record"));
        }
        if crc32(&body) != crc {
            return Err(damaged(at, Damage::Checksum));
        }
        record::apply(d, &body).map_err(|e| damaged(at, Damage::Decode(e)))?;
        at += 8 + u64::from(len);
    }
}

/// The open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    size: u64,
    snapshot_size: u64,
}

/// The journal's and its snapshots' mode: for xvm alone.
const JOURNAL_MODE: u32 = 0o600;

impl Journal {
    /// Opens (or creates) the journal at `path` and replays it into `d`.
    pub fn open(path: &Path, d: &mut Daemon) -> Result<Journal, JournalError> {
        let io_err = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let damaged = |offset, what| JournalError::Damaged {
            path: path.to_path_buf(),
            offset,
            what,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(JOURNAL_MODE)
            .open(path)
            .map_err(io_err)?;
        // The store holds nodes other peers may not read: the journal is
        // xvm's alone, also one an older xenstored left 0644.
        file.set_permissions(std::fs::Permissions::from_mode(JOURNAL_MODE))
            .map_err(io_err)?;
        let mut r = BufReader::new(&file);
        let mut magic = [0u8; MAGIC.len()];
        let size = match read_full(&mut r, &mut magic).map_err(io_err)? {
            0 => {
                file.write_all(MAGIC).map_err(io_err)?;
                MAGIC_LEN
            }
            _ if &magic != MAGIC => return Err(damaged(0, Damage::NotAJournal)),
            _ => match replay(&mut r, d, damaged, io_err)? {
                Replayed::End(at) => at,
                Replayed::Torn(at, what) => {
                    eprintln!(
                        "xenstored: {}: {what} at byte {at}: cut off (it was never acknowledged)",
                        path.display()
                    );
                    file.set_len(at).map_err(io_err)?;
                    at
                }
            },
        };
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            size,
            snapshot_size: size,
        })
    }

    /// Appends one request's changes as one record. Called before the reply.
    pub fn record(&mut self, changes: &[Change]) -> Result<(), JournalError> {
        if changes.is_empty() {
            return Ok(());
        }
        let body = encode(changes);
        if body.len() > MAX_RECORD {
            return Err(JournalError::RecordTooLong {
                path: self.path.clone(),
                len: body.len(),
            });
        }
        let mut rec = Vec::with_capacity(8 + body.len());
        rec.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
        rec.extend_from_slice(&crc32(&body).to_le_bytes());
        rec.extend_from_slice(&body);
        // One write(2): the kernel has it once this returns, so a kill -9
        // of the daemon after the reply cannot lose it.
        self.file
            .write_all(&rec)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.size += u64::try_from(rec.len()).unwrap_or(0);
        Ok(())
    }

    /// Writes a snapshot when the journal has grown enough.
    pub fn maybe_compact(&mut self, d: &Daemon) -> Result<(), JournalError> {
        if self.size < (4 * self.snapshot_size).max(1 << 20) {
            return Ok(());
        }
        self.compact(d)
    }

    /// Replaces the journal by a snapshot of `d`: written to a new file,
    /// synced, renamed over the old one, directory synced.
    pub fn compact(&mut self, d: &Daemon) -> Result<(), JournalError> {
        let io_err = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("new");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(JOURNAL_MODE)
            .open(&tmp)
            .map_err(io_err)?;
        let mut buf = MAGIC.to_vec();
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        for (p, value, perms) in d.store.walk() {
            // Two copies of the path, the value, the permissions.
            bytes += 2 * p.len() + value.len() + 8 * perms.len() + 16;
            if p != "/" {
                batch.push(Change::Op(TxOp::Write(p.clone(), value.to_vec())));
            }
            batch.push(Change::Op(TxOp::SetPerms(p, perms.clone())));
            if batch.len() >= 256 || bytes >= SNAPSHOT_RECORD {
                push_record(&mut buf, &batch);
                batch.clear();
                bytes = 0;
            }
        }
        for (dom, info) in &d.domains {
            batch.push(Change::Introduce(*dom, info.clone()));
        }
        for (dom, info) in &d.domains {
            if let Some(t) = info.target {
                batch.push(Change::SetTarget(*dom, t));
            }
        }
        push_record(&mut buf, &batch);
        f.write_all(&buf).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
        std::fs::rename(&tmp, &self.path).map_err(io_err)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err)?;
        self.size = u64::try_from(buf.len()).unwrap_or(0);
        self.snapshot_size = self.size;
        Ok(())
    }
}

fn push_record(buf: &mut Vec<u8>, batch: &[Change]) {
    if batch.is_empty() {
        return;
    }
    let body = encode(batch);
    buf.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(&crc32(&body).to_le_bytes());
    buf.extend_from_slice(&body);
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
