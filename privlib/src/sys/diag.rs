//! sock_diag (inet_diag over netlink): who owns the other end of a TCP
//! connection on this host. One exact request, one bounded reply.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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

/// Reads the owner uid out of a reply; checks lengths, the message type and
/// that the socket id is the one asked for.
pub fn parse_reply(reply: &[u8], req: &[u8; REQ_LEN]) -> io::Result<Option<u32>> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sock_diag reply: {why}"),
        )
    };
    let u32_at = |at: usize| -> io::Result<u32> {
        let s = reply.get(at..at + 4).ok_or_else(|| bad("short"))?;
        Ok(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    };
    let len = usize::try_from(u32_at(0)?).map_err(|_| bad("length"))?;
    if len < 16 || len > reply.len() {
        return Err(bad("length out of range"));
    }
    let ty = u16::from_ne_bytes([reply[4], reply[5]]);
    match ty {
        NLMSG_ERROR => {
            let err = i32::from_ne_bytes(u32_at(16)?.to_ne_bytes());
            // ENOENT: no such socket on this host (or in this namespace).
            if err == -libc::ENOENT {
                return Ok(None);
            }
            return Err(io::Error::from_raw_os_error(-err));
        }
        NLMSG_DONE => return Ok(None),
        SOCK_DIAG_BY_FAMILY => {}
        _ => return Err(bad("unexpected message type")),
    }
    // inet_diag_msg: family(1) state(1) timer(1) retrans(1) id(48) expires(4) rqueue(4) wqueue(4) uid(4) inode(4)
    if len < 16 + 72 {
        return Err(bad("message too short"));
    }
    // The id (ports and addresses) must be the one we asked about.
    if reply[16 + 4..16 + 4 + 36] != req[24..60] {
        return Err(bad("answer names another socket"));
    }
    Ok(Some(u32_at(16 + 64)?))
}

/// The uid owning the TCP socket `src` -> `dst` on this host, if any.
pub fn tcp_owner(src: SocketAddr, dst: SocketAddr) -> io::Result<Option<u32>> {
    let req = request(src, dst, 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "mixed address families"))?;
    // SAFETY: socket takes integers only.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: `tv` is a live timeval and its size is passed.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            TIMEVAL_LEN,
        )
    };
    // SAFETY: zeroed sockaddr_nl is the kernel's address (pid 0, groups 0).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or(16);
    // SAFETY: `req` and `kernel` are live for the call, with their sizes.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&raw const kernel).cast(),
            NL_ADDR_LEN,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; MAX_REPLY];
    // SAFETY: `buf` has MAX_REPLY writable bytes.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    parse_reply(&buf[..n], &req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_for_another_socket_is_refused() {
        let a: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let req = request(a, b, 1).expect("req");
        let mut reply = vec![0u8; 16 + 72];
        reply[0..4].copy_from_slice(&88u32.to_ne_bytes());
        reply[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        reply[16 + 64..16 + 68].copy_from_slice(&1234u32.to_ne_bytes());
        assert!(parse_reply(&reply, &req).is_err(), "id mismatch");
        reply[20..56].copy_from_slice(&req[24..60]);
        assert_eq!(parse_reply(&reply, &req).expect("parses"), Some(1234));
        assert!(parse_reply(&reply[..40], &req).is_err(), "truncated");
        let mut lying = reply.clone();
        lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(
            parse_reply(&lying, &req).is_err(),
            "length beyond the buffer"
        );
    }
}
