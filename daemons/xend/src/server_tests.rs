//! xend's RPC server in-process: a manager with no domains behind the
//! gate as `main` sets it up, on a fresh socket; the reply bytes asserted.
//! No root, no qemu: nothing here starts a domain.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use privlib::{GateLimits, Policy};
use serde_json::{Value, json};

use crate::domain::test_settings;
use crate::manager::Manager;
use crate::rpc::MAX_LINE;
use crate::scratch::Scratch;
use crate::server::{self, Xend};

/// A served socket in a scratch directory (removed when the test drops
/// it); `served` says whether the policy serves us.
fn serve(name: &str, served: bool) -> (Scratch, PathBuf) {
    let dir = Scratch::new(&format!("rpc-{name}"));
    let me = std::fs::metadata("/proc/self").expect("/proc/self").uid();
    // Session mode serves its own uid alone: another uid's policy is one
    // that does not serve us.
    let policy = Policy::Session(if served { me } else { me.wrapping_add(1) });
    let sock = dir.join("xmlrpc.sock");
    let server = server::bind(&sock).expect("bind");
    let xend = Arc::new(Xend::new(
        Manager::new(test_settings(dir.path())),
        policy,
        sock.display().to_string(),
    ));
    let gate = server::gate(GateLimits::default()).expect("gate");
    std::thread::spawn(move || xend.serve(&server, &gate));
    (dir, sock)
}

/// Sends `bytes` in one write (from a thread, so a peer refused midway
/// never blocks the test) and reads every answer until xend closes or
/// `answers` lines came.
fn exchange(sock: &Path, bytes: Vec<u8>, answers: usize) -> Vec<Value> {
    let s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&bytes);
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut r = &s;
    while got.iter().filter(|b| **b == b'\n').count() < answers {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    drop(s);
    let _ = writer.join();
    assert!(got.ends_with(b"\n"), "{:?}", String::from_utf8_lossy(&got));
    got.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("an answer is JSON"))
        .collect()
}

fn error(code: i64, message: &str, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}

#[test]
fn list_answers_domain_0_with_the_hosts_size() {
    let (_dir, sock) = serve("list", true);
    let got = exchange(
        &sock,
        br#"{"jsonrpc":"2.0","method":"domain.list","id":1}
"#
        .to_vec(),
        1,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let rows = got[0]["result"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{got:?}");
    assert_eq!(rows[0]["name"], "Domain-0");
    assert_eq!(rows[0]["domid"], 0);
    assert_eq!(rows[0]["state"], "r-----");
    assert!(rows[0]["memory"].as_u64().is_some_and(|m| m > 0), "{got:?}");
    assert!(rows[0]["vcpus"].as_u64().is_some_and(|c| c > 0), "{got:?}");
    assert_eq!(
        (&got[0]["id"], &got[0]["jsonrpc"]),
        (&json!(1), &json!("2.0"))
    );
}

#[test]
fn unknown_methods_and_wrong_params_get_their_own_codes_and_the_connection_goes_on() {
    let (_dir, sock) = serve("codes", true);
    let got = exchange(
        &sock,
        concat!(
            r#"{"jsonrpc":"2.0","method":"domain.frobnicate","id":1}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
        1,
    );
    assert_eq!(
        got,
        [error(-32601, "no method domain.frobnicate", json!(1))]
    );
    let got = exchange(
        &sock,
        concat!(
            r#"{"jsonrpc":"2.0","method":"domain.destroy","params":{"name":"web"},"id":"a"}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
        1,
    );
    assert_eq!(
        got,
        [error(
            -32602,
            "domain.destroy: invalid params: unknown field `name`, expected `domain`",
            json!("a")
        )]
    );
    // One after the other on one connection: each answered.
    let s = UnixStream::connect(&sock).expect("connect");
    let mut reader = crate::rpc::line_reader(&s);
    for (line, code) in [
        (
            r#"{"jsonrpc":"2.0","method":"domain.info","params":[],"id":2}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"domain.info","params":{"domain":"web"},"id":3}"#,
            -32002,
        ),
    ] {
        (&s).write_all(format!("{line}\n").as_bytes())
            .expect("send");
        let answer = reader
            .within(Duration::from_secs(20))
            .read_line()
            .expect("read")
            .expect("an answer");
        let v: Value = serde_json::from_slice(&answer).expect("JSON");
        assert_eq!(v["error"]["code"], code, "{v}");
    }
}

#[test]
fn no_such_domain_is_told_apart_by_its_kind() {
    let (_dir, sock) = serve("kind", true);
    let got = exchange(
        &sock,
        concat!(
            r#"{"jsonrpc":"2.0","method":"domain.destroy","params":{"domain":"web"},"id":4}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
        1,
    );
    assert_eq!(
        got,
        [json!({"jsonrpc": "2.0", "id": 4, "error": {
            "code": -32002, "message": "no domain web", "data": {"kind": "no_domain"}}})]
    );
}

#[test]
fn framing_errors_are_answered_to_null_and_end_the_connection() {
    let (_dir, sock) = serve("framing", true);
    // Not JSON at all.
    let got = exchange(&sock, b"domain.list\n".to_vec(), 2);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["error"]["code"], -32700, "{got:?}");
    assert_eq!(got[0]["id"], Value::Null);
    // JSON, not a request.
    let got = exchange(&sock, b"[1,2]\n".to_vec(), 2);
    assert_eq!(got[0]["error"]["code"], -32600, "{got:?}");
    // A line past the bound, never ended.
    let got = exchange(&sock, vec![b' '; 2 * MAX_LINE], 2);
    assert_eq!(
        got,
        [error(
            -32600,
            &format!("request: line longer than {} bytes", MAX_LINE - 1),
            Value::Null
        )]
    );
    // Two requests in one write: xend answers one at a time.
    let list = r#"{"jsonrpc":"2.0","method":"domain.list","id":1}"#;
    let got = exchange(&sock, format!("{list}\n{list}\n").into_bytes(), 2);
    assert_eq!(
        got,
        [error(
            -32600,
            "one request at a time: wait for the answer",
            Value::Null
        )]
    );
}

#[test]
fn a_peer_without_the_privilege_is_denied_to_its_id() {
    let (_dir, sock) = serve("denied", false);
    let got = exchange(
        &sock,
        concat!(r#"{"jsonrpc":"2.0","method":"domain.list","id":9}"#, "\n")
            .as_bytes()
            .to_vec(),
        2,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["error"]["code"], -32001, "{got:?}");
    assert_eq!(got[0]["id"], 9);
    let message = got[0]["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("virt_manage"), "{message}");
}

#[test]
fn the_client_speaks_the_same_api() {
    let (_dir, sock) = serve("client", true);
    let mut c = crate::client::Client::connect(&sock).expect("connect");
    let rows = c.list().expect("list");
    assert_eq!(rows[0].name, "Domain-0");
    assert_eq!(rows[0].state, crate::api::DomainState::Running);
    let e = c.info("web").expect_err("no such domain");
    assert_eq!(e.kind(), Some(crate::api::ErrorKind::NoDomain), "{e}");
    assert_eq!(e.to_string(), "no domain web");
}

/// A request without an `id` member is a notification: executed (here it
/// stores a managed config, which the list then shows) and never
/// answered, an unknown method neither; `"id": null` is answered.
#[test]
fn notifications_are_executed_and_not_answered() {
    let (_dir, sock) = serve("notify", true);
    let got = exchange(
        &sock,
        concat!(
            r#"{"jsonrpc":"2.0","method":"domain.new","params":{"source":"n.cfg","config":"name = \"quiet\"\ntype = \"hvm\"\nmemory = 32\n"}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"domain.frobnicate"}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"domain.list","id":2}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
        1,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], json!(2), "{got:?}");
    let rows = got[0]["result"].as_array().expect("rows");
    assert!(rows.iter().any(|r| r["name"] == "quiet"), "{got:?}");
    let got = exchange(
        &sock,
        concat!(
            r#"{"jsonrpc":"2.0","method":"domain.frobnicate","id":null}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
        1,
    );
    assert_eq!(
        got,
        [error(-32601, "no method domain.frobnicate", Value::Null)]
    );
}

#[test]
fn a_vnc_address_the_config_may_not_have_is_a_bad_config() {
    use crate::api::ErrorKind;
    use crate::error::DomainError;
    use crate::launch::RunError;
    use crate::vnc::VncError;
    let run = |source| DomainError::Run(RunError::Vnc { domid: 1, source });
    let addr = "0.0.0.0".parse().expect("ip");
    assert_eq!(
        server::kind_of(&run(VncError::NotLoopback { addr })),
        ErrorKind::BadConfig
    );
    assert_eq!(
        server::kind_of(&run(VncError::NoPort { display: 70_000 })),
        ErrorKind::BadConfig
    );
    // A port someone else holds is the host's state, not the config's.
    let at = "127.0.0.1:5901".parse().expect("addr");
    assert_eq!(
        server::kind_of(&run(VncError::InUse { addr: at })),
        ErrorKind::Failed
    );
}

#[test]
fn hot_plug_calls_go_through_the_gate_and_their_refusals_have_kinds() {
    use crate::api::ErrorKind;
    let (_dir, sock) = serve("hotplug", true);
    let mut c = crate::client::Client::connect(&sock).expect("connect");
    let e = c
        .block_attach("web", "phy:/dev/vg0/web", "xvdb", "w")
        .expect_err("no such domain");
    assert_eq!(
        (e.kind(), e.to_string().as_str()),
        (Some(ErrorKind::NoDomain), "no domain web")
    );
    let e = c.block_detach("web", "xvdb").expect_err("no domain");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e}");
    let e = c
        .network_attach("web", "bridge=xenbr0")
        .expect_err("no domain");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e}");
    let e = c.network_detach("web", "1").expect_err("no domain");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e}");
    let e = c.block_list("web").expect_err("no domain");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e}");
    // A peer the policy does not serve is refused before any call.
    let (_dir, sock) = serve("hotplug-denied", false);
    let got = exchange(
        &sock,
        concat!(
            r#"{"jsonrpc":"2.0","method":"domain.block-attach","params":{"domain":"web","target":"/i/b","vdev":"xvdb","mode":"w"},"id":3}"#,
            "\n"
        )
        .as_bytes()
        .to_vec(),
        2,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0]["error"]["code"].clone(), got[0]["id"].clone()),
        (json!(-32001), json!(3))
    );
}
