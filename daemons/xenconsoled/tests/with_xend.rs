//! xenconsoled beside a real xend and qemu (root, hermetic, the boot
//! sector guest): the keys xend writes are dom0's with the domain reading
//! them, xenconsoled finds the device model's serial socket from its own
//! `--xend-run`, and what is typed on the pty comes back from the guest,
//! which echoes it.

mod common;

use std::path::Path;

use common::*;
use xvm_tests::{Accounts, Daemon, Error, Stack, check, require_program, require_root};

fn with_xend() -> Result<(), Error> {
    let s = Stack::start(
        "xcd-xend",
        Accounts::from_base(47_600),
        &xend::testguest::image(),
        &[],
    )?;
    let mut cmd = s.tree.command(Path::new(env!("CARGO_BIN_EXE_xenconsoled")));
    cmd.arg("--system");
    let xcd = Daemon::spawn("xenconsoled", cmd, &s.tree.base().join("xcd.log"))?
        .ready_when_logged("xenconsoled serving")?;
    s.tree.reap_at_end(xcd.pid());
    let r = s.alice(&["create", &s.test_cfg()])?;
    check(
        r.code == 0,
        format!("xm create: {}{}\n{}", r.out, r.err, s.xend_log()),
    )?;
    let domid: u32 = ck(
        s.alice(&["domid", "testguest"])?.out.trim().parse(),
        "xm domid",
    )?;
    let mut xs = ck(
        xenstored::client::Client::connect(&s.store_socket()),
        "store",
    )?;
    let base = format!("/local/domain/{domid}");
    let mut tty = String::new();
    wait_for("console/tty", || {
        tty = xs
            .read(0, &format!("{base}/console/tty"))
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        Ok(!tty.is_empty())
    })
    .map_err(|e| Error::Check(format!("{e}; xenconsoled:\n{}", xcd.log_text())))?;
    for (key, want) in [
        ("console/type", "xenconsoled"),
        ("console/limit", "1048576"),
        ("serial/0/tty", tty.as_str()),
    ] {
        let v = ck(xs.read(0, &format!("{base}/{key}")), key)?;
        check(
            v == want.as_bytes(),
            format!("{key} = {:?}", String::from_utf8_lossy(&v)),
        )?;
    }
    // dom0's, the domain reading: it cannot rewrite the key a console
    // client opens (the tty keys xenconsoled wrote inherit it).
    use xenstored::perms::Access;
    for node in ["console", "serial/0", "console/tty", "serial/0/tty"] {
        let p = ck(xs.get_perms(0, &format!("{base}/{node}")), node)?;
        let wire = String::from_utf8_lossy(&p.to_wire()).into_owned();
        check(
            p.owner_id() == 0 && p.allows(domid, Access::Read) && !p.allows(domid, Access::Write),
            format!("{node}: {wire:?}"),
        )?;
    }
    let mut t = open_tty(&tty)?;
    send(&mut t, b"echo through xenconsoled")?;
    read_tty(&mut t, b"echo through xenconsoled")?;
    Ok(())
}

#[test]
fn a_guest_started_by_xend_is_reached_through_its_pty() {
    let test = "a_guest_started_by_xend_is_reached_through_its_pty";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = with_xend() {
        panic!("{e}");
    }
}
