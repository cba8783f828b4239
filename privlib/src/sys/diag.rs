//! sock_diag (inet_diag over netlink): who owns the other end of a TCP
//! connection on this host. One exact request, one bounded reply.
//!
//! Written by hand rather than with a netlink crate: it is one request and
//! one message back, and what matters is what is *refused*, which is
//! easiest to see when it is all here.
//!
//! # Format
//! Request: `nlmsghdr` (16 bytes: len, type SOCK_DIAG_BY_FAMILY, flags
//! NLM_F_REQUEST, seq, pid 0) and `inet_diag_req_v2` (56 bytes: family,
//! protocol, ext, pad, states, then `inet_diag_sockid`: sport and dport in
//! network order, src\[16\], dst\[16\], if, cookie\[2\]). Answer: one
//! `nlmsghdr` with the same seq, then either `inet_diag_msg` (72 bytes:
//! family, state, timer, retrans, the `inet_diag_sockid` (48), expires,
//! rqueue, wqueue, uid, inode; attributes may follow) or `nlmsgerr` (a
//! negative errno and the request's own header).
//!
//! # What is believed
//! A process holding CAP_NET_ADMIN (Linux lets no other send a unicast in
//! this family) may send a datagram to our socket's port id, so an answer
//! counts only when it comes from the kernel (sender port 0, no
//! multicast group, as `recvfrom` reports it; the socket is also connected
//! to the kernel, which makes the kernel drop unicasts from anyone else),
//! answers the request sent (same sequence number, and for an error the
//! request's own header echoed back) and names the socket asked about
//! (family, ports and addresses). Every failed call is an error, each
//! saying which step failed; none is ignored.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd as _, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::check_io as check;

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const INET_DIAG_NOCOOKIE: u32 = !0;
#[allow(clippy::cast_possible_truncation)]
const TIMEVAL_LEN: libc::socklen_t = size_of::<libc::timeval>() as libc::socklen_t;
#[allow(clippy::cast_possible_truncation)]
const NL_ADDR_LEN: libc::socklen_t = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
/// Header (16) + inet_diag_req_v2 (56).
const REQ_LEN: usize = 72;
/// inet_diag_msg is 72 bytes; attributes may follow. The reply to an exact
/// lookup is one message; anything larger than this is refused.
const MAX_REPLY: usize = 8192;
/// How long the kernel's answer may take, in all.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// Datagrams not from the kernel that one lookup skips before giving up
/// (the kernel already drops them for a connected socket).
const MAX_FOREIGN: u32 = 16;

/// Why a sock_diag lookup gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The two ends are of different address families.
    #[error("sock_diag: {src} and {dst} are of different address families")]
    MixedFamilies {
        /// Source.
        src: SocketAddr,
        /// Destination.
        dst: SocketAddr,
    },
    /// socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed.
    #[error("sock_diag: opening a netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// setsockopt(SO_RCVTIMEO) failed.
    #[error("sock_diag: setting the receive timeout: {0}")]
    SetTimeout(#[source] io::Error),
    /// connect() to the kernel failed.
    #[error("sock_diag: connecting to the kernel: {0}")]
    Connect(#[source] io::Error),
    /// sendto() failed.
    #[error("sock_diag: sending the request: {0}")]
    Send(#[source] io::Error),
    /// sendto() sent part of the request.
    #[error("sock_diag: sent {sent} of {len} bytes of the request")]
    ShortSend {
        /// Bytes sent.
        sent: usize,
        /// Bytes of the request.
        len: usize,
    },
    /// recvfrom() failed (other than by the timeout).
    #[error("sock_diag: receiving the answer: {0}")]
    Recv(#[source] io::Error),
    /// No answer from the kernel in time.
    #[error(
        "sock_diag: no answer from the kernel within {within:?} ({ignored} datagrams from others ignored)"
    )]
    NoAnswer {
        /// How long it waited.
        within: Duration,
        /// Datagrams skipped because the kernel did not send them.
        ignored: u32,
    },
    /// Too many datagrams from senders other than the kernel.
    #[error("sock_diag: {0} datagrams from senders other than the kernel; giving up")]
    Flooded(u32),
    /// An answer longer than we take.
    #[error("sock_diag: an answer of {0} bytes, more than {MAX_REPLY}")]
    TooLong(usize),
    /// The kernel answered with an error.
    #[error("sock_diag: the kernel refused the lookup: {0}")]
    Kernel(#[source] io::Error),
    /// The answer is not for our request, or not well formed.
    #[error("sock_diag reply: {0}")]
    Reply(&'static str),
}

impl From<DiagError> for io::Error {
    fn from(e: DiagError) -> io::Error {
        let kind = match &e {
            DiagError::MixedFamilies { .. } => io::ErrorKind::InvalidInput,
            DiagError::NoAnswer { .. } => io::ErrorKind::TimedOut,
            DiagError::Reply(_) | DiagError::TooLong(_) | DiagError::Flooded(_) => {
                io::ErrorKind::InvalidData
            }
            DiagError::Socket(s)
            | DiagError::SetTimeout(s)
            | DiagError::Connect(s)
            | DiagError::Send(s)
            | DiagError::Recv(s)
            | DiagError::Kernel(s) => s.kind(),
            DiagError::ShortSend { .. } => io::ErrorKind::WriteZero,
        };
        io::Error::new(kind, e)
    }
}

/// The request for the socket whose source is `src` and destination `dst`
/// (the connecting client's view), as bytes.
pub fn request(src: SocketAddr, dst: SocketAddr, seq: u32) -> Option<[u8; REQ_LEN]> {
    let family = match (src.ip(), dst.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => libc::AF_INET,
        (IpAddr::V6(_), IpAddr::V6(_)) => libc::AF_INET6,
        _ => return None,
    };
    let mut b = [0u8; REQ_LEN];
    // nlmsghdr
    b[0..4].copy_from_slice(&u32::try_from(REQ_LEN).ok()?.to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // inet_diag_req_v2: family, protocol, ext, pad, states
    b[16] = u8::try_from(family).ok()?;
    b[17] = u8::try_from(libc::IPPROTO_TCP).ok()?;
    b[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
    // inet_diag_sockid: sport, dport (network order), src[16], dst[16], if, cookie[2]
    b[24..26].copy_from_slice(&src.port().to_be_bytes());
    b[26..28].copy_from_slice(&dst.port().to_be_bytes());
    let put = |b: &mut [u8; REQ_LEN], at: usize, ip: IpAddr| match ip {
        IpAddr::V4(a) => b[at..at + 4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b[at..at + 16].copy_from_slice(&a.octets()),
    };
    put(&mut b, 28, src.ip());
    put(&mut b, 44, dst.ip());
    b[64..68].copy_from_slice(&INET_DIAG_NOCOOKIE.to_ne_bytes());
    b[68..72].copy_from_slice(&INET_DIAG_NOCOOKIE.to_ne_bytes());
    Some(b)
}

/// `TCP_ESTABLISHED` in the kernel's TCP states (`idiag_state`).
const TCP_ESTABLISHED: u8 = 1;

/// Whether a datagram's sender, as `recvfrom` reports it, is the kernel:
/// a netlink address with port 0 and no multicast group.
pub fn from_kernel(from: &libc::sockaddr_nl, len: libc::socklen_t) -> bool {
    len == NL_ADDR_LEN
        && i32::from(from.nl_family) == libc::AF_NETLINK
        && from.nl_pid == 0
        && from.nl_groups == 0
}

/// Reads the owner uid out of a reply to `req`; checks lengths, the
/// message type, the sequence number, and that the socket is the one
/// asked about. `Ok(None)`: the kernel knows no such socket.
pub fn parse_reply(reply: &[u8], req: &[u8; REQ_LEN]) -> Result<Option<u32>, DiagError> {
    let bad = DiagError::Reply;
    let u32_at = |at: usize| -> Result<u32, DiagError> {
        let s = reply.get(at..at + 4).ok_or(bad("short"))?;
        Ok(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    };
    let len = usize::try_from(u32_at(0)?).map_err(|_| bad("length"))?;
    if len < 16 || len > reply.len() {
        return Err(bad("length out of range"));
    }
    if reply[8..12] != req[8..12] {
        return Err(bad("answers another request (sequence number)"));
    }
    let ty = u16::from_ne_bytes([reply[4], reply[5]]);
    match ty {
        NLMSG_ERROR => {
            // nlmsgerr: error (4), then the request's own header (16).
            if len < 16 + 4 + 16 {
                return Err(bad("error message too short"));
            }
            // The echoed header's type and sequence number (its flags the
            // kernel may have changed).
            if reply[20 + 4..20 + 6] != req[4..6] || reply[20 + 8..20 + 12] != req[8..12] {
                return Err(bad("an error about another request"));
            }
            let err = i32::from_ne_bytes(u32_at(16)?.to_ne_bytes());
            return match err {
                // ENOENT: no such socket on this host (or in this namespace).
                e if e == -libc::ENOENT => Ok(None),
                // An acknowledgement: never asked for, and no answer.
                0 => Err(bad("an acknowledgement instead of an answer")),
                e if e < 0 => Err(DiagError::Kernel(io::Error::from_raw_os_error(-e))),
                _ => Err(bad("a positive error number")),
            };
        }
        NLMSG_DONE => return Ok(None),
        SOCK_DIAG_BY_FAMILY => {}
        _ => return Err(bad("unexpected message type")),
    }
    // inet_diag_msg: family(1) state(1) timer(1) retrans(1) id(48) expires(4) rqueue(4) wqueue(4) uid(4) inode(4)
    if len < 16 + 72 {
        return Err(bad("message too short"));
    }
    if reply[16] != req[16] {
        return Err(bad("answer is of another address family"));
    }
    // The id (ports and addresses) must be the one we asked about. The
    // request carries no cookie (INET_DIAG_NOCOOKIE), so there is none to
    // compare: the kernel found the socket by these fields alone.
    if reply[16 + 4..16 + 4 + 36] != req[24..60] {
        return Err(bad("answer names another socket"));
    }
    // Only an open, connected socket has an owner to speak of. An exact
    // lookup finds TIME_WAIT sockets too, and the kernel reports those
    // (what is left of a client that connected, wrote and closed before
    // the accept) with uid 0 and inode 0: taking that uid would let anyone
    // pass a gate as root. A socket no process holds any more (inode 0)
    // or one past ESTABLISHED has no identity.
    let inode = u32_at(16 + 68)?;
    if reply[17] != TCP_ESTABLISHED || inode == 0 {
        return Ok(None);
    }
    Ok(Some(u32_at(16 + 64)?))
}

/// A fresh NETLINK_SOCK_DIAG socket with a receive timeout of `timeout`.
fn open_socket(timeout: Duration) -> Result<OwnedFd, DiagError> {
    // SAFETY: socket takes integers only.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return Err(DiagError::Socket(io::Error::last_os_error()));
    }
    // SAFETY: `raw` was just returned by socket() and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    set_recv_timeout(sock.as_fd(), timeout)?;
    Ok(sock)
}

/// SO_RCVTIMEO: a receive on `sock` fails with EAGAIN after `timeout`.
/// Its failure is an error: without it, a lookup could wait for ever.
fn set_recv_timeout(sock: BorrowedFd<'_>, timeout: Duration) -> Result<(), DiagError> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    // SAFETY: `tv` is a live timeval and its size is passed.
    check(unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            TIMEVAL_LEN,
        )
    })
    .map_err(DiagError::SetTimeout)
}

/// The kernel's netlink address (port 0, no groups).
fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain integers; all zero is port 0, groups 0.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::sa_family_t::try_from(libc::AF_NETLINK).unwrap_or(16);
    kernel
}

/// Connects `sock` to the kernel: from then on the kernel itself drops
/// unicasts to it from any other sender (netlink_getsockbyportid).
fn connect_kernel(sock: BorrowedFd<'_>) -> Result<(), DiagError> {
    let kernel = kernel_addr();
    // SAFETY: `kernel` is a live sockaddr_nl and its size is passed.
    check(unsafe { libc::connect(sock.as_raw_fd(), (&raw const kernel).cast(), NL_ADDR_LEN) })
        .map_err(DiagError::Connect)
}

/// Sends one datagram to netlink port `port` (0: the kernel); the bytes sent.
fn send_to_port(sock: BorrowedFd<'_>, port: u32, data: &[u8]) -> io::Result<usize> {
    let mut to = kernel_addr();
    to.nl_pid = port;
    // SAFETY: `data` and `to` are live for the call, with their sizes.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            0,
            (&raw const to).cast(),
            NL_ADDR_LEN,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Sends `req` to the kernel, whole.
fn send_request(sock: BorrowedFd<'_>, req: &[u8]) -> Result<(), DiagError> {
    let sent = send_to_port(sock, 0, req).map_err(DiagError::Send)?;
    if sent != req.len() {
        return Err(DiagError::ShortSend {
            sent,
            len: req.len(),
        });
    }
    Ok(())
}

/// Waits for the kernel's answer to `req` on `sock` (whose receive timeout
/// is set) for at most `within`, skipping datagrams others sent.
fn receive(
    sock: BorrowedFd<'_>,
    req: &[u8; REQ_LEN],
    within: Duration,
) -> Result<Option<u32>, DiagError> {
    let start = Instant::now();
    let mut buf = vec![0u8; MAX_REPLY];
    let mut ignored = 0u32;
    loop {
        // SAFETY: sockaddr_nl is plain integers; recvfrom overwrites it.
        let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut from_len = NL_ADDR_LEN;
        // SAFETY: `buf` has buf.len() writable bytes; `from` and `from_len`
        // are live and `from_len` holds the size of `from`. MSG_TRUNC makes
        // the result the datagram's real length, so a cut one is seen.
        let n = unsafe {
            libc::recvfrom(
                sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&raw mut from).cast(),
                &raw mut from_len,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            let e = io::Error::last_os_error();
            return Err(match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    DiagError::NoAnswer { within, ignored }
                }
                io::ErrorKind::Interrupted if start.elapsed() < within => continue,
                _ => DiagError::Recv(e),
            });
        };
        if !from_kernel(&from, from_len) {
            ignored += 1;
            if ignored >= MAX_FOREIGN {
                return Err(DiagError::Flooded(ignored));
            }
            if start.elapsed() >= within {
                return Err(DiagError::NoAnswer { within, ignored });
            }
            continue;
        }
        if n > buf.len() {
            return Err(DiagError::TooLong(n));
        }
        return parse_reply(&buf[..n], req);
    }
}

/// The next sequence number: distinct for every lookup of this process.
fn next_seq() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed).max(1)
}

/// The uid owning the TCP socket `src` -> `dst` on this host, if any.
pub fn lookup(src: SocketAddr, dst: SocketAddr) -> Result<Option<u32>, DiagError> {
    let req = request(src, dst, next_seq()).ok_or(DiagError::MixedFamilies { src, dst })?;
    let sock = open_socket(ANSWER_WITHIN)?;
    connect_kernel(sock.as_fd())?;
    send_request(sock.as_fd(), &req)?;
    receive(sock.as_fd(), &req, ANSWER_WITHIN)
}

/// [`lookup`], as an `io::Error` (which holds the [`DiagError`]).
pub fn tcp_owner(src: SocketAddr, dst: SocketAddr) -> io::Result<Option<u32>> {
    lookup(src, dst).map_err(io::Error::from)
}

#[cfg(test)]
#[path = "diag_tests.rs"]
mod tests;
