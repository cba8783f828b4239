//! The XenStore wire format (Xen 4.17 `xs_wire.h`): frames, message types
//! and error names.
//!
//! # Format
//! A frame is a 16-byte header, four host-order (little-endian here)
//! `u32`s: `type`, `req_id`, `tx_id`, `len`; then `len` payload bytes,
//! at most [`PAYLOAD_MAX`]. A peer that announces more is not read
//! further: its connection is dropped before anything is allocated.

use std::fmt;

/// Largest payload of a frame.
pub const PAYLOAD_MAX: usize = 4096;
/// Header size.
pub const HEADER_LEN: usize = 16;
/// Longest absolute path.
pub const ABS_PATH_MAX: usize = 3072;
/// Longest relative path.
pub const REL_PATH_MAX: usize = 2048;

/// Message types and their numbers. 20 (RESTRICT) was removed; 23 and up
/// came after 4.17.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum MsgType {
    Control,
    Directory,
    Read,
    GetPerms,
    Watch,
    Unwatch,
    TransactionStart,
    TransactionEnd,
    Introduce,
    Release,
    GetDomainPath,
    Write,
    Mkdir,
    Rm,
    SetPerms,
    WatchEvent,
    Error,
    IsDomainIntroduced,
    Resume,
    SetTarget,
    ResetWatches,
    DirectoryPart,
}

impl MsgType {
    /// The wire number.
    pub fn number(self) -> u32 {
        match self {
            MsgType::Control => 0,
            MsgType::Directory => 1,
            MsgType::Read => 2,
            MsgType::GetPerms => 3,
            MsgType::Watch => 4,
            MsgType::Unwatch => 5,
            MsgType::TransactionStart => 6,
            MsgType::TransactionEnd => 7,
            MsgType::Introduce => 8,
            MsgType::Release => 9,
            MsgType::GetDomainPath => 10,
            MsgType::Write => 11,
            MsgType::Mkdir => 12,
            MsgType::Rm => 13,
            MsgType::SetPerms => 14,
            MsgType::WatchEvent => 15,
            MsgType::Error => 16,
            MsgType::IsDomainIntroduced => 17,
            MsgType::Resume => 18,
            MsgType::SetTarget => 19,
            MsgType::ResetWatches => 21,
            MsgType::DirectoryPart => 22,
        }
    }

    /// The type with this number, if 4.17 has one.
    pub fn from_number(n: u32) -> Option<MsgType> {
        const ALL: [MsgType; 22] = [
            MsgType::Control,
            MsgType::Directory,
            MsgType::Read,
            MsgType::GetPerms,
            MsgType::Watch,
            MsgType::Unwatch,
            MsgType::TransactionStart,
            MsgType::TransactionEnd,
            MsgType::Introduce,
            MsgType::Release,
            MsgType::GetDomainPath,
            MsgType::Write,
            MsgType::Mkdir,
            MsgType::Rm,
            MsgType::SetPerms,
            MsgType::WatchEvent,
            MsgType::Error,
            MsgType::IsDomainIntroduced,
            MsgType::Resume,
            MsgType::SetTarget,
            MsgType::ResetWatches,
            MsgType::DirectoryPart,
        ];
        ALL.into_iter().find(|t| t.number() == n)
    }
}

/// The error names of `xs_wire.h`, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[allow(missing_docs)]
pub enum XsError {
    #[error("EINVAL")]
    Einval,
    #[error("EACCES")]
    Eacces,
    #[error("EEXIST")]
    Eexist,
    #[error("EISDIR")]
    Eisdir,
    #[error("ENOENT")]
    Enoent,
    #[error("ENOMEM")]
    Enomem,
    #[error("ENOSPC")]
    Enospc,
    #[error("EIO")]
    Eio,
    #[error("ENOTEMPTY")]
    Enotempty,
    #[error("ENOSYS")]
    Enosys,
    #[error("EROFS")]
    Erofs,
    #[error("EBUSY")]
    Ebusy,
    #[error("EAGAIN")]
    Eagain,
    #[error("EISCONN")]
    Eisconn,
    #[error("E2BIG")]
    E2big,
    #[error("EPERM")]
    Eperm,
}

impl XsError {
    /// Every error, in table order.
    pub const ALL: [XsError; 16] = [
        XsError::Einval,
        XsError::Eacces,
        XsError::Eexist,
        XsError::Eisdir,
        XsError::Enoent,
        XsError::Enomem,
        XsError::Enospc,
        XsError::Eio,
        XsError::Enotempty,
        XsError::Enosys,
        XsError::Erofs,
        XsError::Ebusy,
        XsError::Eagain,
        XsError::Eisconn,
        XsError::E2big,
        XsError::Eperm,
    ];

    /// The name as sent on the wire (without the NUL).
    pub fn name(self) -> &'static str {
        match self {
            XsError::Einval => "EINVAL",
            XsError::Eacces => "EACCES",
            XsError::Eexist => "EEXIST",
            XsError::Eisdir => "EISDIR",
            XsError::Enoent => "ENOENT",
            XsError::Enomem => "ENOMEM",
            XsError::Enospc => "ENOSPC",
            XsError::Eio => "EIO",
            XsError::Enotempty => "ENOTEMPTY",
            XsError::Enosys => "ENOSYS",
            XsError::Erofs => "EROFS",
            XsError::Ebusy => "EBUSY",
            XsError::Eagain => "EAGAIN",
            XsError::Eisconn => "EISCONN",
            XsError::E2big => "E2BIG",
            XsError::Eperm => "EPERM",
        }
    }

    /// The error a name stands for (unknown names read as EINVAL, as
    /// libxenstore does).
    pub fn from_name(name: &[u8]) -> XsError {
        XsError::ALL
            .into_iter()
            .find(|e| e.name().as_bytes() == name)
            .unwrap_or(XsError::Einval)
    }
}

/// A frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Raw type number (may be one we do not know).
    pub ty: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0: none).
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

impl Header {
    /// Reads a header.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        let at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            ty: at(0),
            req_id: at(4),
            tx_id: at(8),
            len: at(12),
        }
    }

    /// Writes a header.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.ty.to_le_bytes());
        b[4..8].copy_from_slice(&self.req_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.tx_id.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

/// A whole frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Raw type number.
    pub ty: u32,
    /// Request id.
    pub req_id: u32,
    /// Transaction id.
    pub tx_id: u32,
    /// Payload, at most [`PAYLOAD_MAX`] bytes.
    pub payload: Vec<u8>,
}

/// A frame that cannot be: more than [`PAYLOAD_MAX`] payload bytes. A
/// reader drops the connection; a writer sends nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("frame announces {0} payload bytes, more than {PAYLOAD_MAX}")]
pub struct FrameTooLong(pub u32);

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Frame {
    /// A reply to `req` of type `ty` with `payload`.
    pub fn reply(req: &Frame, ty: MsgType, payload: Vec<u8>) -> Frame {
        Frame {
            ty: ty.number(),
            req_id: req.req_id,
            tx_id: req.tx_id,
            payload,
        }
    }

    /// An error reply to `req`.
    pub fn error(req: &Frame, e: XsError) -> Frame {
        let mut p = e.name().as_bytes().to_vec();
        p.push(0);
        Frame::reply(req, MsgType::Error, p)
    }

    /// The bytes on the wire, or [`FrameTooLong`] for a payload above
    /// [`PAYLOAD_MAX`]: a frame is sent whole or not at all, never cut.
    pub fn encode(&self) -> Result<Vec<u8>, FrameTooLong> {
        let len = u32::try_from(self.payload.len())
            .ok()
            .filter(|_| self.payload.len() <= PAYLOAD_MAX)
            .ok_or(FrameTooLong(saturating_u32(self.payload.len())))?;
        let h = Header {
            ty: self.ty,
            req_id: self.req_id,
            tx_id: self.tx_id,
            len,
        };
        let mut v = Vec::with_capacity(HEADER_LEN + self.payload.len());
        v.extend_from_slice(&h.to_bytes());
        v.extend_from_slice(&self.payload);
        Ok(v)
    }

    /// The bytes on the wire, for callers that cannot handle an error.
    /// The daemon never builds a frame above [`PAYLOAD_MAX`]
    /// ([`crate::daemon::Daemon::handle`] checks every frame it returns).
    /// Should a caller still pass one, it becomes its header alone,
    /// announcing its true length: every reader (ours, Xen's) refuses that
    /// header before reading on and drops the connection, where a frame
    /// cut at the limit would be taken as whole, its last string corrupt.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode().unwrap_or_else(|FrameTooLong(len)| {
            Header {
                ty: self.ty,
                req_id: self.req_id,
                tx_id: self.tx_id,
                len,
            }
            .to_bytes()
            .to_vec()
        })
    }

    /// The NUL-separated strings of the payload ([`payload_strings`]).
    pub fn strings(&self) -> Vec<&[u8]> {
        payload_strings(&self.payload)
    }
}

/// The NUL-separated strings of a payload (a trailing NUL ends the last
/// one; a last string without NUL is kept as is).
pub fn payload_strings(payload: &[u8]) -> Vec<&[u8]> {
    let p = payload.strip_suffix(&[0]).unwrap_or(payload);
    if p.is_empty() && payload.is_empty() {
        return Vec::new();
    }
    p.split(|b| *b == 0).collect()
}

/// Splits a byte stream into frames, never holding more than one frame.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// Feeds bytes; returns the frames completed, in order, or the error
    /// when a frame is too long (dropping the frames before it).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, FrameTooLong> {
        let mut out = Vec::new();
        self.push_into(bytes, &mut out)?;
        Ok(out)
    }

    /// Feeds bytes, appending the frames completed to `out`. When a frame
    /// is too long, the frames before it are in `out` all the same, so
    /// what a peer's requests do never depends on how its bytes were
    /// split into reads.
    pub fn push_into(
        &mut self,
        mut bytes: &[u8],
        out: &mut Vec<Frame>,
    ) -> Result<(), FrameTooLong> {
        while !bytes.is_empty() {
            let need = self.needed()?;
            let take = need.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if let Some(f) = self.complete()? {
                out.push(f);
            }
        }
        Ok(())
    }

    /// How many more bytes the frame in progress needs.
    fn needed(&self) -> Result<usize, FrameTooLong> {
        if self.buf.len() < HEADER_LEN {
            return Ok(HEADER_LEN - self.buf.len());
        }
        let len = self.header().len;
        let total = usize::try_from(len).map_err(|_| FrameTooLong(len))?;
        if total > PAYLOAD_MAX {
            return Err(FrameTooLong(len));
        }
        Ok(HEADER_LEN + total - self.buf.len())
    }

    fn header(&self) -> Header {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&self.buf[..HEADER_LEN]);
        Header::parse(&h)
    }

    fn complete(&mut self) -> Result<Option<Frame>, FrameTooLong> {
        if self.buf.len() < HEADER_LEN || self.needed()? != 0 {
            return Ok(None);
        }
        let h = self.header();
        let payload = self.buf.split_off(HEADER_LEN);
        self.buf.clear();
        Ok(Some(Frame {
            ty: h.ty,
            req_id: h.req_id,
            tx_id: h.tx_id,
            payload,
        }))
    }

    /// Bytes held for the frame in progress.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = MsgType::from_number(self.ty)
            .map_or_else(|| format!("type {}", self.ty), |t| format!("{t:?}"));
        write!(
            f,
            "{name} req {} tx {} ({} bytes)",
            self.req_id,
            self.tx_id,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_those_of_xen_4_17() {
        assert_eq!(MsgType::Control.number(), 0);
        assert_eq!(MsgType::Write.number(), 11);
        assert_eq!(MsgType::SetTarget.number(), 19);
        assert_eq!(MsgType::from_number(20), None, "RESTRICT was removed");
        assert_eq!(MsgType::ResetWatches.number(), 21);
        assert_eq!(MsgType::DirectoryPart.number(), 22);
        assert_eq!(MsgType::from_number(23), None);
        for n in 0..23 {
            if let Some(t) = MsgType::from_number(n) {
                assert_eq!(t.number(), n);
            }
        }
    }

    #[test]
    fn errors_go_by_name() {
        assert_eq!(XsError::ALL[0], XsError::Einval);
        assert_eq!(XsError::ALL[15], XsError::Eperm);
        assert_eq!(XsError::from_name(b"ENOENT"), XsError::Enoent);
        assert_eq!(XsError::from_name(b"EWHATEVER"), XsError::Einval);
        let req = Frame {
            ty: 2,
            req_id: 7,
            tx_id: 3,
            payload: b"/x\0".to_vec(),
        };
        let e = Frame::error(&req, XsError::Enoent);
        assert_eq!(
            e.to_bytes(),
            [
                &16u32.to_le_bytes()[..],
                &7u32.to_le_bytes(),
                &3u32.to_le_bytes(),
                &7u32.to_le_bytes(),
                b"ENOENT\0"
            ]
            .concat()
        );
    }

    #[test]
    fn a_frame_is_encoded_whole_or_not_at_all() {
        let f = |n: usize| Frame {
            ty: MsgType::WatchEvent.number(),
            req_id: 0,
            tx_id: 0,
            payload: vec![b'x'; n],
        };
        let whole = f(PAYLOAD_MAX).encode().expect("4096 bytes fit");
        assert_eq!(whole.len(), HEADER_LEN + PAYLOAD_MAX);
        assert_eq!(f(PAYLOAD_MAX + 1).encode(), Err(FrameTooLong(4097)));
        // The infallible form sends a header the reader refuses, no payload.
        let bytes = f(PAYLOAD_MAX + 1).to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(FrameReader::default().push(&bytes), Err(FrameTooLong(4097)));
    }

    #[test]
    fn frames_split_at_any_byte_boundary() {
        let a = Frame {
            ty: 2,
            req_id: 1,
            tx_id: 0,
            payload: b"/a\0".to_vec(),
        }
        .to_bytes();
        let b = Frame {
            ty: 11,
            req_id: 2,
            tx_id: 0,
            payload: b"/b\0v".to_vec(),
        }
        .to_bytes();
        let stream = [a, b].concat();
        for cut in 0..stream.len() {
            let mut r = FrameReader::default();
            let mut got = r.push(&stream[..cut]).expect("ok");
            got.extend(r.push(&stream[cut..]).expect("ok"));
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[1].payload, b"/b\0v");
            assert_eq!(r.pending(), 0);
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_before_any_allocation() {
        let mut r = FrameReader::default();
        let h = Header {
            ty: 2,
            req_id: 0,
            tx_id: 0,
            len: 4097,
        }
        .to_bytes();
        assert_eq!(r.push(&h), Err(FrameTooLong(4097)));
        let h = Header {
            ty: 2,
            req_id: 0,
            tx_id: 0,
            len: u32::MAX,
        }
        .to_bytes();
        assert_eq!(FrameReader::default().push(&h), Err(FrameTooLong(u32::MAX)));
        let h = Header {
            ty: 2,
            req_id: 0,
            tx_id: 0,
            len: 4096,
        }
        .to_bytes();
        assert!(
            FrameReader::default()
                .push(&h)
                .expect("exactly the limit")
                .is_empty()
        );
    }

    #[test]
    fn frames_before_an_oversized_one_are_kept() {
        let ok = Frame {
            ty: 2,
            req_id: 1,
            tx_id: 0,
            payload: b"/a\0".to_vec(),
        }
        .to_bytes();
        let bad = Header {
            ty: 2,
            req_id: 2,
            tx_id: 0,
            len: 5000,
        }
        .to_bytes();
        let mut out = Vec::new();
        let r = FrameReader::default().push_into(&[&ok[..], &bad[..]].concat(), &mut out);
        assert_eq!(r, Err(FrameTooLong(5000)));
        assert_eq!(out.len(), 1, "the frame before the bad one");
        assert_eq!(out[0].req_id, 1);
    }

    #[test]
    fn payload_strings() {
        let f = |p: &[u8]| Frame {
            ty: 0,
            req_id: 0,
            tx_id: 0,
            payload: p.to_vec(),
        };
        assert_eq!(f(b"/a\0tok\0").strings(), [&b"/a"[..], b"tok"]);
        assert_eq!(f(b"/a\0value").strings(), [&b"/a"[..], b"value"]);
        assert_eq!(f(b"\0").strings(), [&b""[..]]);
        assert!(f(b"").strings().is_empty());
    }
}
