//! Live migration of the Linux guest between two hosts (two network
//! namespaces joined by a veth pair, each with its own stack): through
//! the relocation servers (`xm migrate --live`: xend hands each qemu's
//! stream to `xvm-relocd` as an fd, TLS 1.3 between the two servers)
//! against the same qemu command line (xend's qemu's, its fds replaced
//! by paths) started by root on both hosts, migrating directly over
//! plain TCP (`-incoming tcp:`, `migrate tcp:`). Rounds interleaved, each
//! a migration to the other host and the next one back; medians of what
//! the source qemu measured (`query-migrate`: total-time, and downtime,
//! the time the guest was stopped, as libvirt reports it), compared as
//! ratios in one run. Target: at most 1.1 for both.
//!
//! Run (as root): `cargo build --release --workspace --bins`, then
//! `cargo bench -p xvm-tests --bench relocation` (which refuses a daemon
//! or client binary older than its sources). `XVM_BENCH_ROUNDS` (default
//! 8: a downtime is a few ms, which one slow round moves) sets the rounds.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use xvm_tests::bins::fresh_bin;
use xvm_tests::console::kvm_boots_linux;
use xvm_tests::disks::qmp;
use xvm_tests::guest::{LINUX_PROMPT, linux};
use xvm_tests::hermetic::Accounts;
use xvm_tests::net::SerialShell;
use xvm_tests::procfs::{process_of, qemu_args_with_paths};
use xvm_tests::relocation::{HostPair, Hosts, linux_config};
use xvm_tests::{Error, Stack, check, wait_for_socket};

const IDS: Accounts = Accounts::from_base(51_000);
const NAME: &str = "benchvm";
/// The port root's destination qemu listens on.
const DIRECT_PORT: u16 = 8003;
const LIMIT: Duration = Duration::from_secs(300);
/// The pause before each migration: the last one's ends (a source qemu
/// quitting, a domain registered and resumed, its console taken over)
/// are done before the next is timed, whichever path either took.
const SETTLE: Duration = Duration::from_secs(1);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Root's qemu, killed when dropped.
struct RootQemu {
    child: Child,
    dir: PathBuf,
}

impl Drop for RootQemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Root's qemu `args` (and `extra`) in host `ns`, its sockets in `dir`.
fn root_qemu(ns: &str, dir: &Path, args: &[String], extra: &[String]) -> Result<RootQemu, Error> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let log = dir.join("qemu.log");
    let logf = std::fs::File::create(&log).map_err(Error::io("create", &log))?;
    let errf = logf.try_clone().map_err(Error::io("dup", &log))?;
    let child = HostPair::command(ns, xend::dm::QEMU)
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(errf)
        .spawn()
        .map_err(|source| Error::Spawn {
            program: xend::dm::QEMU.into(),
            source,
        })?;
    let q = RootQemu {
        child,
        dir: dir.to_path_buf(),
    };
    wait_for_socket(&dir.join("qmp"), Duration::from_secs(30)).map_err(|e| {
        Error::Check(format!(
            "{e}; qemu.log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    })?;
    Ok(q)
}

/// One direct migration from `from` to a fresh root qemu in `to_ns` at
/// `to_ip`: (total, downtime) in ms, and the new qemu.
fn direct(
    from: &RootQemu,
    to_ns: &str,
    to_ip: &str,
    dir: &Path,
    args: &[String],
) -> Result<((f64, f64), RootQemu), Error> {
    let uri = format!("tcp:{to_ip}:{DIRECT_PORT}");
    let to = root_qemu(to_ns, dir, args, &["-incoming".into(), uri.clone()])?;
    // qemu binds the incoming port after its QMP socket: wait for it
    // (a test connection would be taken for the stream).
    let port = format!(":{DIRECT_PORT} ");
    xvm_tests::wait_until(Duration::from_secs(30), "the incoming port", || {
        let o = HostPair::command(to_ns, "ss")
            .args(["-ltnH"])
            .output()
            .map_err(|source| Error::Spawn {
                program: "ss".into(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&o.stdout).contains(&port))
    })?;
    let sock = from.dir.join("qmp");
    let a = qmp(
        &sock,
        &[format!(
            "{{\"execute\":\"migrate\",\"arguments\":{{\"uri\":\"{uri}\"}}}}"
        )],
    )?;
    check(!a[0].contains("\"error\""), format!("migrate: {}", a[0]))?;
    let t = Instant::now();
    loop {
        let a = qmp(&sock, &["{\"execute\":\"query-migrate\"}".to_string()])?;
        let v: serde_json::Value =
            serde_json::from_str(&a[0]).map_err(|e| Error::Check(format!("{e}: {}", a[0])))?;
        let r = &v["return"];
        match r["status"].as_str() {
            Some("completed") => {
                let ms = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
                return Ok(((ms("total-time"), ms("downtime")), to));
            }
            Some("failed" | "cancelled") => {
                return Err(Error::Check(format!("direct migration: {r}")));
            }
            _ if t.elapsed() > LIMIT => return Err(Error::Check(format!("direct migration: {r}"))),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `xm migrate --live` from `from` to `to_ip`: (total, downtime) in ms
/// as xend reports its qemu's figures.
fn relocated(from: &Stack, to_ip: &str) -> Result<(f64, f64), Error> {
    let r = from
        .alice(&["migrate", "--live", NAME, to_ip])?
        .ok("xm migrate --live")?;
    // "... in T ms, downtime D ms"
    let num = |after: &str| {
        r.out
            .split(after)
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<f64>().ok())
    };
    match (num(" in "), num("downtime ")) {
        (Some(t), Some(d)) => Ok((t, d)),
        _ => Err(Error::Check(format!("xm migrate printed {:?}", r.out))),
    }
}

fn run() -> Result<(), Error> {
    let (ps, xs, xd, rd) = (
        "privlib/src",
        "daemons/xenstored/src",
        "daemons/xend/src",
        "daemons/relocd/src",
    );
    for (b, sources) in [
        ("xenstored", vec![ps, xs]),
        ("xend", vec![ps, xs, xd]),
        ("xm", vec![ps, xd, "clients/xm/src"]),
        ("xvm-relocd", vec![ps, xd, rd]),
        ("xenconsoled", vec![ps, xs, "daemons/xenconsoled/src"]),
    ] {
        fresh_bin(b, &sources)?;
    }
    let rounds = std::env::var("XVM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8usize)
        .max(1);
    let linux = linux()?;
    let kvm = kvm_boots_linux(&linux.kernel, &linux.initrd);
    let h = Hosts::new(
        "xrb",
        13,
        IDS,
        if kvm { "kvm" } else { "tcg" },
        &xend::testguest::image(),
    )?;
    let (a_ip, b_ip) = (h.pair.a_ip(), h.pair.b_ip());
    let cfg = linux_config(&h, &linux, NAME)?;
    h.a.alice_create(&cfg.display().to_string())?;
    let domid = h.a.domid(NAME)?;
    let qemu = process_of(h.dm_base(true) + domid)?;
    let log = h.a.console_log_dir().join(format!("guest-{NAME}.log"));

    // Root's pair: the same command line, the guest booted on a.
    let kernel = h.images.join(format!("{NAME}-vmlinuz"));
    let initrd = h.images.join(format!("{NAME}-initrd.gz"));
    let args = qemu_args_with_paths(qemu, &h.shared.join("rootq-0"), &kernel, &initrd)?;
    let dirs = [h.shared.join("rootq-a"), h.shared.join("rootq-b")];
    let fix = |args: &[String], dir: &Path| -> Vec<String> {
        args.iter()
            .map(|a| {
                a.replace(
                    &h.shared.join("rootq-0").display().to_string(),
                    &dir.display().to_string(),
                )
            })
            .collect()
    };
    let mut root = root_qemu(&h.pair.a, &dirs[0], &fix(&args, &dirs[0]), &[])?;
    let mut shell = SerialShell::connect(&dirs[0].join("serial"))?;
    let boot = Instant::now();
    shell.wait_for(0, LINUX_PROMPT, LIMIT)?;
    xvm_tests::wait_until(LIMIT, "xend's guest's prompt", || {
        Ok(std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(LINUX_PROMPT))
    })?;
    eprintln!("both booted {:.1} s later", boot.elapsed().as_secs_f64());

    let (mut xt, mut xd, mut rt, mut rdn) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut on_a, mut root_on_a) = (true, true);
    for r in 0..rounds {
        let x = |on_a: bool| {
            if on_a {
                relocated(&h.a, &b_ip)
            } else {
                relocated(&h.b, &a_ip)
            }
        };
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for ours in order {
            std::thread::sleep(SETTLE);
            if ours {
                let (t, d) = x(on_a)?;
                on_a = !on_a;
                xt.push(t);
                xd.push(d);
                eprintln!(
                    "round {}: relocation servers: {t} ms, downtime {d} ms",
                    r + 1
                );
            } else {
                let (to_ns, to_ip, dir) = if root_on_a {
                    (&h.pair.b, &b_ip, &dirs[1])
                } else {
                    (&h.pair.a, &a_ip, &dirs[0])
                };
                let ((t, d), next) = direct(&root, to_ns, to_ip, dir, &fix(&args, dir))?;
                root = next;
                root_on_a = !root_on_a;
                rt.push(t);
                rdn.push(d);
                eprintln!("round {}: direct TCP: {t} ms, downtime {d} ms", r + 1);
            }
        }
    }
    let (mxt, mxd, mrt, mrd) = (
        median(&mut xt),
        median(&mut xd),
        median(&mut rt),
        median(&mut rdn),
    );
    let accel = if kvm { "KVM" } else { "TCG" };
    println!(
        "live migration of a 128 MiB Linux guest under {accel}, {rounds} rounds each way, medians"
    );
    println!("{:<52} {:>10} {:>12}", "path", "total ms", "downtime ms");
    println!(
        "{:<52} {mxt:>10.0} {mxd:>12.0}",
        "xvm-relocd (TLS 1.3, fds from xend), unprivileged qemu"
    );
    println!(
        "{:<52} {mrt:>10.0} {mrd:>12.0}",
        "root's qemus, direct plain TCP"
    );
    println!(
        "{:<52} {:>10.3} {:>12.3}   (target <= 1.1)",
        "ratio relocation/direct",
        mxt / mrt,
        mxd / mrd
    );
    drop(root);
    Ok(())
}

fn main() {
    if !privlib::testing::is_root() {
        eprintln!("relocation bench: skipped: needs root");
        return;
    }
    if let Err(e) = run() {
        eprintln!("relocation bench: {e}");
        std::process::exit(1);
    }
}
