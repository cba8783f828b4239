//! virtd's wire, as a hostile or clumsy client meets it (root,
//! hermetic; no xend: the connection's procedures need none): virsh's
//! open sequence answered; a call before `CONNECT_OPEN`, a wrong
//! program, garbage XDR and an unknown procedure each get libvirt's
//! error and the connection goes on; a 17 MiB frame, a bad header and a
//! truncated frame close the connection and nobody else notices; the
//! `-ro` socket and a read-only open refuse a state-changing call; a
//! peer without `virt_manage` gets `ACCESS_DENIED` naming it, to its
//! first call's serial; a user's many idle connections do not keep a
//! privileged client out; virtd's memory stays bounded after floods;
//! and virtd runs as xvm with no capability and no new privileges.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use privlib::testing::{Attack, ChildFailure, Hostile, as_user};
use xvm_tests::procfs::{caps, runs, runs_as, status_field};
use xvm_tests::{Error, check, require_root};

/// `VIR_ERR_*` codes the tests expect.
const NO_SUPPORT: i32 = 3;
const INTERNAL: i32 = 1;
const OPERATION_DENIED: i32 = 29;
const RPC: i32 = 39;
const ACCESS_DENIED: i32 = 88;

/// A `remote_nonnull_domain` (for calls refused before they look).
fn dom_args(name: &str) -> Vec<u8> {
    let mut b = xdr_string(name);
    b.extend_from_slice(&[7u8; 16]);
    b.extend(words(&[u32::MAX]));
    b
}

fn vm_rss_kib(pid: i32) -> Result<u64, Error> {
    let v = status_field(pid, "VmRSS")?;
    ck(
        v.trim_end_matches("kB").trim().parse::<u64>(),
        &format!("VmRSS {v:?}"),
    )
}

fn proc_checks(f: &Fixture) -> Result<(), Error> {
    let pid = f.virtd.pid();
    let xvm = f.tree.accounts().xvm;
    check(
        runs_as(pid, xvm)?,
        format!("virtd's uids: {:?}", status_field(pid, "Uid")),
    )?;
    let gid = status_field(pid, "Gid")?;
    check(
        gid.split_whitespace().all(|g| g == xvm.to_string()),
        format!("virtd's gids: {gid:?}"),
    )?;
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = caps(pid, set)?;
        check(v == 0, format!("virtd's {set} is {v:#x}"))?;
    }
    let nnp = status_field(pid, "NoNewPrivs")?;
    check(nnp == "1", format!("virtd's NoNewPrivs {nnp:?}"))
}

fn open_sequence_and_errors(f: &Fixture) -> Result<(), Error> {
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    // Before CONNECT_OPEN: libvirt's "connection not open".
    let r = c.call(3, &[])?;
    let (code, msg) = r.error();
    check(
        code == INTERNAL && msg.contains("not open"),
        format!("GET_TYPE before open: {code} {msg:?}"),
    )?;
    c.open(0)?;
    let t = c.call(3, &[])?;
    check(
        t.string().as_deref() == Some("Xen"),
        format!("GET_TYPE: {t:?}"),
    )?;
    let u = c.call(110, &[])?;
    check(
        u.string().as_deref() == Some("xen:///system"),
        format!("GET_URI: {u:?}"),
    )?;
    // A keepalive PING gets its PONG.
    ck(c.send(&packet(KEEPALIVE, 1, MESSAGE, 0, &[])), "ping")?;
    let pong = ck(c.read(), "pong")?.ok_or_else(|| Error::Check("closed after a ping".into()))?;
    check(
        (pong.prog, pong.proc_, pong.kind) == (KEEPALIVE, 2, MESSAGE),
        format!("the answer to a ping: {pong:?}"),
    )?;
    // A wrong program: an RPC error, the connection kept.
    let r = c.call_prog(0x1234_5678, 1, &[])?;
    let (code, msg) = r.error();
    check(
        code == RPC && msg.contains("0x12345678"),
        format!("a wrong program: {code} {msg:?}"),
    )?;
    // Garbage XDR: an RPC error naming what did not decode.
    let r = c.call(60, &[0, 0])?;
    let (code, msg) = r.error();
    check(
        code == RPC && msg.contains("feature"),
        format!("garbage XDR: {code} {msg:?}"),
    )?;
    // An unknown procedure: NO_SUPPORT, as virsh expects of an old daemon.
    let r = c.call(5, &[])?;
    let (code, msg) = r.error();
    check(
        code == NO_SUPPORT && msg.contains("unknown procedure"),
        format!("procedure 5: {code} {msg:?}"),
    )?;
    let r = c.call(999_999, &[])?;
    check(
        r.error().0 == NO_SUPPORT,
        format!("procedure 999999: {r:?}"),
    )?;
    // Still served after all that.
    let h = c.call(59, &[])?;
    check(
        h.string().is_some_and(|s| !s.is_empty()),
        format!("GET_HOSTNAME: {h:?}"),
    )?;
    // The same call read-only: refused as libvirt refuses.
    let d = c.call(12, &dom_args("nosuch"))?;
    check(
        d.status == ERROR,
        format!("DOMAIN_DESTROY of nothing: {d:?}"),
    )?;
    check(
        d.error().0 != OPERATION_DENIED,
        format!("writable yet denied: {d:?}"),
    )
}

fn read_only(f: &Fixture) -> Result<(), Error> {
    // The -ro socket: lookups are fine, every change refused.
    let mut c = ck(Client::connect(&f.sock_ro()), "connect -ro")?;
    c.open(0)?;
    for (proc_, what) in [
        (9, "DOMAIN_CREATE"),
        (12, "DOMAIN_DESTROY"),
        (35, "DOMAIN_UNDEFINE"),
    ] {
        let r = c.call(proc_, &dom_args("web"))?;
        let (code, msg) = r.error();
        check(
            code == OPERATION_DENIED && msg.contains("read only") && msg.contains(what),
            format!("{what} on -ro: {code} {msg:?}"),
        )?;
    }
    let t = c.call(3, &[])?;
    check(
        t.string().as_deref() == Some("Xen"),
        format!("GET_TYPE on -ro: {t:?}"),
    )?;
    // VIR_CONNECT_RO on the read-write socket.
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    c.open(1)?;
    let r = c.call(9, &dom_args("web"))?;
    let (code, msg) = r.error();
    check(
        code == OPERATION_DENIED && msg.contains("read only"),
        format!("DOMAIN_CREATE opened read-only: {code} {msg:?}"),
    )
}

fn bad_frames(f: &Fixture) -> Result<(), Error> {
    // 17 MiB claimed: closed at once, nothing read or allocated.
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    ck(c.send(&words(&[17 << 20])), "a 17 MiB length")?;
    let _ = c.send(&[0u8; 4096]);
    check(closed(&mut c), "a 17 MiB frame left the connection open")?;
    // A length shorter than a header.
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    ck(c.send(&words(&[8, 0])), "a short length")?;
    check(closed(&mut c), "an 8-byte frame left the connection open")?;
    // A header with a type that means nothing.
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    ck(c.send(&packet(REMOTE, 66, 9, 1, &[])), "a bad type")?;
    check(
        closed(&mut c),
        "a packet of type 9 left the connection open",
    )?;
    // Truncated: half a packet, then the end of the stream.
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    let p = packet(REMOTE, 1, CALL, 1, &open_args("xen:///system", 0));
    ck(c.send(&p[..p.len() / 2]), "half a packet")?;
    ck(c.s.shutdown(std::net::Shutdown::Write), "shutdown")?;
    check(closed(&mut c), "a truncated frame was not closed")?;
    // virtd serves the next client.
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    c.open(0)?;
    check(runs(f.virtd.pid()), format!("virtd died:\n{}", f.log()))
}

fn stalled_mid_packet(f: &Fixture) -> Result<std::thread::JoinHandle<Result<(), String>>, Error> {
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    ck(c.send(&words(&[100, REMOTE])), "a packet begun")?;
    Ok(std::thread::spawn(move || {
        let t = Instant::now();
        c.s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        if !closed(&mut c) {
            return Err("a peer stalled mid-packet was not cut off in 60 s".into());
        }
        eprintln!(
            "a peer stalled mid-packet was cut off after {:?}",
            t.elapsed()
        );
        Ok(())
    }))
}

/// A client that asked for keepalive and then goes silent is pinged by
/// virtd (after 5 s), and kept once it answers.
fn pinged_when_silent(f: &Fixture) -> Result<std::thread::JoinHandle<Result<(), String>>, Error> {
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    c.open(0)?;
    Ok(std::thread::spawn(move || {
        let t = Instant::now();
        let ping = c.read().map_err(|e| e.to_string())?;
        match ping {
            Some(g) if (g.prog, g.proc_, g.kind) == (KEEPALIVE, 1, MESSAGE) => {}
            other => return Err(format!("a silent client got {other:?}, not a PING")),
        }
        eprintln!("virtd pinged a silent client after {:?}", t.elapsed());
        c.send(&packet(KEEPALIVE, 2, MESSAGE, 0, &[]))
            .map_err(|e| e.to_string())?;
        let t = c.call(3, &[]).map_err(|e| e.to_string())?;
        if t.string().as_deref() != Some("Xen") {
            return Err(format!("after the PONG: {t:?}"));
        }
        Ok(())
    }))
}

fn refused_and_served_users(f: &Fixture) -> Result<(), Error> {
    let a = f.tree.accounts();
    let bob = a.bob();
    let sock = f.sock();
    let r = as_user(bob.uid, &bob.groups, move || {
        let mut c = Client::connect(&sock)?;
        c.send(&packet(REMOTE, 66, CALL, 41, &[]))?;
        let got = c
            .read()?
            .ok_or_else(|| ChildFailure("closed with no answer".into()))?;
        let (code, msg) = got.error();
        if !(got.serial == 41
            && got.proc_ == 66
            && code == ACCESS_DENIED
            && msg.contains("virt_manage"))
        {
            return Err(ChildFailure(format!("bob got {got:?} ({code} {msg:?})")));
        }
        if !closed(&mut c) {
            return Err(ChildFailure("bob's connection stayed open".into()));
        }
        Ok(())
    });
    ck(r, "bob, without virt_manage")?;
    let alice = a.alice();
    let sock = f.sock();
    let r = as_user(alice.uid, &alice.groups, move || {
        let mut c = Client::connect(&sock)?;
        c.open(0).map_err(|e| ChildFailure(e.to_string()))?;
        let t = c.call(3, &[]).map_err(|e| ChildFailure(e.to_string()))?;
        if t.string().as_deref() != Some("Xen") {
            return Err(ChildFailure(format!("alice's GET_TYPE: {t:?}")));
        }
        Ok(())
    });
    ck(r, "alice, virt_manage by group")
}

fn idle_connections_keep_nobody_out(f: &Fixture) -> Result<(), Error> {
    let a = f.tree.accounts();
    // bob holds 200 silent connections and half-sent calls.
    let silent = ck(
        Hostile::start(a.bob, &f.sock(), Attack::Hold(200, b"")),
        "bob's idle",
    )?;
    let half = ck(
        Hostile::start(a.bob, &f.sock(), Attack::Hold(100, &words(&[64, REMOTE]))),
        "bob's half calls",
    )?;
    let t = Instant::now();
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    c.open(0)?;
    let alice = a.alice();
    let sock = f.sock();
    let r = as_user(alice.uid, &alice.groups, move || {
        let mut c = Client::connect(&sock)?;
        c.open(0).map_err(|e| ChildFailure(e.to_string()))
    });
    ck(r, "alice beside bob's idle connections")?;
    check(
        t.elapsed() < Duration::from_secs(5),
        format!("root and alice waited {:?} behind bob", t.elapsed()),
    )?;
    ck(silent.stop(), "stopping bob")?;
    ck(half.stop(), "stopping bob")
}

fn floods_leave_memory_bounded(f: &Fixture) -> Result<(), Error> {
    let pid = f.virtd.pid();
    let before = vm_rss_kib(pid)?;
    // Large calls (a MiB of garbage arguments each), many clients at once.
    let body = vec![0xffu8; (1 << 20) - 28];
    let big = packet(REMOTE, 1, CALL, 1, &body);
    let mut max = before;
    for _ in 0..4 {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (sock, big) = (f.sock(), big.clone());
                std::thread::spawn(move || -> Result<bool, String> {
                    let mut c = Client::connect(&sock).map_err(|e| e.to_string())?;
                    c.open(0).map_err(|e| e.to_string())?;
                    c.send(&big).map_err(|e| e.to_string())?;
                    let r = c.read().map_err(|e| e.to_string())?;
                    Ok(r.is_some_and(|g| g.error().0 == RPC))
                })
            })
            .collect();
        for t in threads {
            match t.join() {
                Ok(Ok(true)) => {}
                other => return Err(Error::Check(format!("a large garbage call: {other:?}"))),
            }
        }
        max = max.max(vm_rss_kib(pid)?);
    }
    // Claimed 17 MiB frames and connect-close floods.
    for _ in 0..300 {
        if let Ok(mut s) = UnixStream::connect(f.sock()) {
            let _ = s.write_all(&words(&[17 << 20, REMOTE, 1]));
        }
    }
    let after = vm_rss_kib(pid)?;
    max = max.max(after);
    eprintln!("virtd VmRSS: {before} kB before, at most {max} kB, {after} kB after the floods");
    check(
        max < before + 40 * 1024,
        format!("virtd's VmRSS grew from {before} kB to {max} kB"),
    )?;
    let mut c = ck(Client::connect(&f.sock()), "connect")?;
    c.open(0)
}

fn virsh_connects(f: &Fixture) -> Result<(), Error> {
    let alice = f.tree.accounts().alice();
    let uri = format!("xen+unix:///system?socket={}", f.sock().display());
    for (cmd, want) in [
        ("uri", "xen+unix:///system"),
        ("hostname", ""),
        ("nodeinfo", "CPU model:"),
        ("version", "Running hypervisor: Xen"),
    ] {
        let o = ck(
            std::process::Command::new("setpriv")
                .args(xvm_tests::console::setpriv_args(&alice))
                .args(["virsh", "-c", &uri, cmd])
                .env("HOME", "/nonexistent")
                .env_remove("LIBVIRT_DEFAULT_URI")
                .output(),
            "virsh",
        )?;
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        check(
            o.status.success() && out.contains(want) && !out.trim().is_empty(),
            format!("virsh {cmd}: {}\n{out}{err}\n{}", o.status, f.log()),
        )?;
    }
    Ok(())
}

#[test]
fn virtd_answers_every_bad_input_with_an_error_or_a_close_and_stays_bounded() {
    if !require_root("virtd_answers_every_bad_input_with_an_error_or_a_close_and_stays_bounded") {
        return;
    }
    let _g = xvm_tests::serial();
    let run = || -> Result<(), Error> {
        let f = Fixture::new("virtd-wire", 47_700)?;
        proc_checks(&f)?;
        let stalled = stalled_mid_packet(&f)?;
        let pinged = pinged_when_silent(&f)?;
        open_sequence_and_errors(&f)?;
        read_only(&f)?;
        bad_frames(&f)?;
        refused_and_served_users(&f)?;
        idle_connections_keep_nobody_out(&f)?;
        floods_leave_memory_bounded(&f)?;
        if xvm_tests::require_program(
            "virtd_answers_every_bad_input_with_an_error_or_a_close_and_stays_bounded",
            "virsh",
            "libvirt-clients",
        ) {
            virsh_connects(&f)?;
        }
        for t in [stalled, pinged] {
            match t.join() {
                Ok(Ok(())) => {}
                other => return Err(Error::Check(format!("{other:?}"))),
            }
        }
        proc_checks(&f)?;
        check(runs(f.virtd.pid()), format!("virtd died:\n{}", f.log()))
    };
    if let Err(e) = run() {
        panic!("{e}");
    }
}
