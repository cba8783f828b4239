//! Durability: every acknowledged change is in the journal file before
//! its reply is sent.
//!
//! # Format
//! `XVMTDB1\n`, then records: `len: u32 LE`, `crc32(body): u32 LE`, `body`.
//! A body is one batch: the changes of one request, so a request is
//! applied on recovery whole or not at all. Ops inside: `1` write (path,
//! value), `2` rm (path), `3` set perms (path, wire perms), `4` mkdir
//! (path), `5` introduce (domid, mfn, port), `6` release (domid); strings
//! are `u16 LE` length-prefixed.
//!
//! On start the file is replayed. A torn last record (the daemon died in
//! mid-write, before the reply) is cut off with a warning; a record whose
//! checksum fails elsewhere is damage and stops the daemon with its
//! offset. When the journal has grown to four times its last snapshot, a
//! snapshot of the whole tree is written to a new file, synced, and
//! renamed over it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::daemon::{Change, Daemon, DomainInfo};
use crate::perms::Perms;
use crate::store::Caller;
use crate::txn::TxOp;
use crate::wire::XsError;

const MAGIC: &[u8; 8] = b"XVMTDB1\n";
/// A record never exceeds this; [`Journal::record`] refuses to write a
/// longer one, so that every record written can be read back. One request
/// is one record: a direct change creates at most a path's depth of nodes
/// (about 1,500 paths of up to 3 KiB), a commit is bounded by the
/// transaction bounds (1,024 nodes, 2,048 operations, by default: a few
/// MiB at worst); a snapshot writes records of at most [`SNAPSHOT_RECORD`]
/// bytes.
const MAX_RECORD: usize = 16 << 20;
/// A snapshot record is closed once it holds this many bytes.
const SNAPSHOT_RECORD: usize = 256 << 10;

/// The CRC-32 (IEEE) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
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
        offset: usize,
        /// What is wrong.
        what: String,
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

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&s[..usize::from(len)]);
}

fn encode(changes: &[Change]) -> Vec<u8> {
    let mut b = Vec::new();
    for c in changes {
        match c {
            Change::Op(TxOp::Write(p, v)) => {
                b.push(1);
                put_str(&mut b, p.as_bytes());
                put_str(&mut b, v);
            }
            Change::Op(TxOp::Rm(p)) => {
                b.push(2);
                put_str(&mut b, p.as_bytes());
            }
            Change::Op(TxOp::SetPerms(p, perms)) => {
                b.push(3);
                put_str(&mut b, p.as_bytes());
                put_str(&mut b, &perms.to_wire());
            }
            Change::Op(TxOp::Mkdir(p)) => {
                b.push(4);
                put_str(&mut b, p.as_bytes());
            }
            Change::Introduce(d, info) => {
                b.push(5);
                b.extend_from_slice(&d.to_le_bytes());
                b.extend_from_slice(&info.mfn.to_le_bytes());
                b.extend_from_slice(&info.port.to_le_bytes());
            }
            Change::Release(d) => {
                b.push(6);
                b.extend_from_slice(&d.to_le_bytes());
            }
            Change::SetTarget(d, t) => {
                b.push(7);
                b.extend_from_slice(&d.to_le_bytes());
                b.extend_from_slice(&t.to_le_bytes());
            }
        }
    }
    b
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record ends early".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn string(&mut self) -> Result<&'a [u8], String> {
        let l = self.take(2)?;
        let n = usize::from(u16::from_le_bytes([l[0], l[1]]));
        self.take(n)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn path(&mut self) -> Result<String, String> {
        String::from_utf8(self.string()?.to_vec()).map_err(|_| "path is not UTF-8".to_string())
    }
}

/// Applies one batch to the daemon.
fn apply(d: &mut Daemon, body: &[u8]) -> Result<(), String> {
    let mut c = Cursor(body);
    while !c.0.is_empty() {
        let kind = c.take(1)?[0];
        let r = match kind {
            1 => {
                let p = c.path()?;
                let v = c.string()?.to_vec();
                d.store.write(Caller::Privileged, &p, &v).map(|_| ())
            }
            2 => {
                let p = c.path()?;
                d.store.rm(Caller::Privileged, &p).map(|_| ())
            }
            3 => {
                let p = c.path()?;
                let w = c.string()?;
                let s = w.strip_suffix(&[0]).unwrap_or(w);
                let perms = Perms::parse(&s.split(|b| *b == 0).collect::<Vec<_>>())
                    .map_err(|e| format!("perms: {e}"))?;
                d.store.set_perms(Caller::Privileged, &p, perms)
            }
            4 => {
                let p = c.path()?;
                d.store.mkdir(Caller::Privileged, &p).map(|_| ())
            }
            5 => {
                let dom = c.u32()?;
                let info = DomainInfo {
                    mfn: c.u64()?,
                    port: c.u32()?,
                    target: None,
                };
                // A record for a known domain keeps its target.
                let e = d.domains.entry(dom).or_insert_with(|| info.clone());
                e.mfn = info.mfn;
                e.port = info.port;
                Ok(())
            }
            6 => {
                let dom = c.u32()?;
                d.domains.remove(&dom);
                Ok(())
            }
            7 => {
                let (dom, target) = (c.u32()?, c.u32()?);
                match d.domains.get_mut(&dom) {
                    Some(info) => {
                        info.target = Some(target);
                        Ok(())
                    }
                    None => Err(XsError::Enoent),
                }
            }
            k => return Err(format!("unknown op {k}")),
        };
        r.map_err(|e| format!("replaying op {kind}: {e}"))?;
    }
    Ok(())
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
        let damaged = |offset, what: String| JournalError::Damaged {
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
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io_err)?;
        if data.is_empty() {
            file.write_all(MAGIC).map_err(io_err)?;
            return Ok(Journal {
                path: path.to_path_buf(),
                file,
                size: 8,
                snapshot_size: 8,
            });
        }
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            return Err(damaged(0, "not a journal of this xenstored".into()));
        }
        let mut at = MAGIC.len();
        while at < data.len() {
            let rest = &data[at..];
            let torn = |what: &str| {
                eprintln!(
                    "xenstored: {}: {what} at byte {at}: cut off (it was never acknowledged)",
                    path.display()
                );
            };
            if rest.len() < 8 {
                torn("torn record header");
                break;
            }
            let len = usize::try_from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]))
                .unwrap_or(usize::MAX);
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            if len > MAX_RECORD {
                return Err(damaged(
                    at,
                    format!("record length {len} exceeds {MAX_RECORD}"),
                ));
            }
            if rest.len() < 8 + len {
                torn("torn last record");
                break;
            }
            let body = &rest[8..8 + len];
            if crc32(body) != crc {
                return Err(damaged(at, "checksum mismatch".into()));
            }
            apply(d, body).map_err(|what| damaged(at, what))?;
            at += 8 + len;
        }
        if at < data.len() {
            file.set_len(u64::try_from(at).unwrap_or(0))
                .map_err(io_err)?;
        }
        let size = u64::try_from(at).unwrap_or(0);
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
mod tests {
    use super::*;
    use crate::daemon::{Limits, Role};
    use crate::store::{Quota, Store};
    use crate::wire::{Frame, MsgType};

    fn daemon() -> Daemon {
        let mut d = Daemon::new(Store::new(Quota::default()), Limits::default());
        d.connect(1, Role::Control, false);
        d.connect(2, Role::Domain(4), false);
        d
    }

    fn send(d: &mut Daemon, j: &mut Journal, conn: u64, ty: MsgType, payload: &[u8]) {
        let _ = d.handle(
            conn,
            &Frame {
                ty: ty.number(),
                req_id: 1,
                tx_id: 0,
                payload: payload.to_vec(),
            },
        );
        let changes = std::mem::take(&mut d.pending);
        j.record(&changes).expect("record");
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xvm-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn crc_matches_the_ieee_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn a_replay_gives_back_the_tree_permissions_and_domains() {
        let p = dir("replay").join("tdb");
        let mut d = daemon();
        let mut j = Journal::open(&p, &mut d).expect("open");
        send(&mut d, &mut j, 1, MsgType::Write, b"/local/domain/4/x\0v");
        send(
            &mut d,
            &mut j,
            1,
            MsgType::SetPerms,
            b"/local/domain/4\0n4\0",
        );
        send(
            &mut d,
            &mut j,
            2,
            MsgType::Write,
            b"/local/domain/4/a/b\0mine",
        );
        send(&mut d, &mut j, 1, MsgType::Introduce, b"4\x000\x009\0");
        send(&mut d, &mut j, 1, MsgType::Introduce, b"5\x000\x0010\0");
        send(&mut d, &mut j, 1, MsgType::SetTarget, b"5\x004\0");
        send(&mut d, &mut j, 1, MsgType::Rm, b"/local/domain/4/x\0");
        drop(j);
        let mut again = daemon();
        let j = Journal::open(&p, &mut again).expect("reopen");
        assert_eq!(again.domains, d.domains, "domains and targets come back");
        // And again through a snapshot.
        let mut j = j;
        j.compact(&again).expect("compact");
        drop(j);
        let mut third = daemon();
        let _j = Journal::open(&p, &mut third).expect("reopen the snapshot");
        assert_eq!(third.domains, d.domains, "a snapshot keeps targets");
        assert_eq!(third.store.walk(), d.store.walk());
        assert_eq!(
            again.store.read(Caller::Privileged, "/local/domain/4/a/b"),
            Ok(&b"mine"[..])
        );
        assert_eq!(
            again
                .store
                .get_perms(Caller::Privileged, "/local/domain/4/a")
                .map(Perms::owner_id),
            Ok(4),
            "a created parent keeps its owner"
        );
        assert!(!again.store.exists("/local/domain/4/x"));
        assert!(again.domains.contains_key(&4));
        assert_eq!(again.store.walk().len(), d.store.walk().len());
    }

    #[test]
    fn a_torn_tail_is_cut_and_damage_is_refused() {
        let p = dir("torn").join("tdb");
        let mut d = daemon();
        let mut j = Journal::open(&p, &mut d).expect("open");
        send(&mut d, &mut j, 1, MsgType::Write, b"/a\0one");
        send(&mut d, &mut j, 1, MsgType::Write, b"/b\0two");
        drop(j);
        let full = std::fs::read(&p).expect("read");
        std::fs::write(&p, &full[..full.len() - 3]).expect("tear");
        let mut again = daemon();
        Journal::open(&p, &mut again).expect("torn tail is fine");
        assert!(again.store.exists("/a") && !again.store.exists("/b"));
        let mut bad = full.clone();
        bad[12] ^= 0xff;
        std::fs::write(&p, &bad).expect("damage");
        let e = Journal::open(&p, &mut daemon()).expect_err("damage");
        assert!(
            e.to_string().contains("damaged at byte 8") && e.to_string().contains("checksum"),
            "{e}"
        );
    }

    #[test]
    fn a_snapshot_replaces_the_journal_atomically() {
        let p = dir("compact").join("tdb");
        let mut d = daemon();
        let mut j = Journal::open(&p, &mut d).expect("open");
        for i in 0..50 {
            send(
                &mut d,
                &mut j,
                1,
                MsgType::Write,
                format!("/k\0{i}").as_bytes(),
            );
        }
        let before = std::fs::metadata(&p).expect("stat").len();
        j.compact(&d).expect("compact");
        assert!(std::fs::metadata(&p).expect("stat").len() < before);
        send(&mut d, &mut j, 1, MsgType::Write, b"/after\0x");
        let mut again = daemon();
        Journal::open(&p, &mut again).expect("reopen");
        assert_eq!(again.store.read(Caller::Privileged, "/k"), Ok(&b"49"[..]));
        assert!(again.store.exists("/after"));
    }
}
