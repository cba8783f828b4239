//! Host-to-guest TCP throughput of the Linux guest on a tap: through the
//! tap xend made and handed to its unprivileged qemu (`-netdev
//! tap,fd=N`), against the same qemu (the very command line xend gave,
//! with its fds replaced by paths) started by root with a tap of its own
//! (`-netdev tap,ifname=..,script=no,downscript=no`). Both guests on one
//! bridge in a network namespace of the bench's own (it runs itself
//! again inside a fresh one), both virtio-net, both running in one run;
//! rounds interleaved, medians compared; target: xend's at least 0.95 of
//! root's. Each round the host sends N bytes to `nc -l -p PORT >
//! /dev/null` in the guest and times connect to the guest's close
//! (everything delivered).
//!
//! Run (as root): `cargo build --release --workspace --bins`, then
//! `cargo bench -p xvm-tests --bench network` (which refuses a daemon
//! or client binary older than its sources). `XVM_BENCH_NET_BYTES`
//! (default 64 MiB) and `XVM_BENCH_ROUNDS` (default 3) change the sizes.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xvm_tests::bins::fresh_bin;
use xvm_tests::console::kvm_boots_linux;
use xvm_tests::guest::{LINUX_CMDLINE, linux};
use xvm_tests::hermetic::Accounts;
use xvm_tests::net::{
    BRIDGE, GUEST_IP, HOST_IP, PREFIX, SerialShell, bridge_with_host_address, check_on_bridge,
    in_netns, ip, linux_with_vif,
};
use xvm_tests::procfs::{process_of, qemu_args_with_paths};
use xvm_tests::stack::{GUEST, token};
use xvm_tests::{Error, Stack, check};

const IDS: Accounts = Accounts::from_base(42_300);
const NAME: &str = "network-bench";
/// The root qemu's guest and its tap.
const ROOT_IP: &str = "10.77.0.3";
const ROOT_TAP: &str = "xvmroot0";
const PORT: u16 = 5001;
const LIMIT: Duration = Duration::from_secs(300);

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One guest to send to: its address and its shell.
struct Target {
    what: &'static str,
    addr: &'static str,
    shell: SerialShell,
}

/// One round: `n` bytes to `t`'s `nc`; bytes per second.
fn round(t: &mut Target, n: usize) -> Result<f64, Error> {
    let (sum, expr) = token();
    let from = t.shell.text().len();
    t.shell.send(&format!(
        "nc -l -p {PORT} > /dev/null; echo xvm-nc-{expr}\r"
    ))?;
    let at = SocketAddr::new(
        t.addr
            .parse()
            .map_err(|_| Error::Check(format!("address {}", t.addr)))?,
        PORT,
    );
    // Until nc listens.
    let start = Instant::now();
    let mut s = loop {
        match TcpStream::connect_timeout(&at, Duration::from_secs(5)) {
            Ok(s) => break s,
            Err(e) if start.elapsed() > LIMIT => {
                return Err(Error::Check(format!("{}: connect {at}: {e}", t.what)));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let chunk = vec![b'x'; 256 * 1024];
    let t0 = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        s.write_all(&chunk[..k])
            .map_err(Error::io("send to", t.addr))?;
        left -= k;
    }
    s.shutdown(Shutdown::Write)
        .map_err(Error::io("shutdown", t.addr))?;
    // The guest's nc closes once it has read everything.
    s.set_read_timeout(Some(LIMIT))
        .map_err(Error::io("timeout", t.addr))?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .map_err(Error::io("read from", t.addr))?;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    t.shell.wait_for(from, &format!("xvm-nc-{sum}"), LIMIT)?;
    Ok(rate)
}

/// The root qemu's command line: xend's qemu's with its passed fds
/// replaced by paths ([`qemu_args_with_paths`]),
/// its tap by one qemu makes itself, another MAC and address.
fn root_qemu_args(
    pid: i32,
    dir: &Path,
    kernel: &Path,
    initrd: &Path,
) -> Result<Vec<String>, Error> {
    let args = qemu_args_with_paths(pid, dir, kernel, initrd)?;
    let mut out = Vec::new();
    let mut taps = 0;
    for a in args {
        let b = if let Some(rest) = a.strip_prefix("tap,id=net0,fd=") {
            check(rest.parse::<u32>().is_ok(), format!("xend's tap: {a}"))?;
            taps += 1;
            format!("tap,id=net0,ifname={ROOT_TAP},script=no,downscript=no")
        } else if a.starts_with("guest=") {
            a.replacen(&format!("guest={GUEST}"), "guest=rootguest", 1)
        } else if a.contains("netdev=net0,mac=") {
            // Another MAC on the same bridge: 52:54:00 (qemu's), not Xen's.
            let (head, tail) = a.split_once("mac=").unwrap_or((&a, ""));
            let rest = tail.split_once(',').map_or("", |(_, r)| r);
            format!("{head}mac=52:54:00:77:00:03,{rest}")
        } else {
            a.replace(
                &format!("xvm.ip={GUEST_IP}/"),
                &format!("xvm.ip={ROOT_IP}/"),
            )
        };
        out.push(b);
    }
    check(taps == 1, format!("xend's qemu had {taps} taps: {out:?}"))?;
    Ok(out)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Root's qemu, killed when dropped.
struct RootQemu(Child);

impl Drop for RootQemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run() -> Result<(), Error> {
    let (ps, xs, xd) = ("privlib/src", "daemons/xenstored/src", "daemons/xend/src");
    for (b, sources) in [
        ("xenstored", [ps, xs, xs]),
        ("xend", [ps, xs, xd]),
        ("xm", [ps, xd, "clients/xm/src"]),
    ] {
        fresh_bin(b, &sources)?;
    }
    let n = env_num("XVM_BENCH_NET_BYTES", 64 << 20);
    let rounds = env_num("XVM_BENCH_ROUNDS", 3).max(1);
    let linux = linux()?;
    bridge_with_host_address()?;
    let mut s = Stack::start(NAME, IDS, &xend::testguest::image(), &[])?;
    let kvm = kvm_boots_linux(&linux.kernel, &linux.initrd);
    if !kvm {
        s.restart_xend_under_tcg("xend-tcg.log", &[])?;
    }
    let images = s.root().join("var/lib/xend/storage");
    let cmdline = format!("{LINUX_CMDLINE} xvm.ip={GUEST_IP}/{PREFIX} xvm.gw={HOST_IP}");
    let vif = format!("bridge={BRIDGE},model=virtio-net");
    let cfg = linux_with_vif(&s.tree, &images, &linux, GUEST, 256, &cmdline, &vif)?;
    let r = s.alice(&["create", &cfg.display().to_string()])?;
    check(
        r.code == 0,
        format!("xm create: {}{}\n{}", r.out, r.err, s.xend_log()),
    )?;
    let d = s.alice(&["domid", GUEST])?.ok("xm domid")?;
    let domid: u32 = d
        .out
        .trim()
        .parse()
        .map_err(|_| Error::Check(format!("xm domid: {:?}", d.out)))?;
    let xend_shell = SerialShell::connect(&s.domain_dir(domid).join("serial"))?;
    check_on_bridge(&format!("vif{domid}.0"), BRIDGE)?;

    // The same qemu, as root, with its own tap on the same bridge.
    let qemu = process_of(IDS.dm_base + domid)?;
    let dir: PathBuf = s.tree.base().join("rootqemu");
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let args = root_qemu_args(qemu, &dir, &linux.kernel, &linux.initrd)?;
    let log = dir.join("qemu.log");
    let logf = std::fs::File::create(&log).map_err(Error::io("create", &log))?;
    let errf = logf.try_clone().map_err(Error::io("dup", &log))?;
    let child = Command::new(xend::dm::QEMU)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(errf)
        .spawn()
        .map_err(|source| Error::Spawn {
            program: xend::dm::QEMU.into(),
            source,
        })?;
    let _root = RootQemu(child);
    let serial = dir.join("serial");
    xvm_tests::wait_for_socket(&serial, Duration::from_secs(30)).map_err(|e| {
        Error::Check(format!(
            "{e}; qemu.log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    })?;
    let root_shell = SerialShell::connect(&serial)?;
    ip(&["link", "set", ROOT_TAP, "master", BRIDGE, "up"])?;

    let mut targets = [
        Target {
            what: "xend's tap, unprivileged qemu",
            addr: GUEST_IP,
            shell: xend_shell,
        },
        Target {
            what: "root's qemu, its own tap",
            addr: ROOT_IP,
            shell: root_shell,
        },
    ];
    let boot = Instant::now();
    for t in &mut targets {
        t.shell
            .wait_for(0, &format!("xvm-guest: eth0 {}", t.addr), LIMIT)?;
        t.shell.wait_prompt(LIMIT)?;
    }
    eprintln!("both booted {:.1} s later", boot.elapsed().as_secs_f64());
    let mut rates = [Vec::new(), Vec::new()];
    for r in 0..rounds {
        // Alternate which goes first.
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            rates[i].push(round(&mut targets[i], n)?);
        }
        eprintln!(
            "round {}: xend {:.1} MB/s, root {:.1} MB/s",
            r + 1,
            rates[0][r] / 1e6,
            rates[1][r] / 1e6
        );
    }
    let [mut x, mut root] = rates;
    let (xm, rm) = (median(&mut x), median(&mut root));
    let accel = if kvm { "KVM" } else { "TCG" };
    println!(
        "host-to-guest TCP: {n} bytes x {rounds} rounds, Linux guests under {accel}, virtio-net"
    );
    println!("{:<44} {:>12}", "path", "median MB/s");
    for (t, m) in targets.iter().zip([xm, rm]) {
        println!("{:<44} {:>12.1}", t.what, m / 1e6);
    }
    println!(
        "{:<44} {:>12.3}   (target >= 0.95)",
        "ratio xend/root",
        xm / rm
    );
    s.alice(&["destroy", GUEST])?.ok("xm destroy")?;
    Ok(())
}

fn main() {
    if !privlib::testing::is_root() {
        eprintln!("network bench: skipped: needs root");
        return;
    }
    const ME: &str = "network-bench";
    if !in_netns(ME) {
        // Again, in a network namespace of its own.
        let exe = std::env::current_exe().unwrap_or_default();
        let st = Command::new("unshare")
            .args(["--net", "--"])
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .env(xvm_tests::net::NETNS_ENV, ME)
            .status();
        match st {
            Ok(st) if st.success() => {}
            Ok(st) => std::process::exit(st.code().unwrap_or(1)),
            Err(e) => {
                eprintln!("network bench: unshare --net: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(e) = run() {
        eprintln!("network bench: {e}");
        std::process::exit(1);
    }
}
