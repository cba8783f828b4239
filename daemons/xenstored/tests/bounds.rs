//! The daemon's bounds as a client meets them, request frames in and
//! reply and event frames out: transactional changes meet the same rules
//! as direct ones, a commit refused half-way applies nothing (and
//! journals and announces nothing), `virt_manage` peers have quotas of
//! their own, and no frame is longer than 4,096 payload bytes or cut.

use xenstored::daemon::{Change, ControlLimits, Daemon, Limits, ManageLimits, Outgoing, Role};
use xenstored::perms::Perms;
use xenstored::store::{Caller, Quota, Store};
use xenstored::txn::TxOp;
use xenstored::wire::{ABS_PATH_MAX, Frame, MsgType, PAYLOAD_MAX};

const CONTROL: u64 = 1;
const MANAGE: u64 = 2;
const DOM5: u64 = 3;
const DOM5_AGAIN: u64 = 4;

fn daemon(limits: Limits) -> Daemon {
    let mut d = Daemon::new(
        Store::new(Quota {
            entry_nb: 6,
            entry_size: 64,
            perm_nb: 3,
        }),
        limits,
    );
    d.connect(CONTROL, Role::Control, false);
    d.connect(MANAGE, Role::Manage, false);
    d.connect(DOM5, Role::Domain(5), false);
    d.connect(DOM5_AGAIN, Role::Domain(5), false);
    // Domain 5 owns its home (1 node of its 6).
    d.store
        .mkdir(Caller::Privileged, "/local/domain/5")
        .expect("home");
    d.store
        .set_perms(
            Caller::Privileged,
            "/local/domain/5",
            Perms::parse(&[b"n5"]).expect("perms"),
        )
        .expect("perms");
    d
}

fn send(d: &mut Daemon, conn: u64, ty: MsgType, tx: u32, payload: &[u8]) -> Vec<Outgoing> {
    let out = d.handle(
        conn,
        &Frame {
            ty: ty.number(),
            req_id: 7,
            tx_id: tx,
            payload: payload.to_vec(),
        },
    );
    for o in &out {
        assert!(
            o.frame.payload.len() <= PAYLOAD_MAX,
            "a frame of {} payload bytes",
            o.frame.payload.len()
        );
        assert!(o.frame.encode().is_ok());
    }
    out
}

/// The reply: `OK`, the payload, or the error's name.
fn ask(d: &mut Daemon, conn: u64, ty: MsgType, tx: u32, payload: &[u8]) -> String {
    let out = send(d, conn, ty, tx, payload);
    String::from_utf8_lossy(&out[0].frame.payload)
        .trim_end_matches('\0')
        .to_string()
}

fn start_tx(d: &mut Daemon, conn: u64) -> u32 {
    ask(d, conn, MsgType::TransactionStart, 0, b"\0")
        .parse()
        .expect("a transaction id")
}

/// The changes domain 5 tries, each a request and what it breaks.
fn attempts() -> Vec<(&'static str, MsgType, Vec<u8>)> {
    let long = format!("/local/domain/5/{}\0", "p".repeat(65));
    vec![
        ("fits", MsgType::Write, b"a\0small".to_vec()),
        (
            "entry size",
            MsgType::Write,
            [&b"b\0"[..], &[b'x'; 65]].concat(),
        ),
        (
            "entry size, at the bound",
            MsgType::Write,
            [&b"b\0"[..], &[b'x'; 64]].concat(),
        ),
        (
            "permission count",
            MsgType::SetPerms,
            b"a\0n5\0r1\0r2\0r3\0".to_vec(),
        ),
        (
            "permissions, at the bound",
            MsgType::SetPerms,
            b"a\0n5\0r1\0r2\0".to_vec(),
        ),
        ("giving a node away", MsgType::SetPerms, b"a\0n6\0".to_vec()),
        (
            "path length",
            MsgType::Write,
            [long.as_bytes(), b"v"].concat(),
        ),
        ("node quota: 5 more", MsgType::Write, b"c/d/e\0".to_vec()),
        ("node quota: full", MsgType::Mkdir, b"f\0".to_vec()),
        (
            "node quota: full, a deep path",
            MsgType::Write,
            b"g/h\0".to_vec(),
        ),
        ("no access", MsgType::Write, b"/tool/x\0".to_vec()),
    ]
}

fn limits() -> Limits {
    Limits {
        path_max: 64,
        ..Limits::default()
    }
}

#[test]
fn transactional_changes_meet_the_rules_of_direct_ones() {
    let direct: Vec<String> = {
        let mut d = daemon(limits());
        attempts()
            .into_iter()
            .map(|(_, ty, p)| ask(&mut d, DOM5, ty, 0, &p))
            .collect()
    };
    let mut d = daemon(limits());
    let tx = start_tx(&mut d, DOM5);
    let in_tx: Vec<String> = attempts()
        .into_iter()
        .map(|(_, ty, p)| ask(&mut d, DOM5, ty, tx, &p))
        .collect();
    let names: Vec<&str> = attempts().into_iter().map(|(n, _, _)| n).collect();
    let expected = [
        "OK", "ENOSPC", "OK", "ENOSPC", "OK", "EPERM", "EINVAL", "OK", "ENOSPC", "ENOSPC", "EACCES",
    ];
    assert_eq!(direct, expected, "direct: {names:?}");
    assert_eq!(
        in_tx, direct,
        "in a transaction, the same answers: {names:?}"
    );
    assert_eq!(ask(&mut d, DOM5, MsgType::TransactionEnd, tx, b"T\0"), "OK");
    assert_eq!(
        d.store.owned_by(5),
        6,
        "the commit holds what the answers said"
    );
    assert_eq!(ask(&mut d, DOM5, MsgType::Read, 0, b"b\0"), "x".repeat(64));
}

#[test]
fn a_commit_refused_half_way_applies_journals_and_announces_nothing() {
    let mut d = daemon(Limits::default());
    // Domain 5 also owns /spare5: 2 of its 6 nodes.
    d.store.mkdir(Caller::Privileged, "/spare5").expect("mkdir");
    d.store
        .set_perms(
            Caller::Privileged,
            "/spare5",
            Perms::parse(&[b"n5"]).expect("perms"),
        )
        .expect("perms");
    assert_eq!(
        ask(&mut d, CONTROL, MsgType::Watch, 0, b"/local/domain/5\0w\0"),
        "OK"
    );
    let tx = start_tx(&mut d, DOM5);
    assert_eq!(ask(&mut d, DOM5, MsgType::Write, tx, b"a\0first"), "OK");
    assert_eq!(ask(&mut d, DOM5, MsgType::Write, tx, b"b\0second"), "OK");
    assert_eq!(
        ask(&mut d, DOM5, MsgType::SetPerms, tx, b"a\0n5\0r0\0"),
        "OK"
    );
    // Meanwhile, elsewhere (nothing the transaction saw), domain 5 uses
    // its quota up to one node: the commit's first write fits, its second not.
    for n in ["x1", "x2", "x3"] {
        assert_eq!(
            ask(
                &mut d,
                DOM5_AGAIN,
                MsgType::Write,
                0,
                format!("/spare5/{n}\0").as_bytes()
            ),
            "OK"
        );
    }
    assert_eq!(d.store.owned_by(5), 5);
    let generation = d.store.generation_of("/local/domain/5");
    d.pending.clear();
    let out = send(&mut d, DOM5, MsgType::TransactionEnd, tx, b"T\0");
    assert_eq!(out[0].frame.payload, b"ENOSPC\0");
    assert_eq!(out.len(), 1, "no watch event: {out:?}");
    assert!(d.pending.is_empty(), "nothing to journal: {:?}", d.pending);
    assert!(
        !d.store.exists("/local/domain/5/a"),
        "the first write was undone"
    );
    assert!(!d.store.exists("/local/domain/5/b"));
    assert_eq!(d.store.owned_by(5), 5);
    assert_eq!(
        d.store.generation_of("/local/domain/5"),
        generation,
        "not even the generation moved"
    );
    // A commit that goes through is journaled and announced, all of it.
    assert_eq!(
        ask(&mut d, DOM5_AGAIN, MsgType::Rm, 0, b"/spare5/x3\0"),
        "OK"
    );
    d.pending.clear();
    let tx = start_tx(&mut d, DOM5);
    assert_eq!(ask(&mut d, DOM5, MsgType::Write, tx, b"a\0first"), "OK");
    let out = send(&mut d, DOM5, MsgType::TransactionEnd, tx, b"T\0");
    assert_eq!(out[0].frame.payload, b"OK\0");
    assert!(
        out.iter()
            .any(|o| o.conn == CONTROL && o.frame.payload == b"/local/domain/5/a\0w\0"),
        "{out:?}"
    );
    assert!(!d.pending.is_empty(), "journaled");
}

#[test]
fn virt_manage_peers_have_quotas_of_their_own() {
    let mut d = daemon(Limits {
        manage: ManageLimits {
            quota: Quota {
                entry_nb: 5,
                entry_size: 16,
                perm_nb: 2,
            },
            watch_nb: 2,
            transaction: 1,
        },
        ..Limits::default()
    });
    assert_eq!(
        ask(&mut d, MANAGE, MsgType::Write, 0, b"/vm/1/name\0guest"),
        "OK"
    );
    assert_eq!(ask(&mut d, MANAGE, MsgType::Write, 0, b"/vm/2\0"), "OK");
    assert_eq!(
        ask(&mut d, MANAGE, MsgType::Write, 0, b"/vm/3/name\0"),
        "ENOSPC",
        "6 nodes: over the node quota"
    );
    assert_eq!(ask(&mut d, MANAGE, MsgType::Write, 0, b"/vm/3\0"), "OK");
    assert_eq!(ask(&mut d, MANAGE, MsgType::Write, 0, b"/vm/4\0"), "ENOSPC");
    assert_eq!(
        ask(
            &mut d,
            MANAGE,
            MsgType::Write,
            0,
            b"/vm/1/name\0seventeen-bytes!!"
        ),
        "ENOSPC",
        "node size"
    );
    assert_eq!(
        ask(&mut d, MANAGE, MsgType::SetPerms, 0, b"/vm/1\0n0\0r1\0r2\0"),
        "ENOSPC",
        "permission count"
    );
    assert_eq!(ask(&mut d, MANAGE, MsgType::Watch, 0, b"/vm\0a\0"), "OK");
    assert_eq!(ask(&mut d, MANAGE, MsgType::Watch, 0, b"/vm\0b\0"), "OK");
    assert_eq!(ask(&mut d, MANAGE, MsgType::Watch, 0, b"/vm\0c\0"), "E2BIG");
    let tx = start_tx(&mut d, MANAGE);
    assert_eq!(
        ask(&mut d, MANAGE, MsgType::TransactionStart, 0, b"\0"),
        "ENOSPC",
        "one transaction at a time"
    );
    assert_eq!(
        ask(&mut d, MANAGE, MsgType::Write, tx, b"/vm/5\0"),
        "ENOSPC",
        "the node quota holds in a transaction"
    );
    // Removal gives quota back; xvm_control is bound by none of this.
    assert_eq!(ask(&mut d, MANAGE, MsgType::Rm, 0, b"/vm/2\0"), "OK");
    assert_eq!(ask(&mut d, MANAGE, MsgType::Write, 0, b"/vm/4\0"), "OK");
    for i in 0..50 {
        assert_eq!(
            ask(
                &mut d,
                CONTROL,
                MsgType::Write,
                0,
                format!("/c/{i}\0{}", "v".repeat(100)).as_bytes()
            ),
            "OK"
        );
    }
    for t in ["a", "b", "c", "d"] {
        assert_eq!(
            ask(
                &mut d,
                CONTROL,
                MsgType::Watch,
                0,
                format!("/vm\0{t}\0").as_bytes()
            ),
            "OK"
        );
    }
    // Still dom0 for node permissions.
    assert_eq!(
        ask(&mut d, MANAGE, MsgType::Read, 0, b"/c/1\0"),
        "v".repeat(100)
    );
}

#[test]
fn a_watch_whose_events_could_not_fit_is_refused_and_events_arrive_whole() {
    let mut d = daemon(Limits {
        path_max: ABS_PATH_MAX,
        ..Limits::default()
    });
    // `path\0token\0` with the longest path: 3072 + 1 + token + 1 <= 4096.
    let room = PAYLOAD_MAX - ABS_PATH_MAX - 2;
    let too_long = "t".repeat(room + 1);
    assert_eq!(
        ask(
            &mut d,
            CONTROL,
            MsgType::Watch,
            0,
            format!("/w\0{too_long}\0").as_bytes()
        ),
        "E2BIG"
    );
    assert_eq!(
        ask(
            &mut d,
            MANAGE,
            MsgType::Watch,
            0,
            format!("/w\0{too_long}\0").as_bytes()
        ),
        "E2BIG"
    );
    // A special name reports itself: its token may be longer.
    let special = "@introduceDomain";
    let fits = "s".repeat(PAYLOAD_MAX - special.len() - 2);
    assert_eq!(
        ask(
            &mut d,
            CONTROL,
            MsgType::Watch,
            0,
            format!("{special}\0{fits}x\0").as_bytes()
        ),
        "E2BIG"
    );
    let out = send(
        &mut d,
        CONTROL,
        MsgType::Watch,
        0,
        format!("{special}\0{fits}\0").as_bytes(),
    );
    assert_eq!(
        out[1].frame.payload.len(),
        PAYLOAD_MAX,
        "the first event, whole"
    );

    let token = "t".repeat(room);
    let out = send(
        &mut d,
        CONTROL,
        MsgType::Watch,
        0,
        format!("/w\0{token}\0").as_bytes(),
    );
    assert_eq!(out[0].frame.payload, b"OK\0");
    // The longest path there is, beneath the watch.
    let mut path = String::from("/w");
    while path.len() + 2 <= ABS_PATH_MAX {
        path.push_str("/a");
    }
    if path.len() < ABS_PATH_MAX {
        path.push('b');
    }
    assert_eq!(path.len(), ABS_PATH_MAX);
    let out = send(
        &mut d,
        CONTROL,
        MsgType::Write,
        0,
        format!("{path}\0v").as_bytes(),
    );
    assert_eq!(out[0].frame.payload, b"OK\0");
    let event = out
        .iter()
        .find(|o| {
            o.frame.ty == MsgType::WatchEvent.number()
                && o.frame.payload.starts_with(path.as_bytes())
        })
        .expect("an event for the longest path");
    assert_eq!(event.frame.payload.len(), PAYLOAD_MAX);
    assert_eq!(
        event.frame.payload,
        format!("{path}\0{token}\0").into_bytes(),
        "whole: the token intact, the last NUL there"
    );
    // A path longer than that is no path.
    assert_eq!(
        ask(
            &mut d,
            CONTROL,
            MsgType::Write,
            0,
            format!("{path}c\0v").as_bytes()
        ),
        "EINVAL"
    );
}

#[test]
fn request_types_are_gated_by_role_and_socket() {
    let mut d = daemon(Limits::default());
    d.connect(9, Role::Control, true);
    let control_only = [
        (MsgType::Introduce, &b"8\x000\x001\0"[..]),
        (MsgType::IsDomainIntroduced, b"8\0"),
        (MsgType::SetTarget, b"8\x009\0"),
        (MsgType::Resume, b"8\0"),
        (MsgType::Release, b"8\0"),
        (MsgType::Control, b"quota\0"),
    ];
    for (ty, p) in control_only {
        assert_eq!(
            ask(&mut d, MANAGE, ty, 0, p),
            "EACCES",
            "{ty:?} by virt_manage"
        );
        assert_eq!(ask(&mut d, DOM5, ty, 0, p), "EACCES", "{ty:?} by a domain");
    }
    for (ty, p) in [
        (MsgType::Write, &b"/x\0v"[..]),
        (MsgType::Mkdir, b"/x\0"),
        (MsgType::Rm, b"/x\0"),
        (MsgType::SetPerms, b"/x\0n0\0"),
        (MsgType::TransactionStart, b"\0"),
        (MsgType::TransactionEnd, b"T\0"),
        (MsgType::Introduce, b"8\x000\x001\0"),
        (MsgType::Control, b"quota\0"),
    ] {
        assert_eq!(ask(&mut d, 9, ty, 0, p), "EROFS", "{ty:?} on socket_ro");
    }
    assert_eq!(ask(&mut d, 9, MsgType::IsDomainIntroduced, 0, b"0\0"), "T");
    for ty in [MsgType::WatchEvent, MsgType::Error] {
        assert_eq!(ask(&mut d, CONTROL, ty, 0, b""), "ENOSYS");
    }
    let quota = ask(&mut d, CONTROL, MsgType::Control, 0, b"quota\0");
    for row in [
        "transaction-nodes",
        "transaction-ops",
        "transaction-memory",
        "manage-nodes",
    ] {
        assert!(quota.contains(row), "{quota}");
    }
}

#[test]
fn a_commit_is_journaled_as_what_it_left() {
    let mut d = daemon(Limits::default());
    let tx = start_tx(&mut d, CONTROL);
    for i in 0..100 {
        let w = format!("/r/x\0{i}");
        assert_eq!(ask(&mut d, CONTROL, MsgType::Write, tx, w.as_bytes()), "OK");
    }
    assert_eq!(ask(&mut d, CONTROL, MsgType::Rm, tx, b"/r/x\0"), "OK");
    assert_eq!(
        ask(&mut d, CONTROL, MsgType::Write, tx, b"/r/x\0last"),
        "OK"
    );
    d.pending.clear();
    assert_eq!(
        ask(&mut d, CONTROL, MsgType::TransactionEnd, tx, b"T\0"),
        "OK"
    );
    let writes: Vec<&[u8]> = d
        .pending
        .iter()
        .filter_map(|c| match c {
            Change::Op(TxOp::Write(p, v)) if p == "/r/x" => Some(v.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(
        writes,
        [&b"last"[..], b"last"],
        "once before the RM, once after: {:?}",
        d.pending
    );
}

#[test]
fn an_xvm_control_connection_is_bounded_too() {
    let mut d = daemon(Limits {
        control: ControlLimits {
            watch_nb: 3,
            transaction: 2,
        },
        ..Limits::default()
    });
    for t in ["a", "b", "c"] {
        let w = format!("/vm\0{t}\0");
        assert_eq!(ask(&mut d, CONTROL, MsgType::Watch, 0, w.as_bytes()), "OK");
    }
    assert_eq!(
        ask(&mut d, CONTROL, MsgType::Watch, 0, b"/vm\0d\0"),
        "E2BIG",
        "the fourth watch"
    );
    start_tx(&mut d, CONTROL);
    start_tx(&mut d, CONTROL);
    assert_eq!(
        ask(&mut d, CONTROL, MsgType::TransactionStart, 0, b"\0"),
        "ENOSPC",
        "the third open transaction"
    );
}
