//! libvirt's packets (`src/rpc/virnetprotocol.x`): a length, a header,
//! a body; read with every length bounded before anything is allocated.
//!
//! # Format
//! ```text
//! u32 length (of the whole packet, these 4 bytes included)
//! u32 prog    u32 vers    i32 proc    i32 type    u32 serial    i32 status
//! body: XDR, [`MAX_PACKET`] - 28 bytes at most
//! ```
//! A call's body is the procedure's arguments; a reply's is its result
//! (status OK) or a `remote_error` (status ERROR). Stream packets carry
//! the call's proc and serial, with status CONTINUE for data and OK at
//! the end.

use std::io::{self, Read};

use crate::xdr::{Dec, Enc, XdrError};

/// The length word.
pub const LEN_BYTES: usize = 4;
/// The header after it.
pub const HEADER_BYTES: usize = 24;
/// The largest packet virtd reads or writes, the length word included.
/// libvirt allows 32 MiB; a domain XML of the subset virtd reads is a
/// few KiB and a console's stream packets at most 256 KiB, so 1 MiB
/// bounds each connection's buffer far below libvirt's.
pub const MAX_PACKET: usize = 1 << 20;
/// The largest body.
pub const MAX_BODY: usize = MAX_PACKET - LEN_BYTES - HEADER_BYTES;
/// The largest stream data virtd sends in one packet (libvirt's
/// `VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`, which every client takes).
pub const MAX_STREAM_CHUNK: usize = 262_120;

/// libvirt's remote program (`REMOTE_PROGRAM`).
pub const REMOTE_PROGRAM: u32 = 0x2000_8086;
/// Its version.
pub const REMOTE_VERSION: u32 = 1;
/// The keepalive program (`KEEPALIVE_PROGRAM`, "keep").
pub const KEEPALIVE_PROGRAM: u32 = 0x6b65_6570;
/// Its version.
pub const KEEPALIVE_VERSION: u32 = 1;
/// Keepalive's PING.
pub const KEEPALIVE_PING: i32 = 1;
/// Keepalive's PONG.
pub const KEEPALIVE_PONG: i32 = 2;

/// A packet's type (`virNetMessageType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgType {
    /// Client to server: a call.
    Call,
    /// Server to client: its reply.
    Reply,
    /// Either way: a notification (keepalive).
    Message,
    /// Either way: stream data.
    Stream,
    /// A call with fds passed (virtd takes none).
    CallWithFds,
    /// A reply with fds passed (virtd sends none).
    ReplyWithFds,
    /// A stream's hole (sparse streams; virtd's console has none).
    StreamHole,
}

impl MsgType {
    fn from_i32(v: i32) -> Option<MsgType> {
        Some(match v {
            0 => MsgType::Call,
            1 => MsgType::Reply,
            2 => MsgType::Message,
            3 => MsgType::Stream,
            4 => MsgType::CallWithFds,
            5 => MsgType::ReplyWithFds,
            6 => MsgType::StreamHole,
            _ => return None,
        })
    }

    fn to_i32(self) -> i32 {
        match self {
            MsgType::Call => 0,
            MsgType::Reply => 1,
            MsgType::Message => 2,
            MsgType::Stream => 3,
            MsgType::CallWithFds => 4,
            MsgType::ReplyWithFds => 5,
            MsgType::StreamHole => 6,
        }
    }
}

/// A packet's status (`virNetMessageStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A call, a successful reply, a stream's end.
    Ok,
    /// A failed reply (a `remote_error` follows), a stream's failure.
    Error,
    /// A stream's data: more follows.
    Continue,
}

impl Status {
    fn from_i32(v: i32) -> Option<Status> {
        Some(match v {
            0 => Status::Ok,
            1 => Status::Error,
            2 => Status::Continue,
            _ => return None,
        })
    }

    fn to_i32(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Error => 1,
            Status::Continue => 2,
        }
    }
}

/// A packet's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The program.
    pub prog: u32,
    /// Its version.
    pub vers: u32,
    /// The procedure.
    pub proc_: i32,
    /// The packet's type.
    pub kind: MsgType,
    /// The call's serial number, echoed in its reply and stream.
    pub serial: u32,
    /// Its status.
    pub status: Status,
}

impl Header {
    /// The header of the reply to (or stream packet of) the call `self`.
    pub fn answer(&self, kind: MsgType, status: Status) -> Header {
        Header {
            kind,
            status,
            ..*self
        }
    }
}

/// A whole packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Its header.
    pub header: Header,
    /// Its body.
    pub body: Vec<u8>,
}

/// Why a packet could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    /// The connection failed, or ended inside a packet.
    #[error("reading a packet: {0}")]
    Io(#[source] io::Error),
    /// A length word outside 28..=[`MAX_PACKET`].
    #[error("a packet of {len} bytes (at least {min}, at most {max})")]
    Length {
        /// The length sent.
        len: u32,
        /// The least a packet has.
        min: usize,
        /// The bound.
        max: usize,
    },
    /// A header field with no meaning.
    #[error("a packet header with {field} {value}")]
    Header {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i32,
        /// The serial of the call, for a reply.
        serial: u32,
    },
    /// The header did not decode.
    #[error("a packet header: {0}")]
    Xdr(#[from] XdrError),
}

impl Packet {
    /// A packet of `header` and `body`.
    pub fn new(header: Header, body: Vec<u8>) -> Packet {
        Packet { header, body }
    }

    /// The packet's bytes, length word first. A body past [`MAX_BODY`]
    /// is the caller's bug: the packet would be refused by its reader.
    pub fn encode(&self) -> Vec<u8> {
        let len = LEN_BYTES + HEADER_BYTES + self.body.len();
        let mut e = Enc::new();
        let h = &self.header;
        e.u32(u32::try_from(len).unwrap_or(u32::MAX))
            .u32(h.prog)
            .u32(h.vers)
            .i32(h.proc_)
            .i32(h.kind.to_i32())
            .u32(h.serial)
            .i32(h.status.to_i32());
        let mut b = e.into_bytes();
        b.extend_from_slice(&self.body);
        b
    }

    /// Decodes the packet after its length word (`rest`: header and body).
    pub fn decode(rest: &[u8]) -> Result<Packet, PacketError> {
        let mut d = Dec::new(rest);
        let prog = d.u32("prog")?;
        let vers = d.u32("vers")?;
        let proc_ = d.i32("proc")?;
        let kind = d.i32("type")?;
        let serial = d.u32("serial")?;
        let status = d.i32("status")?;
        let kind = MsgType::from_i32(kind).ok_or(PacketError::Header {
            field: "type",
            value: kind,
            serial,
        })?;
        let status = Status::from_i32(status).ok_or(PacketError::Header {
            field: "status",
            value: status,
            serial,
        })?;
        Ok(Packet {
            header: Header {
                prog,
                vers,
                proc_,
                kind,
                serial,
                status,
            },
            body: rest[HEADER_BYTES..].to_vec(),
        })
    }
}

/// Checks a length word: refused before its packet is read.
pub fn check_len(len: u32) -> Result<usize, PacketError> {
    let n = usize::try_from(len).unwrap_or(usize::MAX);
    if !(LEN_BYTES + HEADER_BYTES..=MAX_PACKET).contains(&n) {
        return Err(PacketError::Length {
            len,
            min: LEN_BYTES + HEADER_BYTES,
            max: MAX_PACKET,
        });
    }
    Ok(n)
}

/// Reads one packet; `Ok(None)` when the peer closed between packets.
/// The length word is checked before the rest is allocated.
pub fn read_packet<R: Read>(r: &mut R) -> Result<Option<Packet>, PacketError> {
    let mut word = [0u8; LEN_BYTES];
    let mut got = 0;
    while got < LEN_BYTES {
        match r.read(&mut word[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(PacketError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PacketError::Io(e)),
        }
    }
    let len = check_len(u32::from_be_bytes(word))?;
    let mut rest = vec![0u8; len - LEN_BYTES];
    r.read_exact(&mut rest).map_err(PacketError::Io)?;
    Packet::decode(&rest).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(serial: u32) -> Packet {
        Packet::new(
            Header {
                prog: REMOTE_PROGRAM,
                vers: REMOTE_VERSION,
                proc_: 66,
                kind: MsgType::Call,
                serial,
                status: Status::Ok,
            },
            vec![0, 0, 0, 1],
        )
    }

    #[test]
    fn a_packet_reads_back_as_written() {
        let p = call(5);
        let b = p.encode();
        assert_eq!(&b[..4], &[0, 0, 0, 32]);
        assert_eq!(&b[4..8], &[0x20, 0x00, 0x80, 0x86]);
        let mut r = &b[..];
        assert_eq!(read_packet(&mut r).expect("reads"), Some(p));
        assert_eq!(read_packet(&mut r).expect("at the end"), None);
    }

    #[test]
    fn a_length_past_the_bound_is_refused_before_it_is_read() {
        // 17 MiB claimed, four bytes sent: refused at once, nothing allocated.
        let b = (17u32 << 20).to_be_bytes();
        let e = read_packet(&mut &b[..]).expect_err("too long");
        assert!(
            matches!(e, PacketError::Length { len, .. } if len == 17 << 20),
            "{e}"
        );
        let e = read_packet(&mut &[0, 0, 0, 8][..]).expect_err("too short");
        assert!(matches!(e, PacketError::Length { len: 8, .. }), "{e}");
    }

    #[test]
    fn a_cut_packet_and_a_bad_header_are_errors() {
        let b = call(1).encode();
        for cut in 1..b.len() {
            assert!(read_packet(&mut &b[..cut]).is_err(), "cut at {cut}");
        }
        let mut b = call(9).encode();
        b[19] = 7; // type 7
        match read_packet(&mut &b[..]) {
            Err(PacketError::Header {
                field: "type",
                value: 7,
                serial: 9,
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
