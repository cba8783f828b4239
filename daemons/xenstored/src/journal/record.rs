//! One journal record's body: the changes of one request, encoded and
//! decoded (replayed into a daemon).
//!
//! # Format
//! Ops one after another: `1` write (path, value), `2` rm (path), `3` set
//! perms (path, wire perms), `4` mkdir (path), `5` introduce (domid: u32,
//! mfn: u64, port: u32), `6` release (domid: u32), `7` set target (domid:
//! u32, target: u32); integers little-endian, strings `u16 LE`
//! length-prefixed. Every length is checked against what is left of the
//! body before it is used.

use std::string::FromUtf8Error;

use crate::daemon::{Change, Daemon, DomainInfo};
use crate::perms::Perms;
use crate::store::Caller;
use crate::txn::TxOp;
use crate::wire::XsError;

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

/// Why a record's body could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A field runs past the end of the body.
    #[error("record ends early: {want} bytes wanted, {left} left")]
    Short {
        /// Bytes the field needs.
        want: usize,
        /// Bytes left in the body.
        left: usize,
    },
    /// A path is not UTF-8.
    #[error("path is not UTF-8")]
    PathNotUtf8(#[source] FromUtf8Error),
    /// A permission list does not parse.
    #[error("perms: {0}")]
    Perms(#[source] XsError),
    /// An op code this xenstored does not write.
    #[error("unknown op {0}")]
    UnknownOp(u8),
    /// The store refused a replayed op.
    #[error("replaying op {op}: {source}")]
    Replay {
        /// The op code.
        op: u8,
        /// The store's refusal.
        #[source]
        source: XsError,
    },
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&s[..usize::from(len)]);
}

/// The body of a record holding `changes`.
pub fn encode(changes: &[Change]) -> Vec<u8> {
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
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Short {
                want: n,
                left: self.0.len(),
            });
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = usize::from(u16::from_le_bytes(self.array()?));
        self.take(n)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn path(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.string()?.to_vec()).map_err(DecodeError::PathNotUtf8)
    }
}

/// Replays one record's body into `d`, as privileged.
pub fn apply(d: &mut Daemon, body: &[u8]) -> Result<(), DecodeError> {
    let mut c = Cursor(body);
    while !c.0.is_empty() {
        let [op] = c.array()?;
        let replayed = match op {
            1 => {
                let p = c.path()?;
                let v = c.string()?;
                d.store.write(Caller::Privileged, &p, v).map(drop)
            }
            2 => {
                let p = c.path()?;
                d.store.rm(Caller::Privileged, &p).map(drop)
            }
            3 => {
                let p = c.path()?;
                let w = c.string()?;
                let s = w.strip_suffix(&[0]).unwrap_or(w);
                let perms = Perms::parse(&s.split(|b| *b == 0).collect::<Vec<_>>())
                    .map_err(DecodeError::Perms)?;
                d.store.set_perms(Caller::Privileged, &p, perms)
            }
            4 => {
                let p = c.path()?;
                d.store.mkdir(Caller::Privileged, &p).map(drop)
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
            k => return Err(DecodeError::UnknownOp(k)),
        };
        replayed.map_err(|source| DecodeError::Replay { op, source })?;
    }
    Ok(())
}
