//! The journal: replay, torn tails, damage, snapshots.

use super::*;
use crate::daemon::{Limits, Role};
use crate::perms::Perms;
use crate::store::Caller;
use crate::store::{Quota, Store};
use crate::wire::MsgType::{Introduce, Rm, SetPerms, SetTarget, Write};
use crate::wire::{Frame, MsgType};

fn daemon() -> Daemon {
    let mut d = Daemon::new(Store::new(Quota::default()), Limits::default());
    d.connect(1, Role::Control, false);
    d.connect(2, Role::Domain(4), false);
    d
}

fn send(d: &mut Daemon, j: &mut Journal, conn: u64, ty: MsgType, payload: &[u8]) {
    let _ = d.handle(
        conn,
        &Frame {
            ty: ty.number(),
            req_id: 1,
            tx_id: 0,
            payload: payload.to_vec(),
        },
    );
    let changes = std::mem::take(&mut d.pending);
    j.record(&changes).expect("record");
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xvm-journal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

#[test]
fn crc_matches_the_ieee_check_value() {
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

#[test]
fn a_replay_gives_back_the_tree_permissions_and_domains() {
    let p = dir("replay").join("tdb");
    let mut d = daemon();
    let mut j = Journal::open(&p, &mut d).expect("open");
    send(&mut d, &mut j, 1, Write, b"/local/domain/4/x\0v");
    send(&mut d, &mut j, 1, SetPerms, b"/local/domain/4\0n4\0");
    send(&mut d, &mut j, 2, Write, b"/local/domain/4/a/b\0mine");
    send(&mut d, &mut j, 1, Introduce, b"4\x000\x009\0");
    send(&mut d, &mut j, 1, Introduce, b"5\x000\x0010\0");
    send(&mut d, &mut j, 1, SetTarget, b"5\x004\0");
    send(&mut d, &mut j, 1, Rm, b"/local/domain/4/x\0");
    drop(j);
    let mut again = daemon();
    let j = Journal::open(&p, &mut again).expect("reopen");
    assert_eq!(again.domains, d.domains, "domains and targets come back");
    // And again through a snapshot.
    let mut j = j;
    j.compact(&again).expect("compact");
    drop(j);
    let mut third = daemon();
    let _j = Journal::open(&p, &mut third).expect("reopen the snapshot");
    assert_eq!(third.domains, d.domains, "a snapshot keeps targets");
    assert_eq!(third.store.walk(), d.store.walk());
    assert_eq!(
        again.store.read(Caller::Privileged, "/local/domain/4/a/b"),
        Ok(&b"mine"[..])
    );
    assert_eq!(
        again
            .store
            .get_perms(Caller::Privileged, "/local/domain/4/a")
            .map(Perms::owner_id),
        Ok(4),
        "a created parent keeps its owner"
    );
    assert!(!again.store.exists("/local/domain/4/x"));
    assert!(again.domains.contains_key(&4));
    assert_eq!(again.store.walk().len(), d.store.walk().len());
}

#[test]
fn a_torn_tail_is_cut_and_damage_is_refused() {
    let p = dir("torn").join("tdb");
    let mut d = daemon();
    let mut j = Journal::open(&p, &mut d).expect("open");
    send(&mut d, &mut j, 1, Write, b"/a\0one");
    send(&mut d, &mut j, 1, Write, b"/b\0two");
    drop(j);
    let full = std::fs::read(&p).expect("read");
    std::fs::write(&p, &full[..full.len() - 3]).expect("tear");
    let mut again = daemon();
    Journal::open(&p, &mut again).expect("torn tail is fine");
    assert!(again.store.exists("/a") && !again.store.exists("/b"));
    let mut bad = full.clone();
    bad[12] ^= 0xff;
    std::fs::write(&p, &bad).expect("damage");
    let e = Journal::open(&p, &mut daemon()).expect_err("damage");
    assert!(
        e.to_string().contains("damaged at byte 8") && e.to_string().contains("checksum"),
        "{e}"
    );
}

#[test]
fn a_record_longer_than_the_bound_is_refused_before_it_is_read() {
    let p = dir("long").join("tdb");
    let mut huge = MAGIC.to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(&[0; 4]);
    std::fs::write(&p, &huge).expect("write");
    let e = Journal::open(&p, &mut daemon()).expect_err("too long");
    assert!(
        matches!(
            e,
            JournalError::Damaged {
                offset: 8,
                what: Damage::TooLong(0xffff_ffff),
                ..
            }
        ),
        "{e}"
    );
    std::fs::write(&p, b"XVMTDB2\n").expect("write");
    let e = Journal::open(&p, &mut daemon()).expect_err("not ours");
    assert!(
        e.to_string().contains("not a journal of this xenstored"),
        "{e}"
    );
}

#[test]
fn a_snapshot_replaces_the_journal_atomically() {
    let p = dir("compact").join("tdb");
    let mut d = daemon();
    let mut j = Journal::open(&p, &mut d).expect("open");
    for i in 0..50 {
        send(&mut d, &mut j, 1, Write, format!("/k\0{i}").as_bytes());
    }
    let before = std::fs::metadata(&p).expect("stat").len();
    j.compact(&d).expect("compact");
    assert!(std::fs::metadata(&p).expect("stat").len() < before);
    send(&mut d, &mut j, 1, Write, b"/after\0x");
    let mut again = daemon();
    Journal::open(&p, &mut again).expect("reopen");
    assert_eq!(again.store.read(Caller::Privileged, "/k"), Ok(&b"49"[..]));
    assert!(again.store.exists("/after"));
}
