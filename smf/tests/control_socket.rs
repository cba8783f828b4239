//! svc-startd's control socket against hostile local users (root,
//! hermetic: own /etc/passwd and /etc/group, own tmpfs as XVM_ROOT).
//!
//! - While a user with no group and no privilege holds 2,000 connections
//!   (and keeps opening new ones), root's `svcs -a` is served within 1 s,
//!   every time, without waiting for the attacker to let go.
//! - While privileged clients hold connections with half a request line
//!   (root, and a `virt_manage` user with more idle connections than its
//!   per-user limit), another client is served at once, and the
//!   restarter still restarts a killed service meanwhile.
//! - A user without privilege gets one `ERR ... required` line naming the
//!   privilege; a `virt_manage` user asking for a change gets one naming
//!   `xvm_control`; an unknown verb is named.

use xvm_tests::daemon::Daemon;
use xvm_tests::stack::startd_system;
use xvm_tests::{bin, bindir, check};

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use privlib::sys::child::fork_call;
use privlib::testing::{become_user, fake_users, in_private_tmpfs, write_policy};
use xvm_tests::require_root;

const XVM: u32 = 48_710;
const ALICE: u32 = 48_711;
const BOB: u32 = 48_712;
const VIRT: u32 = 48_719;
const FMRI: &str = "svc:/site/test/sleeper:default";

/// svc-startd in system mode over one long-running service; SIGTERM on drop.
struct Startd {
    child: Daemon,
    log: PathBuf,
    root: PathBuf,
}

impl Startd {
    fn start(base: &Path) -> Result<Startd, String> {
        fake_users(
            base,
            &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)],
            &[("virt", VIRT, &["alice"])],
        )?;
        let root = base.join("root");
        write_policy(
            &root,
            "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n",
        )?;
        let m = base.join("manifests");
        std::fs::create_dir_all(&m).map_err(|e| e.to_string())?;
        std::fs::write(
            m.join("sleeper.xml"),
            xvm_tests::child_service("sleeper", "/bin/sleep 3600"),
        )
        .map_err(|e| e.to_string())?;
        let log = base.join("startd.log");
        let cmd = startd_system(Command::new(bin("svc-startd")?), &m, &root);
        let child = Daemon::spawn("svc-startd", cmd, &log)?;
        let s = Startd { child, log, root };
        let t = Instant::now();
        while !s.log_text().contains("svc-startd serving") {
            check(
                t.elapsed() < Duration::from_secs(15),
                format!("svc-startd never served: {}", s.log_text()),
            )?;
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(s)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn socket(&self) -> PathBuf {
        self.root.join("run/xvm/svc-startd/control")
    }

    /// Root's `svcs -a`, the real binary: its output and how long it took.
    fn svcs(&self, args: &[&str]) -> Result<(String, Duration), String> {
        let t = Instant::now();
        let o = Command::new(bindir().join("svcs"))
            .args(args)
            .env("XVM_ROOT", &self.root)
            .output()
            .map_err(|e| format!("svcs: {e}"))?;
        let took = t.elapsed();
        check(
            o.status.success(),
            format!(
                "svcs {args:?} failed after {took:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
        )?;
        Ok((String::from_utf8_lossy(&o.stdout).into_owned(), took))
    }

    /// `svcs -a` within 1 s, listing the service.
    fn served_at_once(&self, when: &str) -> Result<(), String> {
        let (out, took) = self.svcs(&["-a"])?;
        check(
            took < Duration::from_secs(1),
            format!("{when}: root's svcs -a took {took:?}"),
        )?;
        Ok(check(
            out.contains(FMRI),
            format!("{when}: svcs -a does not list {FMRI}:\n{out}"),
        )?)
    }

    /// The service's pid, once online (`svcs -l`).
    fn online_pid(&self, other_than: i32) -> Result<i32, String> {
        let t = Instant::now();
        loop {
            let (out, _) = self.svcs(&["-l", FMRI])?;
            let get = |k: &str| {
                out.lines()
                    .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                    .unwrap_or_default()
            };
            let pid: i32 = get("pid ").parse().unwrap_or(0);
            if get("state ") == "online" && pid != 0 && pid != other_than {
                return Ok(pid);
            }
            check(
                t.elapsed() < Duration::from_secs(10),
                format!("{FMRI} not online in a new process:\n{out}"),
            )?;
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Startd {
    fn drop(&mut self) {
        self.child.terminate();
    }
}

/// One raw request as `uid` (with `groups`), from a child process: the
/// whole answer.
fn ask_as(uid: u32, groups: &[u32], socket: &Path, line: &str) -> Result<String, String> {
    let (mut r, w) = UnixStream::pair().map_err(|e| e.to_string())?;
    fork_call(|| {
        let mut w = w;
        become_user(uid, groups)?;
        let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        // A refused peer may be answered before it has written.
        let _ = s.write_all(line.as_bytes());
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .map_err(|e| format!("read: {e}"))?;
        Ok(w.write_all(answer.as_bytes()).map_err(|e| e.to_string())?)
    })?;
    // The child wrote and exited, and our copy of its end went with the
    // closure: read to the end.
    let mut answer = String::new();
    r.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    r.read_to_string(&mut answer)
        .map_err(|e| format!("the child's answer: {e}"))?;
    Ok(answer)
}

/// An attacker as `uid` in a child process: opens `n` connections to
/// `socket` and holds them, then keeps replacing them with new ones (so
/// the accept path stays busy), until a byte arrives on the returned
/// stream. The thread's result is the child's verdict; the first line
/// read from the returned stream is `held N`.
fn attacker(
    uid: u32,
    groups: Vec<u32>,
    socket: PathBuf,
    n: usize,
) -> Result<(UnixStream, std::thread::JoinHandle<Result<(), String>>), String> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
    let handle = std::thread::spawn(move || {
        fork_call(move || {
            let mut ctl = theirs;
            // Room for the connections, while still root.
            privlib::sys::rlimit::raise_nofile(u64::try_from(n).unwrap_or(u64::MAX) + 256)
                .map_err(|e| format!("raise the open-files limit: {e}"))?;
            become_user(uid, &groups)?;
            let mut held = Vec::with_capacity(n);
            let started = Instant::now();
            while held.len() < n {
                match UnixStream::connect(&socket) {
                    Ok(s) => {
                        // Every fourth one sends half a request line.
                        if held.len() % 4 == 0 {
                            let _ = (&s).write(b"lis");
                        }
                        held.push(s);
                    }
                    Err(e) => {
                        if started.elapsed() > Duration::from_secs(30) {
                            return Err(format!("only {} connections: {e}", held.len()).into());
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            ctl.write_all(format!("held {}\n", held.len()).as_bytes())
                .map_err(|e| e.to_string())?;
            ctl.set_nonblocking(true).map_err(|e| e.to_string())?;
            let mut i = 0;
            let mut b = [0u8; 1];
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match ctl.read(&mut b) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(format!("control: {e}").into()),
                }
                if Instant::now() > deadline {
                    return Err("never told to let go".into());
                }
                if let Ok(s) = UnixStream::connect(&socket) {
                    held[i % n] = s;
                    i += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
    });
    Ok((ours, handle))
}

/// Waits for the attacker's `held N` line.
fn wait_held(ctl: &mut UnixStream) -> Result<String, String> {
    ctl.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\n") {
        match ctl.read(&mut b) {
            Ok(1) => line.push(b[0]),
            Ok(_) => return Err("the attacker ended before holding its connections".into()),
            Err(e) => return Err(format!("waiting for the attacker: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&line).trim().to_string())
}

#[test]
fn an_unprivileged_user_holding_2000_connections_delays_nobody() {
    if !require_root("an_unprivileged_user_holding_2000_connections_delays_nobody") {
        return;
    }
    let verdict = in_private_tmpfs("startd-hostile", |base| {
        let startd = Startd::start(base)?;
        startd.online_pid(0)?;
        startd.served_at_once("before the attack")?;

        let (mut ctl, attack) = attacker(BOB, Vec::new(), startd.socket(), 2000)?;
        let held = wait_held(&mut ctl)?;
        check(held == "held 2000", format!("attacker: {held}"))?;
        for i in 0..5 {
            startd.served_at_once(&format!("attempt {i} while bob holds 2,000 connections"))?;
        }
        // Nobody waits for bob: the answers came while he still holds.
        check(!attack.is_finished(), "the attacker let go too early")?;
        let _ = ctl.write_all(b"x");
        attack
            .join()
            .map_err(|_| "the attacker's thread panicked".to_string())??;
        startd.served_at_once("after the attack")?;
        // The attack reached the daemon (each connection decided, and
        // refused, at accept: one audit event each), and its log stayed
        // bounded: at most REFUSALS_PER_WINDOW lines about bob per window.
        let record = format!("xvm_control or virt_manage required for uid {BOB}");
        let refused = startd
            .log_text()
            .lines()
            .filter(|l| l.contains(&record))
            .count();
        let per_window = usize::try_from(privlib::log::REFUSALS_PER_WINDOW).unwrap_or(0);
        check(
            refused >= 1 && refused <= 6 * per_window,
            format!(
                "{refused} refusal lines about bob in the log (want 1 to {}):\n{}",
                6 * per_window,
                startd
                    .log_text()
                    .lines()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        )?;

        // Bob himself: one line, naming the privilege he lacks.
        let answer = ask_as(BOB, &[], &startd.socket(), "list\n")?;
        Ok(check(
            answer == "ERR permission denied: xvm_control or virt_manage required\n",
            format!("bob's answer: {answer:?}"),
        )?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn a_stalled_privileged_client_delays_no_other_client_and_not_the_restarter() {
    if !require_root("a_stalled_privileged_client_delays_no_other_client_and_not_the_restarter") {
        return;
    }
    let verdict = in_private_tmpfs("startd-stall", |base| {
        let startd = Startd::start(base)?;
        let pid = startd.online_pid(0)?;
        let socket = startd.socket();

        // Root holds a connection with half a request line.
        let mut stalled = UnixStream::connect(&socket).map_err(|e| e.to_string())?;
        stalled
            .write_all(b"list\tsvc:/si")
            .map_err(|e| e.to_string())?;
        // Alice (virt_manage) holds 40 idle connections, more than her
        // per-user limit, some with half a line.
        let (mut ctl, alice) = attacker(ALICE, vec![VIRT], socket.clone(), 40)?;
        check(wait_held(&mut ctl)? == "held 40", "alice's connections")?;

        startd.served_at_once("while root and alice stall")?;
        // The restarter's own work goes on: a killed service comes back.
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let t = Instant::now();
        let new = startd.online_pid(pid)?;
        check(
            t.elapsed() < Duration::from_secs(5),
            format!("restarted after {:?}", t.elapsed()),
        )?;
        check(new != pid, "no new process")?;
        startd.served_at_once("after the restart, still stalled")?;

        // Over her limit, alice is told so; under it, a change needs
        // xvm_control; an unknown verb is named.
        let answer = ask_as(ALICE, &[VIRT], &socket, "list\n")?;
        check(
            answer == format!("ERR uid {ALICE} already has 8 connections, the limit per user\n")
                || answer.ends_with("\nOK\n"),
            format!("alice over her limit: {answer:?}"),
        )?;
        let _ = ctl.write_all(b"x");
        alice
            .join()
            .map_err(|_| "alice's thread panicked".to_string())??;
        // Her connections closed: she is served again (reads only).
        let t = Instant::now();
        let answer = loop {
            let a = ask_as(ALICE, &[VIRT], &socket, "list\n")?;
            if a.ends_with("OK\n") || t.elapsed() > Duration::from_secs(5) {
                break a;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        check(
            answer.contains(FMRI) && answer.ends_with("OK\n"),
            format!("alice's list: {answer:?}"),
        )?;
        let answer = ask_as(ALICE, &[VIRT], &socket, &format!("disable\t{FMRI}\n"))?;
        check(
            answer == "ERR permission denied: xvm_control required\n",
            format!("alice's disable: {answer:?}"),
        )?;
        let answer = ask_as(0, &[], &socket, "destroy\tall\n")?;
        check(
            answer == "ERR unknown verb destroy\n",
            format!("an unknown verb: {answer:?}"),
        )?;
        // Root's stalled request is cut off at the deadline, answered.
        stalled
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        let _ = stalled.read_to_string(&mut answer);
        Ok(check(
            answer == "ERR request not complete within 2 seconds\n",
            format!("the stalled request: {answer:?}"),
        )?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
