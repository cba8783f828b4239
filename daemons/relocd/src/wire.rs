//! The relocation protocol between two relocation servers, inside TLS 1.3.
//!
//! # Why it is hand-written
//! Five kinds of frame carry a JSON header, a result and qemu's own
//! migration stream; no crate of the size we accept frames that, and the
//! whole of it is the bounded reader and writer below.
//!
//! # Format
//! A frame is one kind byte, a big-endian u32 length, then that many
//! bytes. Every length is bounded before anything is allocated: a JSON
//! frame by [`MAX_JSON`], a data frame by [`MAX_CHUNK`]; a longer one,
//! or an unknown kind, ends the connection with an error naming it.
//!
//! ```text
//! destination -> source   W {"version":1}                 after the peer checks
//! source -> destination   H {Header}                      the domain's config
//! destination -> source   R {Outcome}                     started to receive, or why not
//! source -> destination   D bytes ... D bytes, then E     qemu's stream, then its end
//!                         (or A {"error"}: the source gave up)
//! destination -> source   R {Outcome}                     loaded and running, or why not
//! ```
//!
//! The source sends nothing until the destination's `W`: the
//! destination checks the source's certificate and names first, so a
//! refused source never gets as far as the config.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The version this server speaks.
pub const VERSION: u32 = 1;
/// The longest JSON frame (a config is far shorter: xend bounds a
/// request line at 64 KiB).
pub const MAX_JSON: usize = 256 * 1024;
/// The longest data frame.
pub const MAX_CHUNK: usize = 256 * 1024;

/// The kinds of frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The destination let the source in.
    Welcome,
    /// The domain, before its state.
    Header,
    /// An outcome.
    Outcome,
    /// Part of qemu's stream.
    Data,
    /// The stream's end.
    End,
    /// The source gave the stream up.
    Abort,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Welcome => b'W',
            Kind::Header => b'H',
            Kind::Outcome => b'R',
            Kind::Data => b'D',
            Kind::End => b'E',
            Kind::Abort => b'A',
        }
    }

    fn of(b: u8) -> Option<Kind> {
        [
            Kind::Welcome,
            Kind::Header,
            Kind::Outcome,
            Kind::Data,
            Kind::End,
            Kind::Abort,
        ]
        .into_iter()
        .find(|k| k.byte() == b)
    }

    fn max(self) -> usize {
        match self {
            Kind::Data => MAX_CHUNK,
            Kind::End => 0,
            _ => MAX_JSON,
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed or closed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A kind byte no frame has.
    #[error("a frame of unknown kind {0:#04x}")]
    Kind(u8),
    /// A frame longer than its kind's bound.
    #[error("a {kind:?} frame of {len} bytes (at most {max})")]
    TooLong {
        /// Its kind.
        kind: Kind,
        /// The length it gave.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// Another kind came than the one expected.
    #[error("expected a {want:?} frame, got {got:?}")]
    Unexpected {
        /// The kind expected.
        want: Kind,
        /// The kind that came.
        got: Kind,
    },
    /// A JSON frame that is not the expected JSON.
    #[error("a {kind:?} frame: {source}")]
    Json {
        /// Its kind.
        kind: Kind,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// The bytes before a frame's payload: its kind and length.
pub const HEAD: usize = 5;

fn head(kind: Kind, len: usize) -> io::Result<[u8; HEAD]> {
    let n = u32::try_from(len)
        .ok()
        .filter(|l| *l as usize <= kind.max())
        .ok_or_else(|| io::Error::other(format!("a {kind:?} frame of {len} bytes")))?;
    let mut h = [0u8; HEAD];
    h[0] = kind.byte();
    h[1..].copy_from_slice(&n.to_be_bytes());
    Ok(h)
}

/// Writes one frame, in one write (over TLS, one write is as few
/// records as its length needs; a head written alone would be a record
/// of its own).
pub fn write_frame(w: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(HEAD + payload.len());
    frame.extend_from_slice(&head(kind, payload.len())?);
    frame.extend_from_slice(payload);
    w.write_all(&frame)
}

/// Writes the data frame whose payload is `buf[HEAD..HEAD + len]`,
/// its head put in `buf[..HEAD]`: the stream's bulk is not copied
/// again to be framed.
pub fn write_data_in_place(w: &mut impl Write, buf: &mut [u8], len: usize) -> io::Result<()> {
    if buf.len() < HEAD + len {
        return Err(io::Error::other(format!(
            "a data frame of {len} bytes in a buffer of {}",
            buf.len()
        )));
    }
    buf[..HEAD].copy_from_slice(&head(Kind::Data, len)?);
    w.write_all(&buf[..HEAD + len])
}

/// Writes `v` as a JSON frame of `kind`.
pub fn write_json<T: Serialize>(w: &mut impl Write, kind: Kind, v: &T) -> io::Result<()> {
    let text = serde_json::to_vec(v).map_err(io::Error::other)?;
    write_frame(w, kind, &text)?;
    w.flush()
}

/// Reads one frame into `buf` (cleared first); its kind.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<Kind, WireError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let kind = Kind::of(head[0]).ok_or(WireError::Kind(head[0]))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let max = kind.max();
    if len as usize > max {
        return Err(WireError::TooLong {
            kind,
            len: u64::from(len),
            max,
        });
    }
    buf.clear();
    buf.resize(len as usize, 0);
    r.read_exact(buf)?;
    Ok(kind)
}

/// Reads one JSON frame of `want`.
pub fn read_json<T: serde::de::DeserializeOwned>(
    r: &mut impl Read,
    want: Kind,
) -> Result<T, WireError> {
    let mut buf = Vec::new();
    let got = read_frame(r, &mut buf)?;
    if got != want {
        // An abort or an outcome in another's place says why.
        return Err(WireError::Unexpected { want, got });
    }
    serde_json::from_slice(&buf).map_err(|source| WireError::Json { kind: want, source })
}

/// The destination's welcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The version it speaks.
    pub version: u32,
}

/// The domain, as the source sends it before its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The version the source speaks.
    pub version: u32,
    /// The domain's name.
    pub name: String,
    /// Its UUID.
    pub uuid: String,
    /// Where its config came from.
    pub source: String,
    /// Its config.
    pub config: String,
    /// Whether it ran (the destination resumes it then).
    pub resume: bool,
}

/// An outcome: `domid` when it went well, else `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The domain's id on the destination.
    #[serde(default)]
    pub domid: Option<u32>,
    /// Why not.
    #[serde(default)]
    pub error: Option<String>,
}

impl Outcome {
    /// It went well.
    pub fn ok(domid: u32) -> Outcome {
        Outcome {
            domid: Some(domid),
            error: None,
        }
    }

    /// It did not.
    pub fn failed(why: impl Into<String>) -> Outcome {
        Outcome {
            domid: None,
            error: Some(why.into()),
        }
    }
}

/// Why the source gave up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abort {
    /// Why.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written() {
        let mut w = Vec::new();
        write_frame(&mut w, Kind::Data, b"abc").expect("written");
        write_frame(&mut w, Kind::End, b"").expect("written");
        let mut inplace = vec![9u8; HEAD + 4];
        inplace[HEAD..].copy_from_slice(b"defg");
        write_data_in_place(&mut w, &mut inplace, 3).expect("written");
        let mut r = w.as_slice();
        let mut buf = Vec::new();
        assert_eq!(read_frame(&mut r, &mut buf).expect("read"), Kind::Data);
        assert_eq!(buf, b"abc");
        assert_eq!(read_frame(&mut r, &mut buf).expect("read"), Kind::End);
        assert!(buf.is_empty());
        assert_eq!(read_frame(&mut r, &mut buf).expect("read"), Kind::Data);
        assert_eq!(buf, b"def");
        assert!(r.is_empty());
    }

    #[test]
    fn a_length_past_its_kind_s_bound_is_refused_before_anything_is_allocated() {
        let mut head = vec![b'D'];
        head.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = read_frame(&mut head.as_slice(), &mut Vec::new()).expect_err("refused");
        assert!(
            e.to_string().contains("4294967295 bytes (at most 262144)"),
            "{e}"
        );
        let mut end = vec![b'E'];
        end.extend_from_slice(&1u32.to_be_bytes());
        end.push(0);
        assert!(matches!(
            read_frame(&mut end.as_slice(), &mut Vec::new()),
            Err(WireError::TooLong {
                kind: Kind::End,
                ..
            })
        ));
        assert!(write_frame(&mut Vec::new(), Kind::Data, &vec![0; MAX_CHUNK + 1]).is_err());
        let mut big = vec![0; HEAD + MAX_CHUNK + 1];
        assert!(write_data_in_place(&mut Vec::new(), &mut big, MAX_CHUNK + 1).is_err());
        assert!(write_data_in_place(&mut Vec::new(), &mut [0; 8], 4).is_err());
    }

    #[test]
    fn an_unknown_kind_half_a_frame_and_the_wrong_json_are_errors_naming_them() {
        let e = read_frame(&mut [b'Z', 0, 0, 0, 0].as_slice(), &mut Vec::new()).expect_err("kind");
        assert!(e.to_string().contains("unknown kind 0x5a"), "{e}");
        let e =
            read_frame(&mut [b'D', 0, 0, 0, 9, 1].as_slice(), &mut Vec::new()).expect_err("cut");
        assert!(matches!(e, WireError::Io(_)), "{e}");
        let mut w = Vec::new();
        write_json(&mut w, Kind::Outcome, &Outcome::ok(3)).expect("written");
        let e = read_json::<Header>(&mut w.as_slice(), Kind::Header).expect_err("kind");
        assert!(
            e.to_string()
                .contains("expected a Header frame, got Outcome"),
            "{e}"
        );
        let mut w = Vec::new();
        write_frame(&mut w, Kind::Header, b"{\"version\":1}").expect("written");
        let e = read_json::<Header>(&mut w.as_slice(), Kind::Header).expect_err("json");
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}
