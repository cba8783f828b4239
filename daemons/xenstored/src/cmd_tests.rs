//! Payloads parsed into requests, and what each refusal names.

use super::*;
use crate::path::NodePath;

fn parse(ty: MsgType, bytes: &[u8]) -> Result<Request, ParseError> {
    Request::parse(
        ty,
        &Payload {
            bytes,
            home: 5,
            path_max: 2048,
        },
    )
}

#[test]
fn paths_resolve_against_the_home_domain() {
    assert_eq!(
        parse(MsgType::Read, b"x/y\0"),
        Ok(Request::Read(node::OnNode {
            path: "/local/domain/5/x/y".into()
        }))
    );
    assert_eq!(
        parse(MsgType::Write, b"/a\0v\0w"),
        Ok(Request::Write(node::Write {
            path: "/a".into(),
            value: b"v\0w".to_vec()
        }))
    );
}

#[test]
fn each_refusal_names_what_was_wrong_and_keeps_its_errno() {
    let e = parse(MsgType::Read, b"/a\0/b\0").expect_err("two paths");
    assert_eq!(e, ParseError::Strings { want: "1", got: 2 });
    assert_eq!(e.errno(), XsError::Einval);
    assert_eq!(parse(MsgType::Write, b"/a"), Err(ParseError::NoValue));
    assert_eq!(
        parse(MsgType::Read, b"@introduceDomain\0"),
        Err(ParseError::Special("@introduceDomain".into()))
    );
    assert_eq!(
        parse(MsgType::Read, b"/a//b\0"),
        Err(ParseError::Path(XsError::Einval))
    );
    let e = parse(MsgType::Introduce, b"4\0x\09\0").expect_err("mfn");
    assert!(matches!(e, ParseError::Number { field: "mfn", .. }), "{e}");
    assert_eq!(e.to_string(), "mfn: invalid digit found in string");
    assert_eq!(
        parse(MsgType::Introduce, b"4\x000\x000\0"),
        Err(ParseError::Zero("port"))
    );
    assert_eq!(
        parse(MsgType::Release, b"0\0"),
        Err(ParseError::Zero("domid"))
    );
    assert_eq!(
        parse(MsgType::TransactionEnd, b"X\0"),
        Err(ParseError::CommitFlag)
    );
    assert_eq!(
        parse(MsgType::Control, b"log\0maybe\0"),
        Err(ParseError::Control("log maybe".into()))
    );
    let e = parse(MsgType::WatchEvent, b"/a\0t\0").expect_err("not a request");
    assert_eq!(e.errno(), XsError::Enosys);
}

#[test]
fn a_watch_whose_events_cannot_fit_a_frame_is_e2big() {
    let mut long = b"/w\0".to_vec();
    long.extend(std::iter::repeat_n(b't', PAYLOAD_MAX));
    long.push(0);
    let e = parse(MsgType::Watch, &long).expect_err("too long");
    assert_eq!(e.errno(), XsError::E2big);
    assert_eq!(
        parse(MsgType::Watch, b"@releaseDomain\0tok\0"),
        Ok(Request::Watch(crate::watch::Watch {
            given: "@releaseDomain".into(),
            path: NodePath::Special("@releaseDomain".into()),
            token: b"tok".to_vec(),
        }))
    );
}

#[test]
fn every_request_type_has_a_gate() {
    for n in 0..=u32::from(u8::MAX) {
        let Some(ty) = MsgType::from_number(n) else {
            continue;
        };
        let needs = gate(ty);
        let daemon_only = matches!(ty, MsgType::WatchEvent | MsgType::Error);
        assert_eq!(needs.access == Access::NotARequest, daemon_only, "{ty:?}");
        if matches!(needs.access, Access::Write | Access::ControlWrite) {
            assert_eq!(
                admit(needs.access, Role::Control, true),
                Err(XsError::Erofs)
            );
        }
    }
    assert_eq!(
        admit(Access::ControlRead, Role::Manage, false),
        Err(XsError::Eacces)
    );
    assert_eq!(admit(Access::Read, Role::Domain(3), true), Ok(()));
}
