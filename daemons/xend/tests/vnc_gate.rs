//! xend's loopback VNC gate, on the whole system-mode stack (xenstored
//! and xend, root, hermetic), with the test guest under a real qemu:
//! - alice, who holds `virt_manage` by group alone, connects to the
//!   domain's VNC port on 127.0.0.1 and reads qemu's RFB banner through
//!   the gate; bob, who holds nothing, gets the connection closed with not
//!   one byte read;
//! - the listener is xend's: qemu has no TCP socket before a client came,
//!   and never a listening one;
//! - bob connecting, writing an RFB client version and closing before
//!   xend's accept (xend stopped meanwhile) is refused too, one audit
//!   event each, none granted (the kernel reports what is left of his
//!   socket with uid 0, and root holds `xvm_control`: taken as its owner,
//!   that let him in as root);
//! - the port is in the store (`console/vnc-listen`, `console/vnc-port`);
//!   a restarted xend opens it again for the domain it adopts; one that
//!   finds the port taken by bob while xend was down logs an error naming
//!   the address and bob's uid and removes both keys, so that no viewer is
//!   sent to bob's listener, and the domain runs on; the listener is gone
//!   once the domain is destroyed;
//! - by default (`--vnc-listen` loopback) a config asking for vnclisten
//!   0.0.0.0 is refused with one line naming the key and the svccfg
//!   command that allows it; with `--vnc-listen any` xend warns at start,
//!   and such a domain's VNC is open to bob too.
//!
//! The clients are bash's `/dev/tcp` run through `setpriv` as each user,
//! so the socket the gate looks up (sock_diag) is owned by that user.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use xvm_tests::hermetic::{User, set_mode};
use xvm_tests::procfs::process_of;
use xvm_tests::{Accounts, Error, Stack, check, require_program, require_root, wait_until};

const IDS: Accounts = Accounts::from_base(47_300);

/// `test.cfg` (the boot-sector guest with `vnc = 1`) with `extra` keys,
/// written as `base/NAME.cfg`; its path.
fn config(s: &Stack, name: &str, extra: &str) -> Result<String, Error> {
    let test = s.test_cfg();
    let text = std::fs::read_to_string(&test).map_err(Error::io("read", &test))?;
    let path = s.tree.base().join(format!("{name}.cfg"));
    std::fs::write(&path, format!("{text}{extra}")).map_err(Error::io("write", &path))?;
    set_mode(&path, 0o644)?;
    Ok(path.display().to_string())
}

/// What `who` reads from 127.0.0.1:`port` (at most the 12 bytes of an
/// RFB banner, at most 20 s): connected as that user, so the connecting
/// socket is theirs.
fn read_as(who: &User, port: u16) -> Result<Vec<u8>, Error> {
    let groups: Vec<String> = who.groups.iter().map(u32::to_string).collect();
    let o = Command::new("setpriv")
        .arg(format!("--reuid={}", who.uid))
        .arg(format!("--regid={}", who.uid))
        .arg(format!("--groups={}", groups.join(",")))
        .args([
            "bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/$0 || exit 3; exec timeout 20 head -c 12 <&3",
        ])
        .arg(port.to_string())
        .output()
        .map_err(|source| Error::Spawn {
            program: "setpriv bash".into(),
            source,
        })?;
    check(
        o.status.success(),
        format!(
            "the client as uid {}: {}: {}",
            who.uid,
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
    )?;
    Ok(o.stdout)
}

/// The TCP sockets of this network namespace, by inode: their state
/// (`0A` is LISTEN) and local address as /proc/net/tcp{,6} write them.
fn tcp_sockets() -> Result<BTreeMap<u64, (String, String)>, Error> {
    let mut v = BTreeMap::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(f).map_err(Error::io("read", f))?;
        for l in text.lines().skip(1) {
            let w: Vec<&str> = l.split_whitespace().collect();
            if let (Some(local), Some(st), Some(inode)) = (w.get(1), w.get(3), w.get(9))
                && let Ok(i) = inode.parse::<u64>()
            {
                v.insert(i, ((*st).to_string(), (*local).to_string()));
            }
        }
    }
    Ok(v)
}

/// The states of the TCP sockets (IPv4) whose remote address ends with
/// `hex_port` (`:PORT` in hexadecimal), time-wait ones included.
fn client_states(hex_port: &str) -> Result<Vec<String>, Error> {
    let f = "/proc/net/tcp";
    let text = std::fs::read_to_string(f).map_err(Error::io("read", f))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match (w.get(2), w.get(3)) {
                (Some(rem), Some(st)) if rem.ends_with(hex_port) => Some((*st).to_string()),
                _ => None,
            }
        })
        .collect())
}

/// The TCP sockets `pid` holds: (state, local address) of each.
fn tcp_of(pid: i32) -> Result<Vec<(String, String)>, Error> {
    let dir = format!("/proc/{pid}/fd");
    let tcp = tcp_sockets()?;
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(Error::io("read", &dir))? {
        let Ok(link) = e.and_then(|e| std::fs::read_link(e.path())) else {
            continue;
        };
        let l = link.to_string_lossy();
        if let Some(inode) = l
            .strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
            && let Some(s) = tcp.get(&inode)
        {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// The store key `console/KEY` of domain `domid`; `None` when it is not
/// there.
fn console_key(s: &Stack, domid: u32, key: &str) -> Result<Option<String>, Error> {
    let sock = s.store_socket();
    let mut xs = xenstored::client::Client::connect(&sock)
        .map_err(|e| Error::Check(format!("xenstored at {}: {e}", sock.display())))?;
    let p = format!("/local/domain/{domid}/console/{key}");
    match xs.read(0, &p) {
        Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
        Err(xenstored::client::ClientError::Xs(xenstored::wire::XsError::Enoent)) => Ok(None),
        Err(e) => Err(Error::Check(format!("{p}: {e}"))),
    }
}

/// `console/vnc-listen` and `console/vnc-port` of domain `domid`.
fn published(s: &Stack, domid: u32) -> Result<(String, u16), Error> {
    let read =
        |k: &str| console_key(s, domid, k)?.ok_or_else(|| Error::Check(format!("no console/{k}")));
    let listen = read("vnc-listen")?;
    let port = read("vnc-port")?;
    let port = port
        .parse()
        .map_err(|_| Error::Check(format!("console/vnc-port {port:?}")))?;
    Ok((listen, port))
}

fn domid_of(s: &Stack, name: &str) -> Result<u32, Error> {
    let r = s.alice(&["domid", name])?.ok("xm domid")?;
    r.out
        .trim()
        .parse()
        .map_err(|_| Error::Check(format!("xm domid: {:?}", r.out)))
}

/// alice reads the banner through the gate at `port`, bob reads nothing.
fn gate_holds(s: &Stack, port: u16) -> Result<(), Error> {
    let ids = s.accounts();
    let got = read_as(&ids.alice(), port)?;
    check(
        got == b"RFB 003.008\n",
        format!(
            "alice (virt_manage by group) read {:?}, not qemu's banner; xend log:\n{}",
            String::from_utf8_lossy(&got),
            s.xend_log()
        ),
    )?;
    let got = read_as(&ids.bob(), port)?;
    check(
        got.is_empty(),
        format!(
            "bob (no privilege) read {:?}: he must get not one byte",
            String::from_utf8_lossy(&got)
        ),
    )
}

/// Audit events in xend's log for connections to `endpoint`: (granted,
/// denied). Each connection the gate decides gets exactly one.
fn audits(s: &Stack, endpoint: &str) -> (usize, usize) {
    let log = s.xend_log();
    let of = |outcome: &str| {
        let field = format!("outcome={outcome}");
        log.lines()
            .filter(|l| l.contains("xvm::audit") && l.contains(endpoint) && l.contains(&field))
            .count()
    };
    (of("granted"), of("denied"))
}

/// How many times bob connects, writes and closes at once.
const HIT_AND_RUN: usize = 8;

/// bob connects to 127.0.0.1:`port` [`HIT_AND_RUN`] times, each time
/// writing an RFB client version and a few bytes, then closing at once,
/// all before xend accepts (it is stopped meanwhile, SIGSTOP, so that the
/// order does not depend on the scheduler). What is left of such a socket
/// is reported by the kernel with uid 0, which holds `xvm_control`: each
/// connection must still be refused (one audit event each, a denial) and
/// none granted, so none reaches qemu (only a granted one is handed over
/// by QMP).
fn hit_and_run_is_refused(s: &Stack, domid: u32, port: u16, qemu: i32) -> Result<(), Error> {
    let endpoint = format!("VNC of domain {domid} on 127.0.0.1:{port}");
    let (granted, denied) = audits(s, &endpoint);
    let bob = s.accounts().bob();
    let groups: Vec<String> = bob.groups.iter().map(u32::to_string).collect();
    let stopped = Stopped::new(s.xend.pid())?;
    let o = Command::new("setpriv")
        .arg(format!("--reuid={}", bob.uid))
        .arg(format!("--regid={}", bob.uid))
        .arg(format!("--groups={}", groups.join(",")))
        .args([
            "bash",
            "-c",
            "trap '' PIPE; for _ in $(seq $1); do exec 3<>/dev/tcp/127.0.0.1/$0 || exit 3; \
             printf 'RFB 003.008\\n\\001\\002\\003\\004' >&3 2>/dev/null; exec 3>&-; done",
        ])
        .arg(port.to_string())
        .arg(HIT_AND_RUN.to_string())
        .output()
        .map_err(|source| Error::Spawn {
            program: "setpriv bash".into(),
            source,
        })?;
    // Gone past FIN_WAIT1 (the kernel then keeps only a time-wait socket
    // of bob's), as a client would be that xend was slow to accept.
    let hex_port = format!(":{port:04X}");
    wait_until(Duration::from_secs(10), "bob's sockets to close", || {
        Ok(!client_states(&hex_port)?
            .iter()
            .any(|st| st == "01" || st == "04"))
    })?;
    stopped.resume()?;
    check(
        o.status.success(),
        format!(
            "bob's connections: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
    )?;
    wait_until(
        Duration::from_secs(20),
        "the gate to decide bob's closed connections",
        || {
            let (g, d) = audits(s, &endpoint);
            Ok(g + d >= granted + denied + HIT_AND_RUN)
        },
    )?;
    let (g, d) = audits(s, &endpoint);
    check(
        g == granted && d == denied + HIT_AND_RUN,
        format!(
            "bob's {HIT_AND_RUN} connections closed before the accept: {} granted, {} denied (must be 0 and {HIT_AND_RUN}); xend log:\n{}",
            g - granted,
            d - denied,
            s.xend_log()
        ),
    )?;
    let q = tcp_of(qemu)?;
    check(
        q.is_empty(),
        format!("qemu got a TCP client from bob: {q:?}"),
    )
}

/// Sends `sig` (`STOP`, `CONT`) to `pid` with kill(1).
fn signal(pid: i32, sig: &str) -> Result<(), Error> {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map_err(|source| Error::Spawn {
            program: "kill".into(),
            source,
        })?;
    check(st.success(), format!("kill -{sig} {pid}: {st}"))
}

/// A process stopped (SIGSTOP) until [`Stopped::resume`], or dropped.
struct Stopped(Option<i32>);

impl Stopped {
    fn new(pid: i32) -> Result<Stopped, Error> {
        signal(pid, "STOP")?;
        Ok(Stopped(Some(pid)))
    }

    fn resume(mut self) -> Result<(), Error> {
        match self.0.take() {
            Some(pid) => signal(pid, "CONT"),
            None => Ok(()),
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = signal(pid, "CONT");
        }
    }
}

/// bob's listener on 127.0.0.1:`port` (perl, as bob); killed when dropped.
struct Squatter(Child);

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// bob binds 127.0.0.1:`port` and listens there (SO_REUSEADDR, as xend
/// does, so the refused connections' TIME_WAIT does not stop him).
fn squat_as(who: &User, port: u16) -> Result<Squatter, Error> {
    let script = "use Socket; $| = 1; \
        socket(S, PF_INET, SOCK_STREAM, 0) or die \"socket: $!\"; \
        setsockopt(S, SOL_SOCKET, SO_REUSEADDR, 1) or die \"setsockopt: $!\"; \
        bind(S, pack_sockaddr_in($ARGV[0], inet_aton('127.0.0.1'))) or die \"bind: $!\"; \
        listen(S, 5) or die \"listen: $!\"; print \"listening\\n\"; sleep 600;";
    let mut child = Command::new("setpriv")
        .arg(format!("--reuid={}", who.uid))
        .arg(format!("--regid={}", who.uid))
        .arg("--clear-groups")
        .args(["perl", "-e", script])
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "setpriv perl".into(),
            source,
        })?;
    let out = child.stdout.take();
    let squatter = Squatter(child);
    let mut line = String::new();
    if let Some(out) = out {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    check(
        line == "listening\n",
        format!("bob could not listen on 127.0.0.1:{port}: {line:?}"),
    )?;
    Ok(squatter)
}

/// xend, killed, finds the port of the domain it adopts taken by bob when
/// it starts again: the domain runs on, an error names the address and
/// bob's uid, and the store no longer advertises the address.
fn squatted_on_adoption(s: &mut Stack, domid: u32, port: u16) -> Result<Squatter, Error> {
    s.xend.kill();
    let bob = s.accounts().bob();
    let squatter = squat_as(&bob, port)?;
    s.start_xend_again("xend-3.log", &[])?;
    let log = s.xend_log();
    let blame = format!("uid {} took 127.0.0.1:{port} while xend was down", bob.uid);
    check(
        log.lines().any(|l| {
            l.contains("ERROR") && l.contains(&blame) && l.contains("removed from the store")
        }),
        format!("no error naming 127.0.0.1:{port} and bob:\n{log}"),
    )?;
    for k in ["vnc-port", "vnc-listen"] {
        let v = console_key(s, domid, k)?;
        check(
            v.is_none(),
            format!("console/{k} is still {v:?}, though bob holds 127.0.0.1:{port}"),
        )?;
    }
    let list = s.alice(&["list"])?.ok("xm list")?;
    check(
        list.out.contains("testguest") && log.contains("domain adopted"),
        format!("the domain is not kept:\n{}\n{log}", list.out),
    )?;
    Ok(squatter)
}

fn the_gate(s: &mut Stack) -> Result<(), Error> {
    // By default only loopback: 0.0.0.0 is refused at create, one line.
    let open = config(s, "open", "vnclisten = '0.0.0.0'\n")?;
    let r = s.alice(&["create", &open])?;
    check(
        r.code != 0
            && r.err.contains("vnclisten 0.0.0.0: not a loopback address")
            && r.err
                .contains("svccfg -s svc:/system/xvm/xend:default setprop config/vnc-listen = any")
            && r.err.contains("restart xend")
            && r.err.trim_end().lines().count() == 1,
        format!(
            "xm create with vnclisten 0.0.0.0: {}\n{}{}",
            r.code, r.out, r.err
        ),
    )?;
    let list = s.alice(&["list"])?.ok("xm list")?;
    check(
        !list.out.contains("testguest"),
        format!("the refused domain runs:\n{}", list.out),
    )?;

    // Loopback, the port the kernel picks: found in the store.
    let cfg = config(s, "loopback", "vnclisten = '127.0.0.1:0'\n")?;
    s.alice(&["create", &cfg])?.ok("xm create")?;
    let domid = domid_of(s, "testguest")?;
    let qemu = process_of(s.accounts().dm_base + domid)?;
    let (listen, port) = published(s, domid)?;
    check(
        listen == "127.0.0.1" && port != 0,
        format!("console/vnc-listen {listen:?}, console/vnc-port {port}"),
    )?;
    // The listener is xend's; qemu has no TCP socket at all yet.
    let hex_port = format!(":{port:04X}");
    let xend_tcp = tcp_of(s.xend.pid())?;
    check(
        xend_tcp
            .iter()
            .any(|(st, local)| st == "0A" && local.ends_with(&hex_port)),
        format!("xend does not listen on port {port}: {xend_tcp:?}"),
    )?;
    let q = tcp_of(qemu)?;
    check(q.is_empty(), format!("qemu holds TCP sockets: {q:?}"))?;

    gate_holds(s, port)?;
    hit_and_run_is_refused(s, domid, port, qemu)?;
    // It held alice's connection (handed over), never a listener, and
    // lets it go once she has gone.
    let q = tcp_of(qemu)?;
    check(
        q.iter().all(|(st, _)| st != "0A"),
        format!("qemu listens on TCP: {q:?}"),
    )?;
    wait_until(
        Duration::from_secs(20),
        "qemu to close alice's connection",
        || Ok(tcp_of(qemu)?.is_empty()),
    )?;
    check(
        s.xend_log().contains("denied"),
        "bob's refusal is in the audit record",
    )?;

    // A restarted xend adopts the domain and opens its VNC again; now
    // with `--vnc-listen any`, which it warns of, and which leaves a
    // loopback listener gated.
    s.restart_xend("xend-2.log", &["--vnc-listen", "any"])?;
    check(
        s.xend_log().contains("--vnc-listen any: a domain's VNC"),
        format!("no warning of --vnc-listen any:\n{}", s.xend_log()),
    )?;
    let (_, port) = published(s, domid)?;
    gate_holds(s, port)?;

    // Gone with the domain.
    s.alice(&["destroy", "testguest"])?.ok("xm destroy")?;
    closed(port)?;

    // Beyond loopback, allowed now: open to all, bob too.
    let any = config(s, "any", "vnclisten = '0.0.0.0:0'\n")?;
    s.alice(&["create", &any])?
        .ok("xm create with vnclisten 0.0.0.0")?;
    let domid = domid_of(s, "testguest")?;
    let (listen, port) = published(s, domid)?;
    check(
        listen == "0.0.0.0",
        format!("console/vnc-listen {listen:?}"),
    )?;
    let got = read_as(&s.accounts().bob(), port)?;
    check(
        got == b"RFB 003.008\n",
        format!(
            "bob on an open address read {:?}",
            String::from_utf8_lossy(&got)
        ),
    )?;
    s.alice(&["destroy", "testguest"])?.ok("xm destroy")?;
    closed(port)?;

    // A fixed port (one free now), taken by bob while xend is down: the
    // adopted domain's keys are withdrawn from the store.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(Error::io("bind", "127.0.0.1:0"))?
        .port();
    let fixed = config(s, "fixed", &format!("vnclisten = '127.0.0.1:{free}'\n"))?;
    s.alice(&["create", &fixed])?
        .ok("xm create with a fixed VNC port")?;
    let domid = domid_of(s, "testguest")?;
    let (_, port) = published(s, domid)?;
    check(port == free, format!("console/vnc-port {port}, not {free}"))?;
    let squatter = squatted_on_adoption(s, domid, port)?;
    s.alice(&["destroy", "testguest"])?.ok("xm destroy")?;
    drop(squatter);
    closed(port)
}

/// Waits until nothing listens on 127.0.0.1:`port`.
fn closed(port: u16) -> Result<(), Error> {
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until(Duration::from_secs(20), "the VNC listener closed", || {
        Ok(TcpStream::connect_timeout(&at, Duration::from_secs(2)).is_err())
    })
}

#[test]
fn vnc_on_loopback_serves_virt_manage_alone_and_qemu_keeps_no_tcp_socket() {
    let test = "vnc_on_loopback_serves_virt_manage_alone_and_qemu_keeps_no_tcp_socket";
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(test, "bash", "bash")
        || !require_program(test, "perl", "perl-base")
    {
        return;
    }
    let mut s = match Stack::start("vnc-gate", IDS, &xend::testguest::image(), &[]) {
        Ok(s) => s,
        Err(e) => panic!("the stack did not start: {e}"),
    };
    let r = the_gate(&mut s);
    if let Err(e) = r {
        let _ = s.alice(&["destroy", "testguest"]);
        panic!("{e}\nxend log:\n{}", s.xend_log());
    }
}
