//! A guest that prints without pause (root, hermetic): 100 MiB from the
//! stand-in device model as fast as it can, nobody reading the console.
//! xenconsoled's resident memory stays bounded (its buffer is
//! `console/limit`, the rest is discarded), and its logs stay within
//! `max-size * (backups + 1)`.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use xvm_tests::{Error, check, require_root};

const DOMID: u32 = 9;
const MIB: u64 = 1 << 20;

fn vm_rss_kib(pid: i32) -> Result<u64, Error> {
    let v = status_field(pid, "VmRSS")?;
    ck(
        v.trim_end_matches("kB").trim().parse::<u64>(),
        &format!("VmRSS {v:?}"),
    )
}

fn flood() -> Result<(), Error> {
    let mut f = Fixture::new("xcd-flood", 47_400)?;
    let listener = f.standin(DOMID)?;
    f.introduce(DOMID, "flood", None)?;
    let pid = f.start_xcd(
        "xcd.log",
        &[
            "--log",
            "guest",
            "--log-max-size",
            "1048576",
            "--log-max-backups",
            "2",
            "--rate-limit",
            "0",
        ],
    )?;
    f.wait_key(&format!("/local/domain/{DOMID}/console/tty"))?;
    let mut dm = accept(&listener)?;
    ck(
        dm.set_write_timeout(Some(Duration::from_secs(60))),
        "timeout",
    )?;
    let before = vm_rss_kib(pid)?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut chunk = vec![b'x'; 64 * 1024];
        chunk[64 * 1024 - 1] = b'\n';
        for _ in 0..1600 {
            dm.write_all(&chunk)?;
        }
        dm.write_all(b"END OF THE FLOOD\n")
    });
    let mut max = before;
    while !writer.is_finished() {
        max = max.max(vm_rss_kib(pid)?);
        std::thread::sleep(Duration::from_millis(20));
    }
    match writer.join() {
        Ok(r) => ck(r, "flooding the serial socket")?,
        Err(_) => return Err(Error::Check("the writer panicked".into())),
    }
    let dir = f.tree.root().join("var/log/xen/console");
    let log = dir.join("guest-flood.log");
    wait_for("the flood's end in the log", || {
        Ok(std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("END OF THE FLOOD"))
    })?;
    max = max.max(vm_rss_kib(pid)?);
    check(
        max < 32 * 1024,
        format!("VmRSS reached {max} kB (from {before} kB)"),
    )?;
    eprintln!("xenconsoled VmRSS: {before} kB before the flood, at most {max} kB during it");
    let files = sizes(&dir)?;
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    check(
        total <= 3 * MIB && files.iter().all(|(_, n)| *n <= MIB),
        format!("logs {files:?}"),
    )?;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    check(
        names == ["guest-flood.log", "guest-flood.log.1", "guest-flood.log.2"],
        format!("logs {names:?}"),
    )?;
    let log_text = f.xcd_log();
    check(
        log_text.matches("console buffer full").count() == 1,
        format!("one overflow report per burst:\n{log_text}"),
    )?;
    Ok(())
}

#[test]
fn a_guest_printing_100_mib_leaves_the_daemon_and_its_logs_bounded() {
    if !require_root("a_guest_printing_100_mib_leaves_the_daemon_and_its_logs_bounded") {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = flood() {
        panic!("{e}");
    }
}
