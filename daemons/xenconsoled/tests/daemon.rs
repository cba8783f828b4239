//! xenconsoled as a daemon, hermetically (root): a real xenstored, the
//! test in xend's and the device model's places, and the checks a user
//! would make: the tty keys and the pty they name, bytes both ways, the
//! daemon's credentials, its log (and SIGHUP), a release, a restart.

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::Duration;

use common::*;
use xvm_tests::{Error, check, require_root};

const DOMID: u32 = 7;

fn tty_is_the_consoles(f: &mut Fixture, tty: &str) -> Result<(), Error> {
    check(tty.starts_with("/dev/pts/"), format!("console/tty {tty:?}"))?;
    let serial = f.wait_key(&format!("/local/domain/{DOMID}/serial/0/tty"))?;
    check(
        serial == tty,
        format!("serial/0/tty {serial:?}, console/tty {tty:?}"),
    )?;
    let m = std::fs::metadata(tty).map_err(Error::io("stat", std::path::Path::new(tty)))?;
    check(
        m.file_type().is_char_device(),
        format!("{tty} is no char device"),
    )?;
    check(
        privlib::os::tty::is_pty_slave_dev(m.rdev()),
        format!("{tty} is no pty slave"),
    )?;
    check(
        (m.uid(), m.gid(), m.mode() & 0o7777) == (f.xvm(), f.xvm(), 0o600),
        format!("{tty}: {}:{} {:o}", m.uid(), m.gid(), m.mode() & 0o7777),
    )
}

fn end_to_end() -> Result<(), Error> {
    let mut f = Fixture::new("xcd-daemon", 47_300)?;
    let listener = f.standin(DOMID)?;
    f.introduce(DOMID, "guest1", None)?;
    let pid = f.start_xcd("xcd.log", &["--log", "all", "--rate-limit", "0"])?;

    // The keys, and the pty they name: xvm's, 0600, raw.
    let tty = f.wait_key(&format!("/local/domain/{DOMID}/console/tty"))?;
    tty_is_the_consoles(&mut f, &tty)?;
    let mut dm = accept(&listener)?;
    let mut t = open_tty(&tty)?;
    let modes = ck(privlib::os::tty::get_modes(t.as_fd()), "tcgetattr")?;
    check(modes.is_raw(), format!("{tty} is not raw"))?;

    // Bytes both ways.
    send(&mut dm, b"XVM guest says hello\r\n")?;
    read_tty(&mut t, b"XVM guest says hello")?;
    send(&mut t, b"typed by a user\n")?;
    read_until(&mut dm, || true, b"typed by a user\n")?;

    // What the daemon holds: xvm, no capability at all, NoNewPrivs.
    let x = f.xvm().to_string();
    let uids = status_field(pid, "Uid")?;
    check(
        uids.split_whitespace().all(|u| u == x),
        format!("Uid {uids}"),
    )?;
    let gids = status_field(pid, "Gid")?;
    check(
        gids.split_whitespace().all(|g| g == x),
        format!("Gid {gids}"),
    )?;
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = status_field(pid, k)?;
        check(v == "0000000000000000", format!("{k} {v}"))?;
    }
    check(status_field(pid, "NoNewPrivs")? == "1", "NoNewPrivs")?;
    check(status_field(pid, "Threads")? == "1", "one thread")?;

    // The log holds the guest's bytes; xvm's, 0640.
    let dir = f.tree.root().join("var/log/xen/console");
    let log = dir.join("guest-guest1.log");
    wait_for("the guest's bytes in its log", || {
        Ok(std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("XVM guest says hello"))
    })?;
    let m = std::fs::metadata(&log).map_err(Error::io("stat", &log))?;
    check(
        (m.uid(), m.mode() & 0o777) == (f.xvm(), 0o640),
        format!("log {} {:o}", m.uid(), m.mode() & 0o777),
    )?;
    let hv = std::fs::read_to_string(dir.join("hypervisor.log")).unwrap_or_default();
    check(
        hv.contains("domain 7 (guest1) attached"),
        format!("hypervisor.log: {hv:?}"),
    )?;

    // SIGHUP: moved away, the log is made again.
    let moved = dir.join("moved.log");
    std::fs::rename(&log, &moved).map_err(Error::io("mv", &log))?;
    kill("-HUP", pid)?;
    wait_for("SIGHUP handled", || Ok(f.xcd_log().contains("SIGHUP")))?;
    send(&mut dm, b"after the HUP\r\n")?;
    read_tty(&mut t, b"after the HUP")?;
    wait_for("a new log after SIGHUP", || {
        Ok(std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("after the HUP"))
    })?;
    let old = std::fs::read_to_string(&moved).map_err(Error::io("read", &moved))?;
    check(
        !old.contains("after the HUP"),
        "the moved log was written after SIGHUP",
    )?;

    // A restart re-attaches and writes the keys again.
    drop(t);
    for k in ["console/tty", "serial/0/tty"] {
        ck(f.xs.rm(0, &format!("/local/domain/{DOMID}/{k}")), "rm")?;
    }
    if let Some(d) = f.xcd.as_mut() {
        d.kill();
    }
    let pid = f.start_xcd("xcd2.log", &["--log", "all", "--rate-limit", "0"])?;
    let tty = f.wait_key(&format!("/local/domain/{DOMID}/console/tty"))?;
    tty_is_the_consoles(&mut f, &tty)?;
    let mut dm = accept(&listener)?;
    let mut t = open_tty(&tty)?;
    send(&mut dm, b"after the restart\r\n")?;
    read_tty(&mut t, b"after the restart")?;

    // A release closes the pty (our end hangs up) and the serial socket.
    f.release(DOMID)?;
    wait_for("the pty closed", || {
        let mut fds = [privlib::os::poll::pollfd(
            std::os::fd::AsRawFd::as_raw_fd(&t),
            privlib::os::poll::POLLIN,
        )];
        let n = ck(privlib::os::poll::poll(&mut fds, 100), "poll")?;
        Ok(n > 0 && fds[0].revents & privlib::os::poll::POLLHUP != 0)
    })?;
    ck(dm.set_read_timeout(Some(Duration::from_secs(5))), "timeout")?;
    let mut rest = Vec::new();
    check(
        dm.read_to_end(&mut rest).is_ok(),
        "the serial connection did not end",
    )?;
    wait_for("the release in xenconsoled's log", || {
        Ok(f.xcd_log().contains("domain released: console closed"))
    })?;
    check(pid > 0 && xvm_tests::procfs::runs(pid), "xenconsoled ended")?;
    // SIGTERM ends it cleanly.
    if let Some(d) = f.xcd.as_mut() {
        kill("-TERM", pid)?;
        let code = d.wait_exit(LIMIT)?;
        check(code == Some(0), format!("exit {code:?}:\n{}", d.log_text()))?;
    }
    Ok(())
}

#[test]
fn a_domain_gets_a_pty_a_log_and_keeps_them_across_a_restart() {
    if !require_root("a_domain_gets_a_pty_a_log_and_keeps_them_across_a_restart") {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = end_to_end() {
        panic!("{e}");
    }
}
