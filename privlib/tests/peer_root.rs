//! Peer credentials, policy and audit for real, hermetically: a private
//! mount namespace with its own /etc/passwd and /etc/group, a server on
//! the listener helper, and clients running as test users. Root only.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use privlib::caps::{CapMask, num};
use privlib::listener::{SocketSpec, UnixServer};
use privlib::names::{PrivId, virt_manage};
use privlib::peer::tcp_peer_uid;
use privlib::sys::child::fork_call;
use privlib::sys::{CapState, CredOp, Linux, Sys, diag, ns};
use privlib::testing::{EventCapture, as_user, fake_users, in_private_tmpfs};
use privlib::{Policy, require_any};
use xvm_tests::hermetic::copy_binary;
use xvm_tests::require_root;
use xvm_tests::{check, scratch, serial};

const ALICE: u32 = 48_100; // in group virt
const BOB: u32 = 48_101; // in no group that grants anything
const CAROL: u32 = 48_102; // holds capabilities in some tests
const VIRT: u32 = 48_200;

fn accounts(dir: &Path) -> Result<(), privlib::testing::TestingError> {
    fake_users(
        dir,
        &[("alice", ALICE), ("bob", BOB), ("carol", CAROL)],
        &[
            ("virt", VIRT, &["alice"]),
            ("xvm", 48_300, &[]),
            ("xvm-manage", 48_301, &[]),
        ],
    )
}

/// Writes a root-only policy file and loads it as a daemon would.
fn policy(dir: &Path, text: &str) -> Result<Policy, String> {
    let f = dir.join("privileges.toml");
    std::fs::write(&f, text).map_err(|e| e.to_string())?;
    Policy::load_system(&f).map_err(|e| e.to_string())
}

/// The verdicts a test server gave, in order.
type Verdicts = Arc<Mutex<Vec<String>>>;

/// A server asking `asked` of every peer; each verdict is also kept.
fn serve(dir: &Path, policy: Policy, asked: Vec<PrivId>) -> Result<(PathBuf, Verdicts), String> {
    let path = dir.join("sock");
    let server = UnixServer::bind(
        &path,
        SocketSpec {
            mode: 0o666,
            owner: None,
        },
    )
    .map_err(|e| e.to_string())?;
    let verdicts = Arc::new(Mutex::new(Vec::new()));
    let v = Arc::clone(&verdicts);
    std::thread::spawn(move || {
        struct No;
        impl privlib::Refusal for No {
            fn complete(&self, _: &[u8]) -> bool {
                true
            }
            fn reply(&self, _: &[u8], why: &str) -> Vec<u8> {
                why.as_bytes().to_vec()
            }
        }
        // Every peer gets a slot: the handler makes the decision under test.
        let gate = privlib::Gate::new(privlib::GateLimits::default(), No).expect("gate");
        let _ = server.serve_gated(
            &gate,
            |_| privlib::Verdict::Ordinary,
            move |mut s, cred, _slot| {
                let mut b = [0u8; 1];
                if s.read_exact(&mut b).is_err() {
                    return;
                }
                let reply = match require_any(&policy, &cred, "test.sock", &asked) {
                    Ok(g) => format!("ok: {}", g.why),
                    Err(d) => format!("{} ({:?})", d.message(), cred.caps()),
                };
                v.lock().expect("lock").push(reply.clone());
                let _ = s.write_all(reply.as_bytes());
            },
        );
    });
    Ok((path, verdicts))
}

fn ask(path: &Path) -> Result<String, String> {
    let mut s = UnixStream::connect(path).map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"x").map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    Ok(reply)
}

#[test]
fn group_members_are_served_and_others_denied_with_an_audit_record() {
    if !require_root("group_members_are_served_and_others_denied_with_an_audit_record") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("peer-group", |dir| {
        accounts(dir)?;
        let audit = EventCapture::default();
        tracing::subscriber::set_global_default(audit.clone()).map_err(|e| e.to_string())?;
        let p = policy(
            dir,
            "[virt_manage]\ngroups = [\"virt\"]\n[xvm_control]\ngroups = [\"xvm\"]\n",
        )?;
        let (sock, _) = serve(dir, p, vec![virt_manage()])?;
        as_user(ALICE, &[VIRT], || {
            let r = ask(&sock)?;
            Ok(check(r == "ok: group virt", format!("alice: {r}"))?)
        })?;
        as_user(BOB, &[], || {
            let r = ask(&sock)?;
            Ok(check(
                r.starts_with("permission denied: virt_manage required"),
                format!("bob: {r}"),
            )?)
        })?;
        let events = audit.events("xvm::audit");
        check(
            events.len() == 2,
            format!("one audit event per decision: {events:?}"),
        )?;
        let (a, b) = (&events[0].fields, &events[1].fields);
        check(
            a.get("outcome").map(String::as_str) == Some("granted")
                && a.get("uid") == Some(&ALICE.to_string()),
            format!("{a:?}"),
        )?;
        check(
            b.get("outcome").map(String::as_str) == Some("denied")
                && b.get("uid") == Some(&BOB.to_string()),
            format!("{b:?}"),
        )?;
        for f in ["pid", "uid", "gid", "endpoint", "asked", "held", "outcome"] {
            check(
                a.contains_key(f) && b.contains_key(f),
                format!("audit field {f} missing"),
            )?;
        }
        Ok(check(
            b.get("asked").map(String::as_str) == Some("virt_manage"),
            format!("{b:?}"),
        )?)
    });
    verdict.expect("group policy");
}

/// Connects, then execs `bin` (as the connecting process itself) with the
/// socket as its stdout and `stdin` as its stdin: `bin` then copies a byte
/// to the server while it holds the socket.
fn connect_then_exec(
    uid: u32,
    sock: &Path,
    bin: &Path,
    stdin: OwnedFd,
) -> Result<(), privlib::testing::TestingError> {
    as_user(uid, &[], || {
        let s = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
        let e = Command::new(bin)
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(OwnedFd::from(s)))
            .exec();
        Err(format!("exec {}: {e}", bin.display()).into())
    })
}

fn wait_verdict(v: &Mutex<Vec<String>>, n: usize) -> Result<String, String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = v.lock().map_err(|e| e.to_string())?.get(n) {
            return Ok(r.clone());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("no verdict".into())
}

#[test]
fn exec_of_a_privileged_program_after_connect_gains_nothing() {
    if !require_root("exec_of_a_privileged_program_after_connect_gains_nothing") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("peer-exec", |dir| {
        accounts(dir)?;
        let p = policy(
            dir,
            "[virt_manage]\ncapabilities = [\"cap_dac_override\"]\n",
        )?;
        let (sock, verdicts) = serve(dir, p, vec![virt_manage()])?;
        let suid_cat = copy_binary("/bin/cat", dir, "suid-cat", 0o4755)?;
        let fcap_cat = copy_binary("/bin/cat", dir, "fcap-cat", 0o755)?;
        let st = Command::new("setcap")
            .arg("cap_dac_override+ep")
            .arg(&fcap_cat)
            .status();
        check(st.is_ok_and(|s| s.success()), "setcap")?;
        for (n, (bin, why)) in [
            (&suid_cat, "ids changed since connect"),
            (&fcap_cat, "set-id or file-capability program"),
        ]
        .into_iter()
        .enumerate()
        {
            let (r, mut w) = std::io::pipe().map_err(|e| e.to_string())?;
            let (sock2, bin2) = (sock.clone(), bin.clone());
            let client =
                std::thread::spawn(move || connect_then_exec(BOB, &sock2, &bin2, OwnedFd::from(r)));
            // The program now holds the socket; it copies this byte to the
            // server, which decides while the program is still running.
            w.write_all(b"x").map_err(|e| e.to_string())?;
            let v = wait_verdict(&verdicts, n)?;
            drop(w);
            client.join().map_err(|_| "client panicked")??;
            check(
                v.starts_with("permission denied: virt_manage required"),
                format!("{}: {v}", bin.display()),
            )?;
            check(
                v.contains(why),
                format!("{}: refused for the wrong reason: {v}", bin.display()),
            )?;
        }
        Ok(())
    });
    verdict.expect("exec after connect");
}

#[test]
fn a_capability_grants_until_it_is_dropped() {
    if !require_root("a_capability_grants_until_it_is_dropped") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("peer-cap", |dir| {
        accounts(dir)?;
        let p = policy(
            dir,
            "[virt_manage]\ncapabilities = [\"cap_dac_override\"]\n",
        )?;
        let (sock, _) = serve(dir, p, vec![virt_manage()])?;
        Ok(fork_call(|| {
            // Carol runs with CAP_DAC_OVERRIDE, as a service would.
            let cap = CapMask::of(&[num::DAC_OVERRIDE]);
            for op in [
                CredOp::KeepCaps(true),
                CredOp::SetGroups(vec![]),
                CredOp::SetGid(CAROL),
                CredOp::SetUid(CAROL),
                CredOp::SetCaps(CapState {
                    effective: cap,
                    permitted: cap,
                    inheritable: CapMask::EMPTY,
                }),
            ] {
                Linux
                    .apply(&op)
                    .map_err(|e| format!("{}: errno {e}", op.step()))?;
            }
            let r = ask(&sock)?;
            check(
                r == "ok: capability cap_dac_override",
                format!("with the capability: {r}"),
            )?;
            Linux
                .apply(&CredOp::SetCaps(CapState::default()))
                .map_err(|e| format!("drop: errno {e}"))?;
            let r = ask(&sock)?;
            Ok(check(
                r.starts_with("permission denied: virt_manage required"),
                format!("after dropping it: {r}"),
            )?)
        })?)
    });
    verdict.expect("capability grant");
}

#[test]
fn a_loopback_tcp_client_is_identified_by_uid() {
    if !require_root("a_loopback_tcp_client_is_identified_by_uid") {
        return;
    }
    let _g = serial();
    let verdict = fork_call(|| {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let l = std::net::TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
            let at = l.local_addr().map_err(|e| e.to_string())?;
            let client = std::thread::spawn(move || {
                as_user(ALICE, &[], || {
                    let mut s = std::net::TcpStream::connect(at).map_err(|e| e.to_string())?;
                    s.write_all(b"x").map_err(|e| e.to_string())?;
                    let mut b = [0u8; 1];
                    let _ = s.read(&mut b);
                    Ok(())
                })
            });
            let (mut conn, _) = l.accept().map_err(|e| e.to_string())?;
            let mut b = [0u8; 1];
            conn.read_exact(&mut b).map_err(|e| e.to_string())?;
            let uid = tcp_peer_uid(&conn).map_err(|e| format!("sock_diag: {e}"))?;
            drop(conn);
            client.join().map_err(|_| "client panicked")??;
            check(uid == Some(ALICE), format!("{addr}: identified as {uid:?}"))?;
        }
        Ok(())
    });
    verdict.expect("loopback identity");
}

#[test]
fn a_non_loopback_peer_has_no_identity() {
    if !require_root("a_non_loopback_peer_has_no_identity") {
        return;
    }
    let _g = serial();
    let verdict = fork_call(|| {
        // A private network namespace with a veth pair: our own test hosts.
        ns::unshare_net().map_err(|e| format!("unshare net: {e}"))?;
        for args in [
            "link set lo up",
            "link add xvm-a type veth peer name xvm-b",
            "addr add 10.231.0.1/24 dev xvm-a",
            "addr add 10.231.0.2/24 dev xvm-b",
            "link set xvm-a up",
            "link set xvm-b up",
        ] {
            let st = Command::new("ip")
                .args(args.split(' '))
                .status()
                .map_err(|e| format!("ip {args}: {e}"))?;
            check(st.success(), format!("ip {args} failed"))?;
        }
        let l = std::net::TcpListener::bind("10.231.0.1:0").map_err(|e| e.to_string())?;
        let at = l.local_addr().map_err(|e| e.to_string())?;
        let client = std::net::TcpStream::connect(at).map_err(|e| e.to_string())?;
        let (conn, peer) = l.accept().map_err(|e| e.to_string())?;
        check(
            !peer.ip().is_loopback(),
            format!("peer {peer} should not be loopback"),
        )?;
        let uid = tcp_peer_uid(&conn).map_err(|e| e.to_string())?;
        check(
            uid.is_none(),
            format!("a peer at {peer} was identified as {uid:?}"),
        )?;
        // The socket is findable: it is the address rule that refuses.
        let owner = diag::tcp_owner(peer, at).map_err(|e| e.to_string())?;
        check(
            owner == Some(0),
            format!("sock_diag itself finds the client: {owner:?}"),
        )?;
        drop(client);
        Ok(())
    });
    verdict.expect("non-loopback");
}

#[test]
fn the_shipped_default_policy_checks_clean() {
    if !require_root("the_shipped_default_policy_checks_clean") {
        return;
    }
    let _g = serial();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/privileges.toml");
    let tool = env!("CARGO_BIN_EXE_xvm-policy");
    let verdict = in_private_tmpfs("policy-default", |dir| {
        accounts(dir)?;
        // Checked by the system-mode rules: a copy in a directory of
        // root's, wherever the checkout is.
        let text = std::fs::read_to_string(&shipped).map_err(|e| e.to_string())?;
        privlib::testing::write_policy(dir, &text)?;
        let out = Command::new(tool)
            .arg("check")
            .arg(dir.join("etc/xvm/privileges.toml"))
            .output()
            .map_err(|e| e.to_string())?;
        check(
            out.status.success() && out.stdout.is_empty(),
            format!("check: {}", String::from_utf8_lossy(&out.stderr)),
        )?;
        let policy_file = dir.join("p.toml");
        std::fs::write(&policy_file, "[virt_manage]\ngroups = [\"virt\"]\n")
            .map_err(|e| e.to_string())?;
        let out = Command::new(tool)
            .args(["who", "alice", "--file"])
            .arg(&policy_file)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(check(
            text.contains("virt_manage: yes, by group virt") && text.contains("xvm_control: no"),
            format!("who: {text}"),
        )?)
    });
    verdict.expect("shipped default");
}

#[test]
fn a_bad_policy_names_file_line_and_column() {
    let dir = scratch("bad-policy").expect("scratch dir");
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "[xvm_control]\nuids = [0]\n\n[virt_manage]\ngroups = []\n[file_chwon]\nuids = [1]\n",
    )
    .expect("write");
    // --session: the point is the position, and a scratch directory is no
    // root's-alone place when this runs without root.
    let out = Command::new(env!("CARGO_BIN_EXE_xvm-policy"))
        .args(["check", "--session"])
        .arg(&f)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:6:2: unknown privilege \"file_chwon\"",
            f.display()
        )),
        "{err}"
    );
}
