//! A domain's TCP serial on 127.0.0.1 (root, hermetic): a user holding
//! `virt_manage` (by group alone), connecting from a process running as
//! that user, reads the guest's output and types to it; a user holding
//! nothing gets one line and not one byte of the guest's; a client that
//! does not read holds up neither the guest nor the daemon.

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
    f.start_xcd("xcd.log", &["--rate-limit", "0"])?;
    f.wait_key(&format!("/local/domain/{DOMID}/console/tty"))?;
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
