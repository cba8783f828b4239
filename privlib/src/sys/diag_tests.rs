//! The sock_diag request and the checks on its reply, and a real lookup.

use super::*;

fn pair() -> (SocketAddr, SocketAddr) {
    (
        "127.0.0.1:4000".parse().expect("addr"),
        "127.0.0.1:5000".parse().expect("addr"),
    )
}

/// A well-formed answer to `req` saying uid `uid` owns the socket.
fn answer(req: &[u8; REQ_LEN], uid: u32) -> Vec<u8> {
    let mut reply = vec![0u8; 16 + 72];
    reply[0..4].copy_from_slice(&88u32.to_ne_bytes());
    reply[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    reply[8..12].copy_from_slice(&req[8..12]);
    reply[16] = req[16];
    reply[20..56].copy_from_slice(&req[24..60]);
    reply[17] = 1; // ESTABLISHED
    reply[16 + 64..16 + 68].copy_from_slice(&uid.to_ne_bytes());
    reply[16 + 68..16 + 72].copy_from_slice(&4242u32.to_ne_bytes());
    reply
}

/// An NLMSG_ERROR answer to `req` with `errno` (negative, as sent).
fn error(req: &[u8; REQ_LEN], errno: i32) -> Vec<u8> {
    let mut reply = vec![0u8; 36];
    reply[0..4].copy_from_slice(&36u32.to_ne_bytes());
    reply[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
    reply[8..12].copy_from_slice(&req[8..12]);
    reply[16..20].copy_from_slice(&errno.to_ne_bytes());
    reply[20..36].copy_from_slice(&req[0..16]);
    reply
}

#[test]
fn a_socket_no_one_holds_or_past_established_has_no_owner() {
    let (a, b) = pair();
    let req = request(a, b, 9).expect("req");
    // What the kernel says of a TIME_WAIT socket: uid 0, inode 0.
    let mut tw = answer(&req, 0);
    tw[17] = 6;
    tw[16 + 68..16 + 72].copy_from_slice(&0u32.to_ne_bytes());
    assert_eq!(parse_reply(&tw, &req).expect("parses"), None);
    // An orphan (closed by its process, still FIN_WAIT) keeps its uid but
    // has no inode; a half-closed one is past ESTABLISHED.
    let mut orphan = answer(&req, 1000);
    orphan[16 + 68..16 + 72].copy_from_slice(&0u32.to_ne_bytes());
    assert_eq!(parse_reply(&orphan, &req).expect("parses"), None);
    let mut fin = answer(&req, 1000);
    fin[17] = 4;
    assert_eq!(parse_reply(&fin, &req).expect("parses"), None);
}

#[test]
fn a_client_that_wrote_and_closed_before_the_accept_is_nobody() {
    use std::io::Write;
    let srv = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client =
        std::net::TcpStream::connect(srv.local_addr().expect("addr")).expect("connect");
    let src = client.local_addr().expect("addr");
    let dst = client.peer_addr().expect("addr");
    client.write_all(b"typed before the gate\n").expect("write");
    drop(client);
    // The server acknowledges the FIN at once on loopback: the client's
    // socket is an orphan, then TIME_WAIT (reported as uid 0).
    std::thread::sleep(Duration::from_millis(50));
    let (_conn, _) = srv.accept().expect("accept");
    assert_eq!(lookup(src, dst).expect("lookup"), None);
}

#[test]
fn a_reply_for_another_socket_is_refused() {
    let (a, b) = pair();
    let req = request(a, b, 7).expect("req");
    let good = answer(&req, 1234);
    assert_eq!(parse_reply(&good, &req).expect("parses"), Some(1234));
    let mut other = good.clone();
    other[20..22].copy_from_slice(&4001u16.to_be_bytes());
    assert!(parse_reply(&other, &req).is_err(), "another source port");
    let mut v6 = good.clone();
    v6[16] = u8::try_from(libc::AF_INET6).expect("family");
    assert!(parse_reply(&v6, &req).is_err(), "another family");
    assert!(parse_reply(&good[..40], &req).is_err(), "truncated");
    let mut lying = good.clone();
    lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
    assert!(
        parse_reply(&lying, &req).is_err(),
        "length beyond the buffer"
    );
}

#[test]
fn a_reply_to_another_request_is_refused() {
    let (a, b) = pair();
    let req = request(a, b, 7).expect("req");
    let mut stale = answer(&req, 1234);
    stale[8..12].copy_from_slice(&6u32.to_ne_bytes());
    let e = parse_reply(&stale, &req).expect_err("other seq");
    assert_eq!(
        e.to_string(),
        "sock_diag reply: answers another request (sequence number)"
    );
    // Errors: ENOENT is "no such socket"; others are errors; the
    // echoed request must be ours.
    assert_eq!(
        parse_reply(&error(&req, -libc::ENOENT), &req).expect("enoent"),
        None
    );
    let e = parse_reply(&error(&req, -libc::EPERM), &req).expect_err("eperm");
    assert!(matches!(e, DiagError::Kernel(ref s) if s.raw_os_error() == Some(libc::EPERM)));
    assert!(
        parse_reply(&error(&req, 0), &req).is_err(),
        "an ack is no answer"
    );
    let mut theirs = error(&req, -libc::ENOENT);
    theirs[20 + 8..20 + 12].copy_from_slice(&99u32.to_ne_bytes());
    assert!(
        parse_reply(&theirs, &req).is_err(),
        "error echoes another request"
    );
    let mut short = error(&req, -libc::ENOENT);
    short.truncate(20);
    short[0..4].copy_from_slice(&20u32.to_ne_bytes());
    assert!(parse_reply(&short, &req).is_err(), "error without the echo");
}

#[test]
fn a_failed_setsockopt_is_an_error() {
    // Not a socket: setsockopt fails, and says so.
    let f = std::fs::File::open("/proc/self/status").expect("file");
    let e = set_recv_timeout(f.as_fd(), ANSWER_WITHIN).expect_err("ENOTSOCK");
    assert!(
        matches!(e, DiagError::SetTimeout(ref s) if s.raw_os_error() == Some(libc::ENOTSOCK)),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("sock_diag: setting the receive timeout: "),
        "{e}"
    );
}

#[test]
fn only_the_kernel_is_a_sender() {
    let kernel = kernel_addr();
    assert!(from_kernel(&kernel, NL_ADDR_LEN));
    let mut process = kernel_addr();
    process.nl_pid = 4242;
    assert!(!from_kernel(&process, NL_ADDR_LEN), "a process's port");
    let mut multicast = kernel_addr();
    multicast.nl_groups = 1;
    assert!(!from_kernel(&multicast, NL_ADDR_LEN), "a multicast group");
    let mut inet = kernel_addr();
    inet.nl_family = 2;
    assert!(!from_kernel(&inet, NL_ADDR_LEN), "not netlink");
    assert!(!from_kernel(&kernel, 4), "short address");
}

/// A bound netlink socket's port id.
fn port_of(sock: BorrowedFd<'_>) -> u32 {
    let mut me = kernel_addr();
    // Port 0 in bind: the kernel picks one.
    // SAFETY: `me` is a live sockaddr_nl and its size is passed.
    check(unsafe { libc::bind(sock.as_raw_fd(), (&raw const me).cast(), NL_ADDR_LEN) })
        .expect("bind");
    let mut len = NL_ADDR_LEN;
    // SAFETY: `me` and `len` are live; `len` holds the size of `me`.
    check(unsafe { libc::getsockname(sock.as_raw_fd(), (&raw mut me).cast(), &raw mut len) })
        .expect("getsockname");
    me.nl_pid
}

/// Another process on the host (here: another socket of ours) sends a
/// perfect answer, claiming uid 0, to the lookup socket's port before
/// the kernel can: it is not believed.
#[test]
fn a_forged_answer_from_a_process_is_not_believed() {
    let (a, b) = pair();
    let req = request(a, b, next_seq()).expect("req");
    let forged = answer(&req, 0);
    let victim = open_socket(Duration::from_millis(200)).expect("socket");
    let port = port_of(victim.as_fd());
    let forger = open_socket(Duration::from_millis(200)).expect("socket");
    match send_to_port(forger.as_fd(), port, &forged) {
        Ok(_) => {}
        // Without CAP_NET_ADMIN the kernel carries no unicast between
        // processes in this family: there is no forger to play.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && !crate::testing::is_root() => {
            xvm_tests::require_root(
                "a_forged_answer_from_a_process_is_not_believed (forging needs CAP_NET_ADMIN)",
            );
            return;
        }
        Err(e) => panic!("unicast to an unconnected socket: {e}"),
    }
    let e = receive(victim.as_fd(), &req, Duration::from_millis(200))
        .expect_err("the forged answer must not count");
    assert!(matches!(e, DiagError::NoAnswer { ignored: 1, .. }), "{e}");
    // Connected to the kernel (as lookup does), the socket does not
    // even receive such a datagram: the kernel refuses the sender.
    connect_kernel(victim.as_fd()).expect("connect");
    let e = send_to_port(forger.as_fd(), port, &forged).expect_err("refused");
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
}

#[test]
fn a_loopback_connection_is_found_and_a_closed_one_is_not() {
    let srv = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = std::net::TcpStream::connect(srv.local_addr().expect("addr")).expect("connect");
    let (_conn, _) = srv.accept().expect("accept");
    let src = client.local_addr().expect("addr");
    let dst = client.peer_addr().expect("addr");
    let me = crate::procfs::read_cred(std::path::Path::new("/proc"), "self").expect("self");
    assert_eq!(lookup(src, dst).expect("lookup"), Some(me.uid[1]));
    // Two lookups, two sequence numbers: each answer is for its own.
    assert_eq!(lookup(src, dst).expect("again"), Some(me.uid[1]));
    let nobody: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    assert_eq!(lookup(nobody, dst).expect("no such socket"), None);
    let v6: SocketAddr = "[::1]:1".parse().expect("addr");
    assert!(matches!(
        lookup(v6, dst),
        Err(DiagError::MixedFamilies { .. })
    ));
}
