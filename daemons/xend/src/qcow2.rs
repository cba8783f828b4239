//! The part of a qcow2 image's header xend reads itself: whether it has
//! a backing file, its name and its format.
//!
//! qemu is given every file of a chain as an fd ([`crate::dm::blockdev`]),
//! so it must never follow a backing file's name on its own: xend reads
//! the name here, resolves it, opens it under the checks of
//! [`crate::disk`], and names the opened node as the backing. The layout
//! follows qemu's `docs/interop/qcow2.txt`: a big-endian header (72 bytes
//! in version 2, `header_length` bytes in version 3), then header
//! extensions (type, length, data padded to 8 bytes) up to the backing
//! file's name or the end of the first cluster.
//!
//! Everything read is a peer's (an image a guest may have written): every
//! offset and length is bounded by the bytes read, a hostile header gives
//! an error, never a panic, and nothing here allocates more than the
//! first cluster (at most [`MAX_READ`] bytes).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::config::Format;

/// The magic: `QFI\xfb`.
pub const MAGIC: u32 = 0x5146_49fb;

/// The longest backing file name qemu accepts.
pub const MAX_NAME: usize = 1023;

/// At most this much of an image is read: its first cluster, up to 2 MiB
/// (qemu's largest cluster).
pub const MAX_READ: usize = 2 << 20;

/// The header extension naming the backing file's format.
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// The header extension naming an external data file (a path qemu would
/// open by name).
const EXT_DATA_FILE: u32 = 0x4441_5441;
/// At most this many header extensions.
const MAX_EXTENSIONS: usize = 64;
/// Incompatible feature bit: the data lives in an external file.
const INCOMPAT_DATA_FILE: u64 = 1 << 2;

/// What a qcow2 header says about the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// Its backing file, if any.
    pub backing: Option<Backing>,
}

/// A backing file as a qcow2 header names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backing {
    /// The name, as written (relative names are relative to the image's
    /// directory).
    pub name: OsString,
    /// Its format, from the backing-format header extension.
    pub format: Format,
}

/// Why a qcow2 header was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Qcow2Error {
    /// Shorter than a header.
    #[error("not a qcow2 image: {len} bytes, shorter than a header")]
    Short {
        /// Bytes there were.
        len: usize,
    },
    /// No qcow2 magic.
    #[error("not a qcow2 image (magic {0:#010x})")]
    Magic(u32),
    /// A version other than 2 or 3.
    #[error("qcow2 version {0}: only 2 and 3 are known")]
    Version(u32),
    /// cluster_bits outside 9..=21.
    #[error("qcow2 cluster_bits {0}: not between 9 and 21")]
    ClusterBits(u32),
    /// A version 3 header_length that is too short or past the cluster.
    #[error("qcow2 header_length {0}: not between 104 and the first cluster")]
    HeaderLength(u32),
    /// The backing file's name is empty, too long, or outside the first
    /// cluster.
    #[error("qcow2 backing file name at {offset}, {size} bytes: {why}")]
    BackingName {
        /// Its offset.
        offset: u64,
        /// Its length.
        size: u32,
        /// What is wrong.
        why: &'static str,
    },
    /// A header extension runs past the space for them.
    #[error("qcow2 header extension {kind:#010x} at {at}: {len} bytes run past the header")]
    Extension {
        /// Its type.
        kind: u32,
        /// Its offset.
        at: usize,
        /// Its length.
        len: u32,
    },
    /// More header extensions than [`MAX_EXTENSIONS`].
    #[error("qcow2: more than {MAX_EXTENSIONS} header extensions")]
    TooManyExtensions,
    /// A backing file whose format is not recorded: qemu would probe it,
    /// and a guest that wrote a qcow2 header into a raw backing file
    /// would then choose what its chain reads.
    #[error(
        "qcow2 backing file {}: its format is not recorded in the image (record it: qemu-img rebase -u -F raw|qcow2 -b NAME IMAGE)",
        name.to_string_lossy()
    )]
    BackingFormatMissing {
        /// The backing file's name.
        name: OsString,
    },
    /// A backing format other than raw or qcow2.
    #[error("qcow2 backing format {0:?}: only raw and qcow2 are given to qemu")]
    BackingFormat(String),
    /// An external data file: qemu would open it by its name.
    #[error("qcow2 with an external data file: refused (qemu would open it by name)")]
    DataFile,
    /// An encrypted image.
    #[error("qcow2 encrypted (method {0}): not supported")]
    Encrypted(u32),
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_be_bytes(a))
}

/// A version 2 header's length (and the least a header is).
const V2_HEADER: usize = 72;
/// The least a version 3 header is.
const V3_HEADER: usize = 104;

/// How much of the image [`parse`] needs: its first cluster, bounded
/// by [`MAX_READ`], read from the first [`V2_HEADER`] bytes (`head`).
pub fn needed(head: &[u8]) -> Result<usize, Qcow2Error> {
    check_start(head)?;
    let bits = be32(head, 20).ok_or(Qcow2Error::Short { len: head.len() })?;
    if !(9..=21).contains(&bits) {
        return Err(Qcow2Error::ClusterBits(bits));
    }
    Ok((1usize << bits).min(MAX_READ))
}

fn check_start(b: &[u8]) -> Result<u32, Qcow2Error> {
    if b.len() < V2_HEADER {
        return Err(Qcow2Error::Short { len: b.len() });
    }
    let magic = be32(b, 0).ok_or(Qcow2Error::Short { len: b.len() })?;
    if magic != MAGIC {
        return Err(Qcow2Error::Magic(magic));
    }
    let version = be32(b, 4).ok_or(Qcow2Error::Short { len: b.len() })?;
    if version != 2 && version != 3 {
        return Err(Qcow2Error::Version(version));
    }
    Ok(version)
}

/// Reads the header of a qcow2 image from `b`, its first cluster (or all
/// of the file, when shorter; see [`needed`]).
pub fn parse(b: &[u8]) -> Result<Header, Qcow2Error> {
    let b = &b[..b.len().min(MAX_READ)];
    let version = check_start(b)?;
    let short = || Qcow2Error::Short { len: b.len() };
    let bits = be32(b, 20).ok_or_else(short)?;
    if !(9..=21).contains(&bits) {
        return Err(Qcow2Error::ClusterBits(bits));
    }
    let cluster = 1usize << bits;
    // The space the header, its extensions and the backing name live in.
    let room = b.len().min(cluster);
    let crypt = be32(b, 32).ok_or_else(short)?;
    if crypt != 0 {
        return Err(Qcow2Error::Encrypted(crypt));
    }
    let header_len = if version == 3 {
        if b.len() < V3_HEADER {
            return Err(short());
        }
        let incompat = be64(b, 72).ok_or_else(short)?;
        if incompat & INCOMPAT_DATA_FILE != 0 {
            return Err(Qcow2Error::DataFile);
        }
        let len = be32(b, 100).ok_or_else(short)?;
        let l = usize::try_from(len).map_err(|_| Qcow2Error::HeaderLength(len))?;
        if l < V3_HEADER || l > room {
            return Err(Qcow2Error::HeaderLength(len));
        }
        l
    } else {
        V2_HEADER
    };
    let offset = be64(b, 8).ok_or_else(short)?;
    let size = be32(b, 16).ok_or_else(short)?;
    // The name, when there is one: within what was read, after the header.
    let name = if offset == 0 {
        None
    } else {
        let bad = |why| Qcow2Error::BackingName { offset, size, why };
        let n = usize::try_from(size).map_err(|_| bad("too long"))?;
        if n == 0 {
            return Err(bad("empty"));
        }
        if n > MAX_NAME {
            return Err(bad("longer than 1023 bytes"));
        }
        let at = usize::try_from(offset).map_err(|_| bad("past the first cluster"))?;
        if at < header_len {
            return Err(bad("inside the header"));
        }
        let end = at
            .checked_add(n)
            .ok_or_else(|| bad("past the first cluster"))?;
        if end > room {
            return Err(bad("past the first cluster"));
        }
        let bytes = &b[at..end];
        if bytes.contains(&0) {
            return Err(bad("holds a NUL byte"));
        }
        Some((at, bytes.to_vec()))
    };
    // The extensions: from the header's end to the name (or the cluster's
    // end).
    let ext_end = name.as_ref().map_or(room, |(at, _)| *at);
    let mut format = None;
    let mut at = header_len;
    let mut count = 0;
    while at.checked_add(8).is_some_and(|e| e <= ext_end) {
        let kind = be32(b, at).ok_or_else(short)?;
        let len = be32(b, at + 4).ok_or_else(short)?;
        if kind == 0 {
            break;
        }
        count += 1;
        if count > MAX_EXTENSIONS {
            return Err(Qcow2Error::TooManyExtensions);
        }
        let past = Qcow2Error::Extension { kind, at, len };
        let n = usize::try_from(len).map_err(|_| past.clone())?;
        let data = at + 8;
        let end = data.checked_add(n).ok_or_else(|| past.clone())?;
        if end > ext_end {
            return Err(past);
        }
        match kind {
            EXT_BACKING_FORMAT => format = Some(b[data..end].to_vec()),
            EXT_DATA_FILE => return Err(Qcow2Error::DataFile),
            _ => {}
        }
        // Padded to 8 bytes.
        at = match end.checked_add(7) {
            Some(e) => e & !7,
            None => break,
        };
    }
    let backing = match name {
        None => None,
        Some((_, bytes)) => {
            let name = OsString::from_vec(bytes);
            let format = match format.as_deref() {
                None => return Err(Qcow2Error::BackingFormatMissing { name }),
                Some(b"raw") => Format::Raw,
                Some(b"qcow2") => Format::Qcow2,
                Some(other) => {
                    return Err(Qcow2Error::BackingFormat(
                        String::from_utf8_lossy(other).chars().take(64).collect(),
                    ));
                }
            };
            Some(Backing { name, format })
        }
    };
    Ok(Header { version, backing })
}

#[cfg(test)]
#[path = "qcow2_tests.rs"]
mod tests;
