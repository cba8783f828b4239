//! kill -9 of xend (system mode, root, hermetic): the guest runs on and
//! answers on its serial port; a new xend adopts it, lists it, hands out
//! its VNC, and destroys it. A stack of its own: this test kills xend.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use xvm_tests::procfs::{process_of, runs};
use xvm_tests::stack::{read_banner, vnc_greeting};
use xvm_tests::{Accounts, Error, Stack, check, require_program, require_root};

const IDS: Accounts = Accounts::from_base(48_850);

#[test]
fn a_guest_outlives_a_killed_xend_and_the_next_xend_adopts_it() {
    let test = "a_guest_outlives_a_killed_xend_and_the_next_xend_adopts_it";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let r = (|| {
        let args = ["--shutdown-timeout", "2"];
        let mut s = Stack::start("adoption", IDS, &xend::testguest::image(), &args)?;
        let r = s.alice(&["create", &s.test_cfg()])?;
        check(
            r.code == 0 && r.out.contains("Started domain testguest (id=1)"),
            format!("xm create: {}{}\n{}", r.out, r.err, s.xend_log()),
        )?;
        let mut serial = read_banner(&s.domain_dir(1).join("serial"), xend::testguest::BANNER)?;
        let qemu = process_of(IDS.dm_base + 1)?;

        s.restart_xend("xend2.log", &args)?;
        check(runs(qemu), "qemu died with xend")?;
        serial
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(Error::io("timeout", "serial"))?;
        serial
            .write_all(b"echo?")
            .map_err(Error::io("write", "serial"))?;
        let mut buf = [0u8; 5];
        serial
            .read_exact(&mut buf)
            .map_err(Error::io("the guest's echo after xend died on", "serial"))?;
        check(&buf == b"echo?", format!("echo: {buf:?}"))?;
        check(
            s.xend_log().contains("domain adopted"),
            format!("not adopted: {}", s.xend_log()),
        )?;
        let r = s.alice(&["list"])?.ok("xm list")?;
        check(
            r.lists("testguest", "1"),
            format!("xm list after the restart:\n{}", r.out),
        )?;
        vnc_greeting(&s.domain_dir(1).join("vnc"))?;
        s.alice(&["destroy", "testguest"])?
            .ok("xm destroy of the adopted guest")?;
        check(
            !runs(qemu),
            "the adopted guest's qemu runs on after destroy",
        )
    })();
    if let Err(e) = r {
        panic!("{e}");
    }
}
