//! Requests as frames, replies and events checked as a client sees them.

use super::*;
use crate::store::Quota;
use crate::wire::XsError;

fn daemon() -> Daemon {
    let mut d = Daemon::new(
        Store::new(Quota {
            entry_nb: 20,
            entry_size: 64,
            perm_nb: 5,
        }),
        Limits {
            watch_nb: 3,
            ..Limits::default()
        },
    );
    d.connect(1, Role::Control, false);
    d.connect(2, Role::Manage, false);
    d.connect(3, Role::Domain(5), false);
    d.connect(4, Role::Control, true);
    d
}

fn req(d: &mut Daemon, conn: u64, ty: MsgType, tx: u32, payload: &[u8]) -> Vec<Outgoing> {
    d.handle(
        conn,
        &Frame {
            ty: ty.number(),
            req_id: 9,
            tx_id: tx,
            payload: payload.to_vec(),
        },
    )
}

fn reply(d: &mut Daemon, conn: u64, ty: MsgType, payload: &[u8]) -> Result<Vec<u8>, XsError> {
    let out = req(d, conn, ty, 0, payload);
    let f = &out[0].frame;
    assert_eq!(out[0].conn, conn);
    assert_eq!(f.req_id, 9);
    if f.ty == MsgType::Error.number() {
        let name = f.payload.strip_suffix(&[0]).unwrap_or(&f.payload);
        let e = XsError::from_name(name);
        assert_eq!(e.name().as_bytes(), name, "a known error name");
        Err(e)
    } else {
        assert_eq!(f.ty, ty.number());
        Ok(f.payload.clone())
    }
}

#[test]
fn read_write_directory_and_errors() {
    let mut d = daemon();
    assert_eq!(
        reply(&mut d, 1, MsgType::Write, b"/a/b\0hello"),
        Ok(b"OK\0".to_vec())
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Read, b"/a/b\0"),
        Ok(b"hello".to_vec())
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Directory, b"/a\0"),
        Ok(b"b\0".to_vec())
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Read, b"/nope\0"),
        Err(XsError::Enoent)
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Write, b"/no-nul"),
        Err(XsError::Einval)
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Read, b"/a//b\0"),
        Err(XsError::Einval)
    );
    assert_eq!(reply(&mut d, 1, MsgType::Rm, b"/a\0"), Ok(b"OK\0".to_vec()));
    let unknown = d.handle(
        1,
        &Frame {
            ty: 20,
            req_id: 9,
            tx_id: 0,
            payload: vec![],
        },
    );
    assert_eq!(unknown[0].frame.payload, b"ENOSYS\0");
}

#[test]
fn relative_paths_live_under_the_home_domain() {
    let mut d = daemon();
    reply(&mut d, 1, MsgType::Write, b"name\0dom0").expect("write");
    assert_eq!(
        reply(&mut d, 1, MsgType::Read, b"/local/domain/0/name\0"),
        Ok(b"dom0".to_vec())
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::GetDomainPath, b"7\0"),
        Ok(b"/local/domain/7\0".to_vec())
    );
}

#[test]
fn roles_decide_what_may_be_sent() {
    let mut d = daemon();
    assert_eq!(
        reply(&mut d, 2, MsgType::Write, b"/m\0v"),
        Ok(b"OK\0".to_vec()),
        "virt_manage writes"
    );
    assert_eq!(
        reply(&mut d, 2, MsgType::Introduce, b"5\x000\x001\0"),
        Err(XsError::Eacces)
    );
    assert_eq!(
        reply(&mut d, 3, MsgType::Introduce, b"5\x000\x001\0"),
        Err(XsError::Eacces)
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Introduce, b"5\x000\x001\0"),
        Ok(b"OK\0".to_vec())
    );
    assert_eq!(
        reply(&mut d, 4, MsgType::Write, b"/x\0v"),
        Err(XsError::Erofs)
    );
    assert_eq!(
        reply(&mut d, 4, MsgType::Read, b"/m\0"),
        Ok(b"v".to_vec()),
        "socket_ro reads"
    );
    assert_eq!(
        reply(&mut d, 3, MsgType::Read, b"/m\0"),
        Err(XsError::Eacces),
        "domain 5 meets n0"
    );
}

#[test]
fn watches_fire_at_once_and_on_change_and_respect_quota() {
    let mut d = daemon();
    let out = req(&mut d, 1, MsgType::Watch, 0, b"/w\0tok\0");
    assert_eq!(out[0].frame.payload, b"OK\0");
    assert_eq!(out[1].frame.ty, MsgType::WatchEvent.number());
    assert_eq!(out[1].frame.payload, b"/w\0tok\0", "immediate first event");
    let out = req(&mut d, 2, MsgType::Write, 0, b"/w/x\0v");
    assert!(
        out.iter()
            .any(|o| o.conn == 1 && o.frame.payload == b"/w/x\0tok\0"),
        "{out:?}"
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Watch, b"/w\0tok\0"),
        Err(XsError::Eexist)
    );
    for i in 0..3 {
        reply(&mut d, 3, MsgType::Watch, format!("/q{i}\0t\0").as_bytes()).expect("within quota");
    }
    assert_eq!(
        reply(&mut d, 3, MsgType::Watch, b"/q9\0t\0"),
        Err(XsError::E2big)
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Unwatch, b"/w\0tok\0"),
        Ok(b"OK\0".to_vec())
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Unwatch, b"/w\0tok\0"),
        Err(XsError::Enoent)
    );
}

#[test]
fn introduce_and_release_fire_their_special_watches() {
    let mut d = daemon();
    req(&mut d, 2, MsgType::Watch, 0, b"@introduceDomain\0i\0");
    req(&mut d, 2, MsgType::Watch, 0, b"@releaseDomain\0r\0");
    let out = req(&mut d, 1, MsgType::Introduce, 0, b"8\x000\x001\0");
    assert!(
        out.iter()
            .any(|o| o.conn == 2 && o.frame.payload == b"@introduceDomain\0i\0"),
        "{out:?}"
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::IsDomainIntroduced, b"8\0"),
        Ok(b"T\0".to_vec())
    );
    // Again: the event channel is rebound, the frame kept, no event.
    let out = req(&mut d, 1, MsgType::Introduce, 0, b"8\x0099\x002\0");
    assert_eq!(out.len(), 1, "no second @introduceDomain: {out:?}");
    assert_eq!((d.domains[&8].mfn, d.domains[&8].port), (0, 2));
    let out = req(&mut d, 1, MsgType::Release, 0, b"8\0");
    assert!(
        out.iter()
            .any(|o| o.conn == 2 && o.frame.payload == b"@releaseDomain\0r\0"),
        "{out:?}"
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::IsDomainIntroduced, b"8\0"),
        Ok(b"F\0".to_vec())
    );
    assert_eq!(
        reply(&mut d, 1, MsgType::Release, b"8\0"),
        Err(XsError::Enoent)
    );
}

#[test]
fn transactions_over_the_wire() {
    let mut d = daemon();
    let id = reply(&mut d, 1, MsgType::TransactionStart, b"\0").expect("start");
    let tx: u32 = String::from_utf8_lossy(&id)
        .trim_end_matches('\0')
        .parse()
        .expect("id");
    let out = req(&mut d, 1, MsgType::Write, tx, b"/t\0in-tx");
    assert_eq!(out[0].frame.payload, b"OK\0");
    assert_eq!(
        reply(&mut d, 2, MsgType::Read, b"/t\0"),
        Err(XsError::Enoent),
        "not visible yet"
    );
    let nested = req(&mut d, 1, MsgType::TransactionStart, tx, b"\0");
    assert_eq!(nested[0].frame.payload, b"EBUSY\0");
    let end = req(&mut d, 1, MsgType::TransactionEnd, tx, b"T\0");
    assert_eq!(end[0].frame.payload, b"OK\0");
    assert_eq!(
        reply(&mut d, 2, MsgType::Read, b"/t\0"),
        Ok(b"in-tx".to_vec())
    );
    let end = req(&mut d, 1, MsgType::TransactionEnd, tx, b"T\0");
    assert_eq!(end[0].frame.payload, b"ENOENT\0");
}

#[test]
fn directory_part_returns_chunks_and_a_double_nul() {
    let mut d = daemon();
    for i in 0..3 {
        reply(&mut d, 1, MsgType::Write, format!("/p/n{i}\0").as_bytes()).expect("write");
    }
    let r = reply(&mut d, 1, MsgType::DirectoryPart, b"/p\x000\0").expect("part");
    let text = String::from_utf8_lossy(&r).to_string();
    assert!(text.ends_with("n0\0n1\0n2\0\0"), "{text:?}");
    let r = reply(&mut d, 1, MsgType::DirectoryPart, b"/p\x006\0").expect("part");
    assert!(String::from_utf8_lossy(&r).ends_with("\0n2\0\0"));
}

#[test]
fn a_reply_too_long_is_e2big() {
    let mut d = daemon();
    for i in 0..400 {
        reply(
            &mut d,
            1,
            MsgType::Write,
            format!("/big/child-number-{i:04}\0").as_bytes(),
        )
        .expect("write");
    }
    assert_eq!(
        reply(&mut d, 1, MsgType::Directory, b"/big\0"),
        Err(XsError::E2big)
    );
}
