//! Guest-to-user console throughput and keystroke latency of the Linux
//! guest: through xenconsoled and the setuid xenconsole (`xm console` as
//! alice, on a pty the bench reads), against reading qemu's serial socket
//! directly as root. Both in one run, interleaved round by round (qemu
//! takes one client at a time: xenconsoled is stopped for each direct
//! round and started again after it), the same guest command each time:
//! `head -c N /dev/zero | tr '\0' x`. Medians compared; target: the
//! console at least 0.9 of the direct rate. Latency: a byte typed to its
//! echo by the guest's shell, median and 90th percentile.
//!
//! Run (as root): `cargo build --release --workspace --bins`, then
//! `cargo bench -p xvm-tests --bench console` (which builds only this
//! crate: it refuses a daemon or client binary older than its sources).
//! `XVM_BENCH_CONSOLE_BYTES` (default 400000: a TCG guest's UART gives
//! about 100 kB/s) and `XVM_BENCH_ROUNDS` (default 3) change the sizes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use xvm_tests::Error;
use xvm_tests::bins::fresh_bin;
use xvm_tests::console::{DETACH, Terminal, find};
use xvm_tests::guest::{LINUX_PROMPT, linux};
use xvm_tests::hermetic::Accounts;
use xvm_tests::stack::{ConsoleGuest, read_banner, token};

const IDS: Accounts = Accounts::from_base(47_300);
const KEYS: usize = 40;
const LIMIT: Duration = Duration::from_secs(300);

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The command that prints `n` bytes and then a marker; the marker.
fn flood(n: usize) -> (String, String) {
    let (sum, expr) = token();
    (
        format!("head -c {n} /dev/zero | tr '\\0' x; echo; echo xvm-end-{expr}\r"),
        format!("xvm-end-{sum}"),
    )
}

/// Reads `s` until `want` has come; how many bytes came.
fn read_until(s: &mut UnixStream, want: &[u8], limit: Duration) -> Result<usize, Error> {
    let t = Instant::now();
    let (mut tail, mut total) = (Vec::new(), 0);
    let mut buf = vec![0u8; 65536];
    while find(&tail, want).is_none() {
        if t.elapsed() > limit {
            return Err(Error::Check(format!(
                "no {:?} on the serial socket",
                String::from_utf8_lossy(want)
            )));
        }
        let n = s.read(&mut buf).map_err(Error::io("read", "serial"))?;
        if n == 0 {
            return Err(Error::Check("the serial socket closed".into()));
        }
        total += n;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(want.len() + 64);
        tail.drain(..keep);
    }
    Ok(total)
}

/// One direct round: bytes per second; and the latencies when asked.
fn direct(g: &ConsoleGuest, n: usize, keys: usize) -> Result<(f64, Vec<f64>), Error> {
    let sock = g.stack.domain_dir(g.domid).join("serial");
    // qemu listens again once the last client (xenconsoled) has gone.
    let mut s = loop {
        match UnixStream::connect(&sock) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let w = |s: &mut UnixStream, b: &[u8]| s.write_all(b).map_err(Error::io("write", "serial"));
    w(&mut s, b"\r")?;
    read_until(&mut s, LINUX_PROMPT.as_bytes(), LIMIT)?;
    let (cmd, end) = flood(n);
    let t = Instant::now();
    w(&mut s, cmd.as_bytes())?;
    read_until(&mut s, end.as_bytes(), LIMIT)?;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    read_until(&mut s, LINUX_PROMPT.as_bytes(), LIMIT)?;
    let mut lat = Vec::new();
    let mut one = [0u8; 1];
    for _ in 0..keys {
        let t = Instant::now();
        w(&mut s, b"a")?;
        loop {
            s.read_exact(&mut one)
                .map_err(Error::io("read", "serial"))?;
            if one[0] == b'a' {
                break;
            }
        }
        lat.push(t.elapsed().as_secs_f64());
    }
    // Ctrl-U: the typed line goes.
    w(&mut s, b"\x15\r")?;
    read_until(&mut s, LINUX_PROMPT.as_bytes(), LIMIT)?;
    Ok((rate, lat))
}

/// `xm console` as alice once xenconsoled has attached (it writes the
/// tty key soon after it serves).
fn attach(g: &ConsoleGuest) -> Result<Terminal, Error> {
    let mut last = None;
    for _ in 0..50 {
        let mut t = g.xm_console(&IDS.alice(), None)?;
        t.send(b"\r")?;
        match t.expect(LINUX_PROMPT.as_bytes(), Duration::from_secs(5)) {
            Ok(()) => return Ok(t),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last.unwrap_or_else(|| Error::Check("no console".into())))
}

/// One round through xenconsoled and xenconsole.
fn console(g: &mut ConsoleGuest, n: usize, keys: usize) -> Result<(f64, Vec<f64>), Error> {
    g.stack
        .start_xenconsoled("xenconsoled.log", &["--log=guest"])?;
    let mut t = attach(g)?;
    let (cmd, end) = flood(n);
    let start = Instant::now();
    t.send(cmd.as_bytes())?;
    t.expect(end.as_bytes(), LIMIT)?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    t.expect(LINUX_PROMPT.as_bytes(), LIMIT)?;
    let mut lat = Vec::new();
    for _ in 0..keys {
        let k = Instant::now();
        t.send(b"a")?;
        t.expect(b"a", LIMIT)?;
        lat.push(k.elapsed().as_secs_f64());
    }
    t.send(b"\x15\r")?;
    t.expect(LINUX_PROMPT.as_bytes(), LIMIT)?;
    t.send(&[DETACH])?;
    t.wait_exit(Duration::from_secs(10))?;
    if let Some(mut d) = g.stack.xenconsoled.take() {
        d.kill();
    }
    Ok((rate, lat))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() * 9 / 10).copied().unwrap_or(f64::NAN)
}

fn run() -> Result<(), Error> {
    // Each binary's crate and the workspace crates it links.
    let (ps, xs, xd) = ("privlib/src", "daemons/xenstored/src", "daemons/xend/src");
    for (b, sources) in [
        ("xenstored", [ps, xs, xs]),
        ("xend", [ps, xs, xd]),
        ("xenconsoled", [ps, xs, "daemons/xenconsoled/src"]),
        ("xenconsole", [ps, xs, "clients/xenconsole/src"]),
        ("xm", [ps, xd, "clients/xm/src"]),
    ] {
        fresh_bin(b, &sources)?;
    }
    let n = env_num("XVM_BENCH_CONSOLE_BYTES", 400_000);
    let rounds = env_num("XVM_BENCH_ROUNDS", 3).max(1);
    let linux = linux()?;
    let mut g = ConsoleGuest::create(
        "console-bench",
        IDS,
        &xend::testguest::image(),
        None,
        &linux,
    )?;
    let boot = Instant::now();
    drop(read_banner(
        &g.stack.domain_dir(g.domid).join("serial"),
        LINUX_PROMPT.as_bytes(),
    )?);
    eprintln!("booted in {:.1} s", boot.elapsed().as_secs_f64());
    let (mut d_rate, mut c_rate, mut d_lat, mut c_lat) = (vec![], vec![], vec![], vec![]);
    for r in 0..rounds {
        // The keystrokes once, in the last round.
        let keys = if r + 1 == rounds { KEYS } else { 0 };
        let (rate, lat) = direct(&g, n, keys)?;
        d_rate.push(rate);
        d_lat.extend(lat);
        let (rate, lat) = console(&mut g, n, keys)?;
        c_rate.push(rate);
        c_lat.extend(lat);
        eprintln!(
            "round {}: direct {:.1} kB/s, console {:.1} kB/s",
            r + 1,
            d_rate[r] / 1e3,
            c_rate[r] / 1e3
        );
    }
    let (dm, cm) = (median(&mut d_rate), median(&mut c_rate));
    let accel = if g.kvm { "KVM" } else { "TCG" };
    println!("console throughput: {n} bytes x {rounds} rounds, Linux guest under {accel}");
    println!("{:<44} {:>12}", "path", "median kB/s");
    println!(
        "{:<44} {:>12.1}",
        "qemu's serial socket, read directly",
        dm / 1e3
    );
    println!(
        "{:<44} {:>12.1}",
        "xenconsoled + setuid xenconsole (xm console)",
        cm / 1e3
    );
    println!(
        "{:<44} {:>12.3}   (target >= 0.9)",
        "ratio console/direct",
        cm / dm
    );
    println!("keystroke round trip ({KEYS} keys: typed byte to its echo)");
    println!("{:<44} {:>9} {:>9}", "path", "median ms", "p90 ms");
    for (name, v) in [("direct", &mut d_lat), ("console", &mut c_lat)] {
        println!(
            "{:<44} {:>9.2} {:>9.2}",
            name,
            median(v) * 1e3,
            p90(v) * 1e3
        );
    }
    Ok(())
}

fn main() {
    if !privlib::testing::is_root() {
        eprintln!("console bench: skipped: needs root");
        return;
    }
    if let Err(e) = run() {
        eprintln!("console bench: {e}");
        std::process::exit(1);
    }
}
