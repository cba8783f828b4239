use super::*;
use std::io::{Read, Write};

/// A line protocol: "no: <first line>: <why>\n".
struct LineNo;

impl Refusal for LineNo {
    fn complete(&self, first: &[u8]) -> bool {
        first.contains(&b'\n')
    }
    fn reply(&self, first: &[u8], why: &str) -> Vec<u8> {
        let line = first.split(|b| *b == b'\n').next().unwrap_or_default();
        format!("no: {}: {why}\n", String::from_utf8_lossy(line)).into_bytes()
    }
}

fn limits() -> GateLimits {
    GateLimits {
        total: 4,
        per_uid: 2,
        reserve: 1,
        first_request: Duration::from_millis(300),
        refusals_pending: 8,
        refusals_per_uid: 2,
        idle: Duration::from_secs(5),
    }
}

/// The server end (to admit) and the peer's end of a new connection.
fn conn() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("pair")
}

fn reply_of(mut peer: UnixStream) -> String {
    peer.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut s = String::new();
    peer.read_to_string(&mut s).expect("read the refusal");
    s
}

#[test]
fn a_refused_peer_is_answered_after_its_first_request_and_takes_no_slot() {
    let gate = Gate::new(limits(), LineNo).expect("gate");
    let (server, mut peer) = conn();
    assert!(
        gate.admit(
            server,
            1000,
            Verdict::Refused("virt_manage required".into())
        )
        .is_none()
    );
    assert_eq!(gate.served(), 0);
    peer.write_all(b"list\n").expect("write");
    assert_eq!(reply_of(peer), "no: list: virt_manage required\n");
}

#[test]
fn a_silent_refused_peer_is_answered_at_the_deadline() {
    let gate = Gate::new(limits(), LineNo).expect("gate");
    let (server, peer) = conn();
    let t = Instant::now();
    assert!(
        gate.admit(server, 1000, Verdict::Refused("nope".into()))
            .is_none()
    );
    assert_eq!(reply_of(peer), "no: : nope\n");
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
}

#[test]
fn waiting_refusals_are_bounded_per_uid_and_the_rest_answered_at_once() {
    let gate = Gate::new(limits(), LineNo).expect("gate");
    let mut held = Vec::new();
    for _ in 0..2 {
        let (server, peer) = conn();
        assert!(
            gate.admit(server, 7, Verdict::Refused("nope".into()))
                .is_none()
        );
        held.push(peer);
    }
    // The third of uid 7 finds no room to wait: answered without delay,
    // well before the 300 ms deadline of the two above.
    let (server, mut peer) = conn();
    let t = Instant::now();
    assert!(
        gate.admit(server, 7, Verdict::Refused("nope".into()))
            .is_none()
    );
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut s = String::new();
    peer.read_to_string(&mut s).expect("answered at once");
    assert_eq!(s, "no: : nope\n");
    assert!(t.elapsed() < Duration::from_millis(200));
    // Another uid still gets its wait.
    let (server, mut other) = conn();
    assert!(
        gate.admit(server, 8, Verdict::Refused("nope".into()))
            .is_none()
    );
    other.write_all(b"hi\n").expect("write");
    assert_eq!(reply_of(other), "no: hi: nope\n");
}

#[test]
fn slots_are_bounded_per_uid_and_the_reserve_is_kept_for_reserved_peers() {
    let gate = Gate::new(limits(), LineNo).expect("gate");
    let mut slots = Vec::new();
    for _ in 0..2 {
        let (server, _peer) = conn();
        slots.push(gate.admit(server, 1000, Verdict::Ordinary).expect("served"));
    }
    // Per uid: the third of uid 1000 is refused, saying why.
    let (server, peer) = conn();
    assert!(gate.admit(server, 1000, Verdict::Ordinary).is_none());
    assert!(
        reply_of(peer).contains("uid 1000 already has 2 connections"),
        "per-uid refusal"
    );
    // Total 4 with 1 reserved: one more ordinary peer fits, then none.
    let (server, _peer) = conn();
    slots.push(gate.admit(server, 1001, Verdict::Ordinary).expect("served"));
    let (server, peer) = conn();
    assert!(gate.admit(server, 1002, Verdict::Ordinary).is_none());
    assert!(reply_of(peer).contains("limit of 3 ordinary connections"));
    // The reserve: a reserved peer still gets in, then the total is full.
    let (server, _peer) = conn();
    let reserved = gate.admit(server, 0, Verdict::Reserved).expect("reserve");
    assert_eq!(gate.served(), 4);
    let (server, peer) = conn();
    assert!(gate.admit(server, 0, Verdict::Reserved).is_none());
    assert!(reply_of(peer).contains("limit of 4 connections"));
    // A slot given back is free again, for the same uid too.
    drop(reserved);
    drop(slots.remove(0));
    assert_eq!(gate.served(), 2);
    let (server, _peer) = conn();
    assert!(gate.admit(server, 1000, Verdict::Ordinary).is_some());
}

#[test]
fn two_thousand_refused_peers_do_not_delay_a_reserved_one() {
    let gate = Gate::new(
        GateLimits {
            first_request: Duration::from_secs(30),
            ..GateLimits::default()
        },
        LineNo,
    )
    .expect("gate");
    let mut held = Vec::new();
    for _ in 0..2000 {
        let (server, peer) = conn();
        assert!(
            gate.admit(server, 1234, Verdict::Refused("nope".into()))
                .is_none()
        );
        held.push(peer);
    }
    let (server, _peer) = conn();
    assert!(gate.admit(server, 0, Verdict::Reserved).is_some());
    // Only the bounded number wait; every other refused peer was answered
    // and closed already (its end reads EOF after the refusal).
    let waiting = lock(&gate.refuser.waiting).total;
    assert_eq!(waiting, GateLimits::default().refusals_per_uid);
    let mut last = held.pop().expect("one");
    last.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut s = String::new();
    last.read_to_string(&mut s).expect("closed");
    assert_eq!(s, "no: : nope\n");
}
