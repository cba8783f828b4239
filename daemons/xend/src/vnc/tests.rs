//! The port a domain's VNC gets, the addresses refused, and the gate's
//! decision on a real loopback connection (no root needed).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;

use privlib::Policy;

use super::{Admission, VncError, VncListen, admit, allowed, bind, listen_addr, listener_uid};
use crate::config;

fn cfg(extra: &str) -> config::DomainConfig {
    let text = format!("name = \"g\"\ntype = \"hvm\"\nmemory = 32\n{extra}");
    config::parse(Path::new("g.cfg"), &text).expect("config")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

#[test]
fn the_port_is_vnclistens_else_5900_plus_the_display_else_plus_the_domid() {
    let cases = [
        ("vnc = 0\n", 7, None),
        ("vnc = 1\n", 7, Some(addr("127.0.0.1:5907"))),
        ("vnc = 1\nvncdisplay = 3\n", 7, Some(addr("127.0.0.1:5903"))),
        (
            "vnc = 1\nvnclisten = '127.0.0.2'\nvncdisplay = 0\n",
            7,
            Some(addr("127.0.0.2:5900")),
        ),
        (
            "vnc = 1\nvnclisten = '127.0.0.1:6000'\nvncdisplay = 3\n",
            7,
            Some(addr("127.0.0.1:6000")),
        ),
        (
            "vnc = 1\nvnclisten = 'localhost'\n",
            12,
            Some(addr("127.0.0.1:5912")),
        ),
        (
            "vnc = 1\nvnclisten = '[::1]:5999'\n",
            1,
            Some(addr("[::1]:5999")),
        ),
        (
            "vnc = 1\nvnclisten = '[::1]'\n",
            2,
            Some(addr("[::1]:5902")),
        ),
        (
            "vnc = 1\nvnclisten = '0.0.0.0'\n",
            2,
            Some(addr("0.0.0.0:5902")),
        ),
        (
            "vnc = 1\nvnclisten = '127.0.0.1:0'\n",
            2,
            Some(addr("127.0.0.1:0")),
        ),
    ];
    for (text, domid, want) in cases {
        let got = listen_addr(&cfg(text), domid).expect(text);
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn a_domid_past_the_last_port_is_refused_naming_it() {
    let e = listen_addr(&cfg("vnc = 1\n"), 70_000).expect_err("no port");
    assert!(matches!(e, VncError::NoPort { display: 70_000 }), "{e:?}");
    assert!(e.to_string().contains("70000"), "{e}");
}

#[test]
fn loopback_is_allowed_and_any_other_address_only_with_any() {
    for a in ["127.0.0.1:5901", "127.3.4.5:1", "[::1]:5901"] {
        allowed(&addr(a), VncListen::Loopback).expect(a);
        allowed(&addr(a), VncListen::Any).expect(a);
    }
    for a in ["0.0.0.0:5901", "192.168.1.2:5901", "[::]:5901"] {
        allowed(&addr(a), VncListen::Any).expect(a);
        let e = allowed(&addr(a), VncListen::Loopback).expect_err(a);
        let line = e.to_string();
        let ip = addr(a).ip().to_string();
        assert!(
            line.starts_with(&format!("vnclisten {ip}: not a loopback address")),
            "{line}"
        );
        assert!(
            line.contains(
                "`svccfg -s svc:/system/xvm/xend:default setprop config/vnc-listen = any`, then restart xend"
            ),
            "{line}"
        );
        assert!(!line.contains('\n'), "one line: {line}");
    }
}

#[test]
fn a_port_in_use_is_a_clear_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = taken.local_addr().expect("addr");
    let e = bind(at).expect_err("in use");
    assert!(matches!(e, VncError::InUse { addr } if addr == at), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("VNC address {at} is in use")),
        "{e}"
    );
    // Free again: bound, and not blocking (an accept with nobody
    // waiting returns at once).
    drop(taken);
    let l = bind(at).expect("free");
    let err = l.accept().expect_err("nobody waits");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn an_address_that_is_not_ours_cannot_be_bound() {
    // TEST-NET-1 is nobody's address here.
    let at = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5901);
    let e = bind(at).expect_err("not ours");
    assert!(
        matches!(e, VncError::Bind { addr, .. } if addr == at),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("VNC address 192.0.2.1:5901: "),
        "{e}"
    );
}

fn me() -> u32 {
    privlib::procfs::read_cred(Path::new("/proc"), "self")
        .expect("self")
        .uid[1]
}

/// A connection from ourselves to a listener on `at`, as accepted.
fn accepted(at: SocketAddr) -> Option<(TcpStream, TcpStream)> {
    let l = TcpListener::bind(at).ok()?;
    let c = TcpStream::connect(l.local_addr().ok()?).ok()?;
    let (s, _) = l.accept().ok()?;
    Some((c, s))
}

#[test]
fn a_loopback_peer_is_granted_by_the_policy_for_its_owner_and_refused_otherwise() {
    let at = addr("127.0.0.1:0");
    let (_c, s) = accepted(at).expect("a loopback connection");
    let me = me();
    // The session policy grants its own user alone.
    assert_eq!(
        admit(&Policy::Session(me), &at, &s, "test vnc"),
        Admission::Granted { uid: me }
    );
    assert_eq!(
        admit(&Policy::Session(me.wrapping_add(1)), &at, &s, "test vnc"),
        Admission::Refused
    );
}

#[test]
fn a_listener_beyond_loopback_is_open_even_to_a_loopback_peer() {
    // Bound to every address: a peer through 127.0.0.1 is let in unasked
    // as one from elsewhere is (it could come through the host's other
    // addresses just as well).
    let at = addr("0.0.0.0:0");
    let (_c, s) = accepted(at).expect("a connection");
    assert_eq!(
        admit(&Policy::Session(me().wrapping_add(1)), &at, &s, "test vnc"),
        Admission::Open
    );
}

#[test]
fn an_account_less_uid_has_no_group() {
    // Far past any account a test machine has.
    let c = super::account_cred(3_999_999_999);
    assert_eq!((c.euid, c.egid), (3_999_999_999, u32::MAX));
    assert!(c.groups.is_empty());
}

/// The state of the TCP socket from `local` to `remote` as
/// `/proc/net/tcp` shows it (`01` is ESTABLISHED), if it is there.
fn tcp_state(local: SocketAddr, remote: SocketAddr) -> Option<String> {
    let hex = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_ne_bytes(v4.octets()), a.port()),
        IpAddr::V6(_) => String::new(),
    };
    let text = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    text.lines().skip(1).find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.get(1) == Some(&hex(local).as_str()) && w.get(2) == Some(&hex(remote).as_str()))
            .then(|| w.get(3).map(|s| (*s).to_string()))
            .flatten()
    })
}

#[test]
fn a_client_that_wrote_and_closed_before_the_accept_is_refused_even_where_root_is_granted() {
    // The kernel reports what is left of such a socket (TIME_WAIT, or
    // FIN_WAIT2 kept as one) with uid 0; root is granted here, so taking
    // that uid would let the closed client in as root.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = l.local_addr().expect("addr");
    let mut c = TcpStream::connect(at).expect("connect");
    let local = c.local_addr().expect("client addr");
    std::io::Write::write_all(&mut c, b"RFB 003.008\n\x01\x02\x03").expect("write");
    drop(c);
    // Gone past FIN_WAIT1 before the accept (bounded wait): the kernel
    // keeps only a time-wait socket of it, which it reports as uid 0.
    let open = |st: &Option<String>| matches!(st.as_deref(), Some("01" | "04"));
    let mut state = tcp_state(local, at);
    for _ in 0..500 {
        if !open(&state) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        state = tcp_state(local, at);
    }
    assert_ne!(
        state.as_deref(),
        Some("01"),
        "the client's socket is still open"
    );
    let (s, _) = l.accept().expect("accept");
    for policy in [Policy::Session(0), Policy::Session(me())] {
        assert_eq!(
            admit(&policy, &at, &s, "test vnc"),
            Admission::Refused,
            "a closed client under {policy:?} (its socket in state {state:?})"
        );
    }
}

#[test]
fn a_listeners_owner_is_found_and_an_address_nobody_listens_on_has_none() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = l.local_addr().expect("addr");
    assert_eq!(listener_uid(&at), Some(me()));
    drop(l);
    assert_eq!(listener_uid(&at), None);
    if let Ok(l6) = TcpListener::bind("[::1]:0") {
        let at6 = l6.local_addr().expect("addr");
        assert_eq!(listener_uid(&at6), Some(me()));
    }
}
