//! A domid reused at once (root, hermetic): xend hands out the lowest free
//! domid, so a release and the next introduce of the same domid can land
//! in one rescan. xenconsoled must close the old domain's console and give
//! the new one its own: new tty keys, the new guest's output in the new
//! guest's log (never the old one's), the new domain's `serial/0/tcp`.
//! xenconsoled is stopped (SIGSTOP) across the release and the introduce,
//! so both events wait for one rescan.

mod common;

use common::*;
use xvm_tests::{Error, check, require_root};

const DOMID: u32 = 9;

fn reuse() -> Result<(), Error> {
    let mut f = Fixture::new("xcd-reuse", 47_740)?;
    let first = f.standin(DOMID)?;
    f.introduce(DOMID, "first", None)?;
    let pid = f.start_xcd("xcd.log", &["--log", "all", "--rate-limit", "0"])?;
    let tty_key = format!("/local/domain/{DOMID}/console/tty");
    f.wait_key(&tty_key)?;
    let mut dm1 = accept(&first)?;
    send(&mut dm1, b"the first guest\r\n")?;
    let logs = f.tree.root().join("var/log/xen/console");
    let log_of = |name: &str| {
        std::fs::read_to_string(logs.join(format!("guest-{name}.log"))).unwrap_or_default()
    };
    wait_for("the first guest's line in its log", || {
        Ok(log_of("first").contains("the first guest"))
    })?;

    // Released and the domid given to a new domain while the daemon
    // sleeps: it sees both at its next rescan.
    let l = ck(std::net::TcpListener::bind("127.0.0.1:0"), "bind")?;
    let addr = ck(l.local_addr(), "addr")?.to_string();
    drop(l);
    kill("-STOP", pid)?;
    let r = (|| {
        f.release(DOMID)?;
        let second = f.standin(DOMID)?;
        f.introduce(DOMID, "second", Some(&addr))?;
        Ok::<_, Error>(second)
    })();
    kill("-CONT", pid)?;
    let second = r?;

    let new_tty = f.wait_key(&tty_key)?;
    let serial_tty = f.wait_key(&format!("/local/domain/{DOMID}/serial/0/tty"))?;
    check(
        serial_tty == new_tty,
        format!("serial/0/tty {serial_tty:?}, console/tty {new_tty:?}"),
    )?;
    let mut dm2 = accept(&second)?;
    send(&mut dm2, b"the second guest\r\n")?;
    let mut t = open_tty(&new_tty)?;
    read_tty(&mut t, b"the second guest")?;
    wait_for("the second guest's line in its own log", || {
        Ok(log_of("second").contains("the second guest"))
    })?;
    check(
        !log_of("first").contains("the second guest"),
        "the second guest's output went to the first guest's log",
    )?;
    // The new domain's own serial/0/tcp is listened on.
    let state = f.wait_key(&format!("/local/domain/{DOMID}/serial/0/tcp-state"))?;
    check(
        state == "listening",
        format!("serial/0/tcp-state {state:?}:\n{}", f.xcd_log()),
    )?;
    check(
        std::net::TcpStream::connect(&addr).is_ok(),
        format!("nothing listens on {addr}"),
    )?;
    let hv = std::fs::read_to_string(logs.join("hypervisor.log")).unwrap_or_default();
    check(
        hv.contains("domid reused") && hv.contains("(second) attached"),
        format!("hypervisor.log:\n{hv}"),
    )
}

#[test]
fn a_domid_reused_between_two_rescans_gets_a_console_of_its_own() {
    if !require_root("a_domid_reused_between_two_rescans_gets_a_console_of_its_own") {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = reuse() {
        panic!("{e}");
    }
}
