//! The real daemon (session mode), as a client sees it: a transaction
//! cannot grow it, and a watch event is whole or the watch is refused.

use std::time::Duration;

use xenstored::client::{Client, ClientError};
use xenstored::wire::{ABS_PATH_MAX, PAYLOAD_MAX, XsError};
use xvm_tests::scratch;
use xvm_tests::stack::Xenstored;

/// VmRSS of `pid`, in KiB, from /proc.
fn vm_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn twenty_thousand_big_writes_in_one_transaction_are_refused_and_memory_stays_flat() {
    let d = Xenstored::start(
        &scratch("txn-memory").expect("scratch dir"),
        &["--session"],
        &[],
    )
    .expect("start");
    let mut c = Client::connect(&d.socket()).expect("connect");
    c.write(0, "/t/one", b"before").expect("write");
    let before = vm_rss_kib(d.pid());
    let tx = c.transaction_start().expect("start");
    let value = vec![b'v'; 4000];
    let mut first_refused = None;
    for i in 0..20_000 {
        match c.write(tx, "/t/one", &value) {
            Ok(()) => assert_eq!(first_refused, None, "write {i} accepted after a refusal"),
            Err(ClientError::Xs(XsError::Enospc)) => {
                first_refused.get_or_insert(i);
            }
            Err(e) => panic!("write {i}: {e}"),
        }
    }
    let after = vm_rss_kib(d.pid());
    let first = first_refused.expect("the transaction's bound refuses with ENOSPC");
    assert!(
        first > 10,
        "the default bound (1 MiB) takes a few hundred 4,000-byte writes, not {first}"
    );
    let grown = after.saturating_sub(before);
    eprintln!("first refusal at write {first}; VmRSS {before} -> {after} KiB");
    assert!(
        grown < 8 * 1024,
        "VmRSS grew by {grown} KiB ({before} -> {after}) over 20,000 writes"
    );
    // Refusals leave the transaction as it was: it commits what it took.
    c.transaction_end(tx, true).expect("commit");
    assert_eq!(c.read(0, "/t/one").expect("read"), value);
}

#[test]
fn a_long_token_watch_is_refused_or_its_events_arrive_whole() {
    let max = ABS_PATH_MAX.to_string();
    let d = Xenstored::start(
        &scratch("long-token").expect("scratch dir"),
        &["--session", "--path-max", &max],
        &[],
    )
    .expect("start");
    let mut c = Client::connect(&d.socket()).expect("connect");
    let room = PAYLOAD_MAX - ABS_PATH_MAX - 2;
    match c.watch("/w", &"t".repeat(room + 1)) {
        Err(ClientError::Xs(XsError::E2big)) => {}
        other => panic!("a token that cannot fit with a path: {other:?}"),
    }
    let token = "t".repeat(room);
    c.watch("/w", &token).expect("a token that fits");
    let (p, t) = c
        .next_event(Duration::from_secs(2))
        .expect("event")
        .expect("the watch's first event");
    assert_eq!((p.as_str(), t.as_slice()), ("/w", token.as_bytes()));
    // The longest path there is.
    let mut path = String::from("/w");
    while path.len() < ABS_PATH_MAX {
        path.push_str(if path.len() + 2 <= ABS_PATH_MAX {
            "/a"
        } else {
            "b"
        });
    }
    let mut writer = Client::connect(&d.socket()).expect("connect");
    writer
        .write(0, &path, b"v")
        .expect("write the longest path");
    let (p, t) = c
        .next_event(Duration::from_secs(2))
        .expect("event")
        .expect("an event for the write");
    assert_eq!(p, path, "the path whole");
    assert_eq!(t, token.as_bytes(), "the token whole");
    // The connection still speaks frames: nothing was cut.
    assert_eq!(c.read(0, &path).expect("read"), b"v");
}

#[test]
fn the_deepest_write_and_a_big_commit_survive_a_restart() {
    let dir = scratch("journal-size").expect("scratch dir");
    let mut path = String::from("/d");
    while path.len() + 2 <= 2048 {
        path.push_str("/a");
    }
    let value = vec![b'v'; 4000];
    {
        let d = Xenstored::start(&dir, &["--session"], &[]).expect("start");
        let mut c = Client::connect(&d.socket()).expect("connect");
        // Nodes with long paths and values, for a snapshot to hold.
        for i in 0..600 {
            c.write(0, &format!("/s/n{i}/{}", "p".repeat(1900)), &value[..2000])
                .expect("write");
        }
        // About 1,000 nodes created by one request.
        c.write(0, &path, b"deep").expect("the deepest path");
        // A commit as big as a transaction may be: the same path rewritten
        // until the bound refuses, then many paths.
        let tx = c.transaction_start().expect("start");
        while c.write(tx, "/t/one", &value).is_ok() {}
        c.transaction_end(tx, true).expect("commit");
        let tx = c.transaction_start().expect("start");
        let mut n = 0;
        while n < 5000 && c.write(tx, &format!("/t/many/n{n}"), &value[..100]).is_ok() {
            n += 1;
        }
        c.transaction_end(tx, true).expect("commit");
        assert!(n > 100, "{n} writes");
    }
    let d = Xenstored::start(&dir, &["--session"], &[]).expect("restart: the journal is readable");
    let mut c = Client::connect(&d.socket()).expect("connect");
    assert_eq!(c.read(0, &path).expect("read"), b"deep");
    assert_eq!(c.read(0, "/t/one").expect("read"), value);
    assert_eq!(c.read(0, "/t/many/n100").expect("read"), &value[..100]);
    let long = format!("/s/n599/{}", "p".repeat(1900));
    assert_eq!(c.read(0, &long).expect("read"), &value[..2000]);
}
