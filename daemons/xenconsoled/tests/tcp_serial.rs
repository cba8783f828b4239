//! A domain's TCP serial on 127.0.0.1 (root, hermetic): a user holding
//! `virt_manage` (by group alone), connecting from a process running as
//! that user, reads the guest's output and types to it; a user holding
//! nothing gets one line and not one byte of the guest's; a client that
//! does not read holds up neither the guest nor the daemon; a client that
//! wrote and closed before the accept is refused (no bytes to the guest);
//! a flood of refused connections holds up neither the pty nor a served
//! client; a port taken before the daemon binds it is reported in
//! `serial/0/tcp-state` and bound once it is free.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use privlib::testing::{ChildFailure, as_user};
use xvm_tests::{Error, check, require_root};

const DOMID: u32 = 11;

fn free_port() -> Result<u16, Error> {
    let l = ck(std::net::TcpListener::bind("127.0.0.1:0"), "bind")?;
    Ok(ck(l.local_addr(), "addr")?.port())
}

fn tcp() -> Result<(), Error> {
    let mut f = Fixture::new("xcd-tcp", 47_500)?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let listener = f.standin(DOMID)?;
    f.introduce(DOMID, "tcpguest", Some(&addr))?;
    let pid = f.start_xcd("xcd.log", &["--rate-limit", "0"])?;
    let tty = f.wait_key(&format!("/local/domain/{DOMID}/console/tty"))?;
    let state = f.wait_key(&format!("/local/domain/{DOMID}/serial/0/tcp-state"))?;
    check(state == "listening", format!("tcp-state {state:?}"))?;
    let mut dm = accept(&listener)?;
    check(
        f.xcd_log().contains(&format!("tcp=Some({addr})")),
        format!("not listening on {addr}:\n{}", f.xcd_log()),
    )?;
    let a = f.tree.accounts();

    // alice: served. The guest (this process's stand-in socket, which
    // the child inherits) prints until her client has the line.
    let guest = ck(dm.try_clone(), "dup")?;
    let alice = a.alice();
    let a_addr = addr.clone();
    let r = as_user(alice.uid, &alice.groups, move || {
        let mut guest = guest;
        let mut c = TcpStream::connect(&a_addr)?;
        c.set_read_timeout(Some(Duration::from_millis(200)))?;
        let t = Instant::now();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("for alice") {
            if t.elapsed() > LIMIT {
                return Err(ChildFailure(format!(
                    "alice read only {:?}",
                    String::from_utf8_lossy(&got)
                )));
            }
            guest.write_all(b"for alice\r\n")?;
            let mut buf = [0u8; 512];
            match c.read(&mut buf) {
                Ok(0) => return Err(ChildFailure(format!("closed after {got:?}"))),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        check_no_refusal(&got)?;
        c.write_all(b"typed by alice\n")?;
        Ok(())
    });
    ck(r, "alice's TCP serial client")?;
    read_until(&mut dm, || true, b"typed by alice\n")?;

    // bob: one line, then closed, with the guest printing all along.
    let guest = ck(dm.try_clone(), "dup")?;
    let bob = a.bob();
    let b_addr = addr.clone();
    let r = as_user(bob.uid, &bob.groups, move || {
        let mut guest = guest;
        guest.write_all(b"secret before\r\n")?;
        let mut c = TcpStream::connect(&b_addr)?;
        guest.write_all(b"secret after\r\n")?;
        c.set_read_timeout(Some(LIMIT))?;
        let mut got = Vec::new();
        c.read_to_end(&mut got)?;
        let text = String::from_utf8_lossy(&got);
        if !(text.starts_with("xenconsoled: refused: ")
            && text.ends_with('\n')
            && text.matches('\n').count() == 1
            && text.contains("virt_manage")
            && !text.contains("secret"))
        {
            return Err(ChildFailure(format!("bob got {text:?}")));
        }
        Ok(())
    });
    ck(r, "bob's TCP serial client")?;
    check(
        f.xcd_log().contains("xenconsoled: refused"),
        format!("no refusal logged:\n{}", f.xcd_log()),
    )?;

    let mut pty = open_tty(&tty)?;
    gone_before_the_accept(&mut f, pid, &addr, &mut dm, &mut pty)?;
    flood(&mut f, &addr, &mut dm, &mut pty)?;

    // alice again, never reading while the guest prints 32 MiB: the guest
    // is not held up (its last line reaches the log), and her client,
    // more than console/limit behind, is dropped (her read ends).
    let guest = ck(dm.try_clone(), "dup")?;
    let c_addr = addr.clone();
    let r = as_user(alice.uid, &alice.groups, move || {
        let mut guest = guest;
        let mut c = TcpStream::connect(&c_addr)?;
        // Served (not refused) before the flood: the first line arrives.
        c.set_read_timeout(Some(Duration::from_millis(200)))?;
        let t = Instant::now();
        let mut first = Vec::new();
        while !String::from_utf8_lossy(&first).contains("before the flood") {
            if t.elapsed() > LIMIT {
                return Err(ChildFailure(format!("got {first:?}")));
            }
            guest.write_all(b"before the flood\r\n")?;
            let mut buf = [0u8; 512];
            if let Ok(n) = c.read(&mut buf) {
                first.extend_from_slice(&buf[..n]);
            }
        }
        let chunk = [b'f'; 64 * 1024];
        for _ in 0..512 {
            guest.write_all(&chunk)?;
        }
        guest.write_all(b"\r\nthe flood is over\r\n")?;
        c.set_read_timeout(Some(LIMIT))?;
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .map_err(|e| ChildFailure(format!("not dropped: {e}")))?;
        Ok(())
    });
    ck(r, "a TCP client that does not read")?;
    wait_for("the dropped client in the log", || {
        Ok(f.xcd_log().contains("serial tcp client dropped"))
    })?;
    let log = f.tree.root().join("var/log/xen/console/guest-tcpguest.log");
    wait_for("the flood's end in the guest's log", || {
        Ok(std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("the flood is over"))
    })?;
    Ok(())
}

/// bob connects, types a command and closes while the daemon sleeps: by
/// the accept his socket is past ESTABLISHED, and sock_diag must not give
/// it an owner (a TIME_WAIT socket was once reported as uid 0's). The
/// device model never sees his bytes.
fn gone_before_the_accept(
    f: &mut Fixture,
    pid: i32,
    addr: &str,
    dm: &mut std::os::unix::net::UnixStream,
    pty: &mut std::fs::File,
) -> Result<(), Error> {
    let bob = f.tree.accounts().bob();
    let b_addr = addr.to_string();
    kill("-STOP", pid)?;
    let r = as_user(bob.uid, &bob.groups, move || {
        let mut c = TcpStream::connect(&b_addr)?;
        c.write_all(b"echo pwned\n")?;
        drop(c);
        std::thread::sleep(Duration::from_millis(50));
        Ok(())
    });
    kill("-CONT", pid)?;
    ck(r, "bob's client that closed before the accept")?;
    // Connections are accepted in order: once root's, made after bob's,
    // is served, bob's has been dealt with.
    let _root = served_root(addr, dm)?;
    send(pty, b"after bob\n")?;
    let got = read_until(dm, || true, b"after bob\n")?;
    check(
        !String::from_utf8_lossy(&got).contains("pwned"),
        format!("the device model got bob's bytes: {got:?}"),
    )
}

/// A TCP client of root's (xvm_control), once served: the guest prints
/// until it reads a line.
fn served_root(addr: &str, dm: &mut std::os::unix::net::UnixStream) -> Result<TcpStream, Error> {
    let mut root = ck(TcpStream::connect(addr), "root's client")?;
    ck(
        root.set_read_timeout(Some(Duration::from_millis(200))),
        "timeout",
    )?;
    let t = Instant::now();
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).contains("for root") {
        check(t.elapsed() < LIMIT, format!("root got {first:?}"))?;
        send(dm, b"for root\r\n")?;
        let mut buf = [0u8; 512];
        if let Ok(n) = root.read(&mut buf) {
            check(n > 0, "root's client closed")?;
            first.extend_from_slice(&buf[..n]);
        }
    }
    check(
        !String::from_utf8_lossy(&first).contains("refused"),
        "root was refused",
    )?;
    Ok(root)
}

/// bob connects again and again (each refused) while root (xvm_control)
/// is served on the same port and the pty is used: both keep working,
/// and none of bob's bytes reach the device model.
fn flood(
    f: &mut Fixture,
    addr: &str,
    dm: &mut std::os::unix::net::UnixStream,
    pty: &mut std::fs::File,
) -> Result<(), Error> {
    let mut root = served_root(addr, dm)?;

    let (mut release, child_release) = ck(std::os::unix::net::UnixStream::pair(), "socketpair")?;
    let (mut ready, child_ready) = ck(std::os::unix::net::UnixStream::pair(), "socketpair")?;
    let bob = f.tree.accounts().bob();
    let b_addr: std::net::SocketAddr = ck(addr.parse(), "addr")?;
    let attacker = std::thread::spawn(move || {
        as_user(bob.uid, &bob.groups, move || {
            let mut ready = child_ready;
            let release = child_release;
            release.set_nonblocking(true)?;
            let mut held = std::collections::VecDeque::new();
            let mut n = 0u32;
            loop {
                let mut b = [0u8; 1];
                match (&release).read(&mut b) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => break,
                }
                if let Ok(mut c) = TcpStream::connect_timeout(&b_addr, Duration::from_millis(100)) {
                    let _ = c.write_all(b"echo flood\n");
                    held.push_back(c);
                    if held.len() > 200 {
                        held.pop_front();
                    }
                    n += 1;
                    if n == 64 {
                        ready.write_all(b"r")?;
                    }
                }
            }
            // Every connection still held got the one line, then the end:
            // never a guest byte, never served.
            let mut refused = 0u32;
            for mut c in held {
                c.set_read_timeout(Some(LIMIT))?;
                let mut got = Vec::new();
                c.read_to_end(&mut got)?;
                let text = String::from_utf8_lossy(&got);
                if !(text.starts_with("xenconsoled: refused: ") && text.matches('\n').count() == 1)
                {
                    return Err(ChildFailure(format!("bob's flood client got {text:?}")));
                }
                refused += 1;
            }
            ready.write_all(&refused.to_le_bytes())?;
            Ok(())
        })
    });
    let mut b = [0u8; 1];
    ck(ready.set_read_timeout(Some(LIMIT)), "timeout")?;
    ck(ready.read_exact(&mut b), "the flood started")?;
    let mut from_dm = Vec::new();
    for i in 0..5 {
        let line = format!("during the flood {i}\r\n");
        send(dm, line.as_bytes())?;
        read_tty(pty, line.as_bytes())?;
        read_until(&mut root, || true, line.as_bytes())?;
        let typed = format!("root typed {i}\n");
        send(&mut root, typed.as_bytes())?;
        from_dm.extend(read_until(dm, || true, typed.as_bytes())?);
        let typed = format!("pty typed {i}\n");
        send(pty, typed.as_bytes())?;
        from_dm.extend(read_until(dm, || true, typed.as_bytes())?);
    }
    let _ = release.write_all(b"x");
    let r = attacker
        .join()
        .map_err(|_| Error::Check("the attacker thread panicked".into()))?;
    ck(r, "bob's flood")?;
    check(
        !String::from_utf8_lossy(&from_dm).contains("flood\n"),
        format!("the device model got bob's bytes: {from_dm:?}"),
    )?;
    let mut n = [0u8; 4];
    ck(ready.read_exact(&mut n), "bob's count of refusals")?;
    let refused = u32::from_le_bytes(n);
    check(
        refused >= 64,
        format!("only {refused} of bob's connections refused"),
    )
}

/// Someone listens on the domain's port before xenconsoled: the daemon
/// says so in the store and its log, and listens once the port is free.
fn squatted() -> Result<(), Error> {
    let mut f = Fixture::new("xcd-tcp-squat", 47_720)?;
    let squatter = ck(std::net::TcpListener::bind("127.0.0.1:0"), "bind")?;
    let addr = ck(squatter.local_addr(), "addr")?.to_string();
    let _listener = f.standin(DOMID)?;
    f.introduce(DOMID, "squatted", Some(&addr))?;
    f.start_xcd("xcd.log", &["--log", "all", "--rate-limit", "0"])?;
    let key = format!("/local/domain/{DOMID}/serial/0/tcp-state");
    let state = f.wait_key(&key)?;
    check(
        state == format!("refused: bind {addr}: address in use; trying again"),
        format!("{key} {state:?}"),
    )?;
    check(
        f.xcd_log().contains("ERROR") && f.xcd_log().contains("address in use"),
        format!("no error logged:\n{}", f.xcd_log()),
    )?;
    let hv = f.tree.root().join("var/log/xen/console/hypervisor.log");
    let hv = std::fs::read_to_string(&hv).map_err(Error::io("read", &hv))?;
    check(
        hv.contains(&format!("serial tcp refused: bind {addr}: address in use")),
        format!("hypervisor.log:\n{hv}"),
    )?;
    drop(squatter);
    wait_for("tcp-state listening once the port is free", || {
        Ok(f.wait_key(&key)? == "listening")
    })?;
    // The daemon's own listener now: root (xvm_control) is served.
    let mut c = ck(TcpStream::connect(&addr), "connect")?;
    ck(
        c.set_read_timeout(Some(Duration::from_millis(300))),
        "timeout",
    )?;
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(n) => check(n > 0, "closed at once: not served")?,
        Err(e) => check(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            format!("read: {e}"),
        )?,
    }
    check(
        !String::from_utf8_lossy(&buf).contains("refused"),
        "root refused",
    )
}

fn check_no_refusal(got: &[u8]) -> Result<(), ChildFailure> {
    if String::from_utf8_lossy(got).contains("refused") {
        return Err(ChildFailure("alice was refused".into()));
    }
    Ok(())
}

#[test]
fn tcp_serial_serves_a_virt_manage_user_refuses_others_before_any_byte_and_drops_a_client_that_does_not_read()
 {
    if !require_root(
        "tcp_serial_serves_a_virt_manage_user_refuses_others_before_any_byte_and_drops_a_client_that_does_not_read",
    ) {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = tcp() {
        panic!("{e}");
    }
}

#[test]
fn a_tcp_serial_port_taken_first_is_reported_in_the_store_and_bound_once_free() {
    if !require_root("a_tcp_serial_port_taken_first_is_reported_in_the_store_and_bound_once_free") {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = squatted() {
        panic!("{e}");
    }
}
