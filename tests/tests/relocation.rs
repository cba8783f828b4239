//! Relocation between two hosts (root, hermetic): each host is a network
//! namespace of its own with its own stack (xenstored, xend with the
//! relocation feature on, xenconsoled, and `xvm-relocd`), the two joined
//! by a veth pair whose addresses exist only inside them. The image
//! directory is shared, as on hosts with shared storage (the same paths
//! on both). Each host has a certificate from the test CA for its
//! address, and allows the other's.
//!
//! - Refusals: a source whose certificate comes from another CA, one
//!   whose certificate names a host the destination does not allow, a
//!   destination with another CA's certificate, one this host does not
//!   allow, and a peer with no certificate at all: each refused and
//!   audited by the side that refused, and the domain untouched (same
//!   qemu, running, in the store). Then the boot-sector guest migrates
//!   (paused first), and each `/proc` is checked.
//! - The Linux guest, printing a counter on its serial console, moves
//!   live from the first host to the second: `xm console` there shows the
//!   counter going on; on the first no qemu is left and the domain is
//!   gone from the store. Moved back at 1 Mbit/s, its destination's qemu
//!   is killed mid-stream: it keeps running where it was.

use std::process::Command;
use std::time::{Duration, Instant};

use xvm_tests::console::{Terminal, kvm_boots_linux};
use xvm_tests::features::{CapSets, check_xend_holds};
use xvm_tests::guest::{LINUX_PROMPT, LinuxGuest, require_linux_guest};
use xvm_tests::hermetic::set_mode;
use xvm_tests::procfs::{check_unprivileged_qemu, processes_of, runs_as};
use xvm_tests::relocation::{HostPair, counts, in_host};
use xvm_tests::stack::xs;
use xvm_tests::{
    Accounts, Daemon, Error, Stack, bin, check, require_program, require_root, serial, wait_until,
};

const REFUSE_IDS: Accounts = Accounts::from_base(49_000);
const LIVE_IDS: Accounts = Accounts::from_base(50_000);
use xvm_tests::relocation::{Hosts, PORT, linux_config};
const BOOT: Duration = Duration::from_secs(180);

fn runnable(test: &str) -> bool {
    require_root(test)
        && require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        && require_program(test, "ip", "iproute2")
        && require_program(test, "nsenter", "util-linux")
        && require_program(test, "openssl", "openssl")
        && require_program(test, "xenstore-read", "xenstore-utils")
}

/// A domain as one host runs it: its id and its qemu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Running {
    domid: u32,
    qemu: i32,
}

/// `name` on `stack`: its id and its one qemu (under `dm_base + id`).
fn running(stack: &Stack, name: &str, dm_base: u32) -> Result<Running, Error> {
    let domid = stack.domid(name)?;
    let procs = processes_of(dm_base + domid);
    check(
        procs.len() == 1,
        format!(
            "domain {name} ({domid}): processes {procs:?} under uid {}",
            dm_base + domid
        ),
    )?;
    Ok(Running {
        domid,
        qemu: procs[0],
    })
}

/// Whether the store has domain `domid`'s entries.
fn in_store(stack: &Stack, domid: u32) -> bool {
    xs(
        &stack.store_socket(),
        "xenstore-read",
        &[&format!("/local/domain/{domid}/name")],
    )
    .status
    .success()
}

/// The domain is as it was: the same qemu, running (`r-----`), in the
/// store.
fn untouched(
    stack: &Stack,
    name: &str,
    was: Running,
    dm_base: u32,
    what: &str,
) -> Result<(), Error> {
    let now = running(stack, name, dm_base)?;
    check(
        now == was,
        format!("{what}: {name} was {was:?}, is {now:?}"),
    )?;
    let list = stack.alice(&["list"])?.ok("xm list")?;
    check(
        list.out.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&name)
                && f.get(1) == Some(&was.domid.to_string().as_str())
                && f.get(4) == Some(&"r-----")
        }),
        format!("{what}: xm list:\n{}", list.out),
    )?;
    check(
        in_store(stack, was.domid),
        format!("{what}: {name} left the store"),
    )
}

/// `xm migrate ARGS` as alice on `stack`.
fn migrate(stack: &Stack, args: &[&str]) -> Result<xvm_tests::Xm, Error> {
    let mut all = vec!["migrate"];
    all.extend_from_slice(args);
    stack.alice(&all)
}

/// Waits until `daemon`'s log holds every one of `needles` on one line.
fn logged(daemon: &Daemon, needles: &[&str], what: &str) -> Result<(), Error> {
    wait_until(Duration::from_secs(10), what, || {
        Ok(daemon
            .log_text()
            .lines()
            .any(|l| needles.iter().all(|n| l.contains(n))))
    })
    .map_err(|_| {
        Error::Check(format!(
            "{what}: no line with {needles:?} in {}:\n{}",
            daemon.log_path().display(),
            daemon.log_text()
        ))
    })
}

/// A refused migration: `xm migrate` fails naming `why`, the refusing
/// server audits it, and the domain is untouched.
fn refused(
    h: &Hosts,
    was: Running,
    name: &str,
    refuser: &Daemon,
    audit: &str,
    why: &str,
    what: &str,
) -> Result<(), Error> {
    let r = migrate(&h.a, &[name, &h.pair.b_ip()])?;
    check(
        r.code != 0 && r.err.contains(why) && r.err.contains("still runs here"),
        format!(
            "{what}: xm migrate: exit {}\n{}{}\nrelocd a: {}\nrelocd b: {}",
            r.code,
            r.out,
            r.err,
            h.relocd_a.log_text(),
            h.relocd_b.log_text()
        ),
    )?;
    logged(refuser, &["xvm::audit", "outcome=denied", audit], what)?;
    untouched(&h.a, name, was, h.dm_base(true), what)?;
    check(
        !h.b.alice(&["list"])?.out.contains(name),
        format!("{what}: {name} is listed on the destination"),
    )
}

/// A relocation server runs as xvm with no capability at all.
fn check_relocd(d: &Daemon, xvm: u32) -> Result<(), Error> {
    check(runs_as(d.pid(), xvm)?, "xvm-relocd does not run as xvm")?;
    let c = CapSets::of(d.pid())?;
    check(
        c.permitted == 0
            && c.effective == 0
            && c.inheritable == 0
            && c.ambient == 0
            && c.bounding == 0,
        format!("xvm-relocd's capabilities: {c:?}"),
    )
}

/// xend holds what its features table declares (relocation needs
/// nothing of its own).
fn check_xend(stack: &Stack, when: &str) -> Result<(), Error> {
    let mut f = xend::features::Features::default();
    f.set(xend::features::Feature::Relocation, true);
    let keep = xend::privs::keep_set(true, true, &f)
        .map_err(|e| Error::Check(format!("xend's keep set: {e}")))?;
    let relocation_off = xend::privs::keep_set(true, true, &xend::features::Features::default())
        .map_err(|e| Error::Check(format!("xend's keep set: {e}")))?;
    check(
        keep == relocation_off,
        "the relocation feature takes a privilege",
    )?;
    check_xend_holds(stack.xend.pid(), keep.caps(privlib::last_cap()).0, when).map(drop)
}

#[test]
fn relocation_peers_without_a_valid_allowed_certificate_are_refused_and_audited_and_a_paused_domain_moves()
 {
    let test = "relocation_peers_without_a_valid_allowed_certificate_are_refused_and_audited_and_a_paused_domain_moves";
    if !runnable(test) {
        return;
    }
    let _g = serial();
    if let Err(e) = refusals() {
        panic!("{e}");
    }
}

fn refusals() -> Result<(), Error> {
    let mut h = Hosts::new("xrr", 11, REFUSE_IDS, "tcg", &xend::testguest::image())?;
    let (a_ip, b_ip) = (h.pair.a_ip(), h.pair.b_ip());
    let img = h.images.join("boot.img");
    std::fs::write(&img, xend::testguest::image()).map_err(Error::io("write", &img))?;
    h.a.tree.give_xvm(&img)?;
    let cfg = h.a.tree.base().join("boot.cfg");
    let text = format!(
        "name = \"bootguest\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\ndisk = [ '{},raw,hda,rw' ]\nserial = \"pty\"\n",
        img.display()
    );
    std::fs::write(&cfg, text).map_err(Error::io("write", &cfg))?;
    set_mode(&cfg, 0o644)?;
    h.a.alice_create(&cfg.display().to_string())?;
    let was = running(&h.a, "bootguest", h.dm_base(true))?;

    // A host that is none is refused before anything is asked of anyone.
    let r = migrate(&h.a, &["bootguest", "b;rm -rf"])?;
    check(
        r.code != 0 && r.err.contains("is no host"),
        format!("a bad host: {}{}", r.out, r.err),
    )?;

    // The source's certificate is from another CA: the destination's
    // handshake refuses it.
    let other = h.other_ca.issue("a-other", &[&format!("IP:{a_ip}")])?;
    let ca = h.ca.cert.clone();
    h.restart(true, "relocd-other-ca.log", &other, &ca, &[&b_ip])?;
    refused(
        &h,
        was,
        "bootguest",
        &h.relocd_b,
        "TLS handshake",
        "did not let this host in",
        "a source from another CA",
    )?;

    // From the CA, but for a host the destination does not allow.
    let stranger =
        h.ca.issue("a-stranger", &[&format!("IP:10.77.{}.9", h.pair.net)])?;
    h.restart(true, "relocd-stranger.log", &stranger, &ca, &[&b_ip])?;
    refused(
        &h,
        was,
        "bootguest",
        &h.relocd_b,
        "names none of the allowed hosts",
        "did not let this host in",
        "a source not allowed",
    )?;

    // The destination's certificate is from another CA: the source's
    // handshake refuses it.
    h.restore(1)?;
    let b_other = h.other_ca.issue("b-other", &[&format!("IP:{b_ip}")])?;
    h.restart(false, "relocd-other-ca.log", &b_other, &ca, &[&a_ip])?;
    refused(
        &h,
        was,
        "bootguest",
        &h.relocd_a,
        "TLS handshake",
        "TLS handshake",
        "a destination from another CA",
    )?;

    // From the CA and for its address, but not allowed by the source.
    h.restore(2)?;
    let a_cert = h.a_cert.clone();
    h.restart(
        true,
        "relocd-allow.log",
        &a_cert,
        &ca,
        &[&format!("10.77.{}.7", h.pair.net)],
    )?;
    refused(
        &h,
        was,
        "bootguest",
        &h.relocd_a,
        "names none of the allowed hosts",
        "names none of the allowed hosts",
        "a destination not allowed",
    )?;

    // No certificate at all: the destination refuses the handshake.
    h.restore(3)?;
    let o = HostPair::command(&h.pair.a, "openssl")
        .args([
            "s_client",
            "-connect",
            &format!("{b_ip}:{PORT}"),
            "-tls1_3",
            "-quiet",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: "openssl s_client".into(),
            source,
        })?;
    logged(
        &h.relocd_b,
        &["xvm::audit", "outcome=denied", "TLS handshake"],
        "a peer with no certificate",
    )?;
    check(
        !String::from_utf8_lossy(&o.stdout).contains("version"),
        "a peer with no certificate was welcomed",
    )?;
    untouched(
        &h.a,
        "bootguest",
        was,
        h.dm_base(true),
        "a peer with no certificate",
    )?;

    // A flood of idle connections, some with half a TLS hello, from the
    // source's address: the destination serves at most its share of them,
    // closes each when the handshake deadline passes, and then serves
    // the real source as before.
    flood(&h)?;

    // Allowed both ways: the domain moves (paused first, resumed there).
    let r = migrate(&h.a, &["bootguest", &b_ip])?.ok("xm migrate bootguest")?;
    check(
        r.out.contains("migrated to"),
        format!("xm migrate: {}", r.out),
    )?;
    logged(
        &h.relocd_b,
        &["xvm::audit", "outcome=granted", &a_ip],
        "the source granted",
    )?;
    logged(
        &h.relocd_a,
        &["xvm::audit", "outcome=granted", &b_ip],
        "the destination granted",
    )?;
    gone_from(&h.a, was, h.dm_base(true))?;
    let there = running(&h.b, "bootguest", h.dm_base(false))?;
    check_unprivileged_qemu(there.qemu, h.dm_base(false) + there.domid)?;
    check(
        in_store(&h.b, there.domid),
        "the destination's store lacks the domain",
    )?;
    let list = h.b.alice(&["list"])?.ok("xm list on b")?;
    check(
        list.out
            .lines()
            .any(|l| l.contains("bootguest") && l.contains("r-----")),
        format!("not running on b:\n{}", list.out),
    )?;
    for (s, d) in [(&h.a, &h.relocd_a), (&h.b, &h.relocd_b)] {
        check_xend(s, "after a migration")?;
        check_relocd(d, h.ids.xvm)?;
    }
    // No local relocation socket: neither relocd nor xend listens on any
    // unix socket but xend's own.
    for (ns, s, d) in [
        (&h.pair.a, &h.a, &h.relocd_a),
        (&h.pair.b, &h.b, &h.relocd_b),
    ] {
        let l = unix_listening(ns, d.pid())?;
        check(
            l.is_empty(),
            format!("xvm-relocd listens on unix sockets: {l:?}"),
        )?;
        let l = unix_listening(ns, s.xend.pid())?;
        check(
            l.len() == 1 && l[0].contains("xmlrpc.sock"),
            format!("xend's unix listeners: {l:?}"),
        )?;
    }
    Ok(())
}

/// Idle connections to b's relocation server from a's address.
fn flood(h: &Hosts) -> Result<(), Error> {
    use std::io::{Read as _, Write as _};
    const CONNECTIONS: usize = 400;
    let at: std::net::SocketAddr = format!("{}:{PORT}", h.pair.b_ip())
        .parse()
        .map_err(|_| Error::Check("b's address".into()))?;
    let conns = in_host(&h.pair.a, || {
        (0..CONNECTIONS)
            .filter_map(|i| {
                let mut c =
                    std::net::TcpStream::connect_timeout(&at, Duration::from_secs(5)).ok()?;
                if i % 2 == 0 {
                    // Half a ClientHello: a record header promising 512
                    // bytes, and 3 of them.
                    let _ = c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]);
                }
                Some(c)
            })
            .collect::<Vec<_>>()
    })?;
    check(
        conns.len() > 100,
        format!("only {} connections made", conns.len()),
    )?;
    let threads: u64 = xvm_tests::procfs::status_field(h.relocd_b.pid(), "Threads")?
        .parse()
        .map_err(|_| Error::Check("Threads".into()))?;
    check(
        threads <= (relocd::peer::MAX_PER_ADDRESS + 4) as u64,
        format!("xvm-relocd runs {threads} threads for one address's idle connections"),
    )?;
    let start = Instant::now();
    let mut open = conns;
    while !open.is_empty() && start.elapsed() < relocd::peer::HANDSHAKE_WITHIN * 3 {
        open.retain(|c| {
            let _ = c.set_read_timeout(Some(Duration::from_millis(1)));
            let mut b = [0u8; 64];
            let mut r = c;
            match r.read(&mut b) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            }
        });
        std::thread::sleep(Duration::from_millis(200));
    }
    check(
        open.is_empty(),
        format!(
            "{} idle connections still open after {:?}",
            open.len(),
            start.elapsed()
        ),
    )?;
    check(h.relocd_b.alive(), "xvm-relocd died of a flood")
}

/// The unix sockets `pid` listens on in namespace `ns`, as `ss` shows
/// them (a domain's qmp, serial and vnc sockets are qemu's).
fn unix_listening(ns: &str, pid: i32) -> Result<Vec<String>, Error> {
    let o = HostPair::command(ns, "ss")
        .args(["-xlpn"])
        .output()
        .map_err(|source| Error::Spawn {
            program: "ss".into(),
            source,
        })?;
    let me = format!("pid={pid},");
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(&me))
        .map(str::to_string)
        .collect())
}

/// The domain left `stack`: no process under its uid, out of the store.
fn gone_from(stack: &Stack, was: Running, dm_base: u32) -> Result<(), Error> {
    wait_until(Duration::from_secs(15), "the source's qemu to end", || {
        Ok(processes_of(dm_base + was.domid).is_empty())
    })?;
    check(
        !in_store(stack, was.domid),
        "the source's store still has the domain",
    )?;
    check(
        stack.domid("bootguest").is_err(),
        "the source still lists the domain",
    )
}

/// `xm console NAME` on `stack` as alice.
fn console(stack: &Stack, name: &str) -> Result<Terminal, Error> {
    Terminal::spawn(
        &stack.tree,
        &stack.accounts().alice(),
        &bin("xm")?,
        &["console", name],
        &[],
        None,
    )
}

/// Waits until the terminal shows a count above `above`; the highest.
fn count_above(
    t: &Terminal,
    above: Option<u64>,
    limit: Duration,
    what: &str,
) -> Result<u64, Error> {
    let start = Instant::now();
    loop {
        let out = t.output();
        if let Some(n) = counts(&out).into_iter().max()
            && above.is_none_or(|a| n > a)
        {
            return Ok(n);
        }
        if start.elapsed() > limit {
            return Err(Error::Check(format!(
                "{what}: no count above {above:?} within {} s; the console shows {:?}",
                limit.as_secs(),
                String::from_utf8_lossy(&out[out.len().saturating_sub(600)..])
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_linux_guest_moves_live_with_its_console_and_a_killed_destination_leaves_it_running() {
    let test =
        "a_linux_guest_moves_live_with_its_console_and_a_killed_destination_leaves_it_running";
    if !runnable(test) {
        return;
    }
    let Some(linux) = require_linux_guest(test) else {
        return;
    };
    let _g = serial();
    if let Err(e) = live(&linux) {
        panic!("{e}");
    }
}

fn live(linux: &LinuxGuest) -> Result<(), Error> {
    let accel = if kvm_boots_linux(&linux.kernel, &linux.initrd) {
        "kvm"
    } else {
        "tcg"
    };
    let h = Hosts::new("xrl", 12, LIVE_IDS, accel, &xend::testguest::image())?;
    let (a_ip, b_ip) = (h.pair.a_ip(), h.pair.b_ip());
    let name = "mover";
    let cfg = linux_config(&h, linux, name)?;
    h.a.alice_create(&cfg.display().to_string())?;
    let was = running(&h.a, name, h.dm_base(true))?;

    // The counter, started from the first host's console.
    let mut t = console(&h.a, name)?;
    t.send(b"\r")?;
    t.expect(LINUX_PROMPT.as_bytes(), BOOT)?;
    t.send(b"(i=0; while :; do echo xvm-count-$i; i=$((i+1)); sleep 1; done) &\r")?;
    let before = count_above(&t, Some(2), Duration::from_secs(60), "the counter on a")?;
    t.send(&[xvm_tests::console::DETACH])?;
    let _ = t.wait_exit(Duration::from_secs(10));

    let started = Instant::now();
    let r = migrate(&h.a, &["--live", name, &b_ip])?.ok("xm migrate --live")?;
    eprintln!(
        "live migration: {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        r.out.trim()
    );

    // On b: the counter goes on, in the console of b's stack.
    let there = running(&h.b, name, h.dm_base(false))?;
    check_unprivileged_qemu(there.qemu, h.dm_base(false) + there.domid)?;
    check(in_store(&h.b, there.domid), "b's store lacks the domain")?;
    let t = console(&h.b, name)?;
    let after = count_above(
        &t,
        Some(before),
        Duration::from_secs(60),
        "the counter on b",
    )?;
    drop(t);
    // On a: no qemu, and the domain out of the store and the list.
    wait_until(Duration::from_secs(15), "a's qemu to end", || {
        Ok(processes_of(h.dm_base(true) + was.domid).is_empty())
    })?;
    check(!in_store(&h.a, was.domid), "a's store still has the domain")?;
    check(h.a.domid(name).is_err(), "a still lists the domain")?;
    for (s, d) in [(&h.a, &h.relocd_a), (&h.b, &h.relocd_b)] {
        check_xend(s, "after a live migration")?;
        check_relocd(d, h.ids.xvm)?;
    }

    // Back to a, slowly; a's qemu killed mid-stream: it stays on b.
    let b_qemu = there;
    let a_base = h.dm_base(true);
    let b_stack = &h.b;
    let mover = std::thread::scope(|sc| {
        let m = sc.spawn(|| migrate(b_stack, &["--live", "-r", "1", name, &a_ip]));
        let killed = wait_until(Duration::from_secs(60), "a's arriving qemu", || {
            Ok((1..10).any(|d| !processes_of(a_base + d).is_empty()))
        })
        .and_then(|()| {
            // Some of the stream has gone in.
            std::thread::sleep(Duration::from_secs(3));
            let pids: Vec<i32> = (1..10).flat_map(|d| processes_of(a_base + d)).collect();
            for p in &pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .status();
            }
            check(!pids.is_empty(), "no arriving qemu to kill")
        });
        (killed, m.join())
    });
    let (killed, joined) = mover;
    killed?;
    let r = joined.map_err(|_| Error::Check("xm migrate panicked".into()))??;
    check(
        r.code != 0 && r.err.contains("still runs here"),
        format!("xm migrate back: exit {}\n{}{}", r.code, r.out, r.err),
    )?;
    untouched(&h.b, name, b_qemu, h.dm_base(false), "a killed destination")?;
    let t = console(&h.b, name)?;
    count_above(
        &t,
        Some(after),
        Duration::from_secs(60),
        "the counter on b after the failure",
    )?;
    wait_until(Duration::from_secs(15), "a's arriving domain to go", || {
        Ok((1..10).all(|d| processes_of(a_base + d).is_empty()))
    })?;
    check(h.a.domid(name).is_err(), "a lists the failed arrival")?;
    Ok(())
}
