//! The protocol's types: names, params and errors as the wire has them.
use super::*;
use serde_json::json;

#[test]
fn every_method_has_one_name_and_its_params_round_trip() {
    for m in Method::ALL {
        assert_eq!(Method::from_name(m.name()), Some(m));
    }
    let calls = [
        Call::List,
        Call::Create(ConfigParams {
            source: "a.cfg".into(),
            config: "name = \"a\"\n".into(),
        }),
        Call::Destroy(DomainParams { domain: "a".into() }),
        Call::BlockAttach(BlockAttachParams {
            domain: "a".into(),
            target: "phy:/dev/vg0/b".into(),
            vdev: "xvdb".into(),
            mode: "w".into(),
        }),
        Call::BlockDetach(DeviceParams {
            domain: "a".into(),
            device: "xvdb".into(),
        }),
        Call::NetworkAttach(NetworkAttachParams {
            domain: "a".into(),
            spec: "bridge=xenbr0".into(),
        }),
        Call::NetworkDetach(DeviceParams {
            domain: "a".into(),
            device: "1".into(),
        }),
        Call::BlockList(DomainParams { domain: "a".into() }),
    ];
    for c in calls {
        assert_eq!(Call::parse(c.method().name(), c.params()), Ok(c.clone()));
    }
    assert_eq!(Call::parse("domain.list", Value::Null), Ok(Call::List));
}

#[test]
fn wrong_params_name_the_method_and_what_is_wrong() {
    let e = Call::parse("domain.destroy", json!({"dom": "a"})).expect_err("shape");
    assert_eq!(e.code, INVALID_PARAMS);
    assert!(
        e.message.starts_with("domain.destroy: invalid params: "),
        "{e}"
    );
    assert!(e.message.contains("dom"), "{e}");
    let e = Call::parse("domain.create", json!({"source": "x"})).expect_err("missing");
    assert!(e.message.contains("missing field `config`"), "{e}");
    let e = Call::parse("domain.list", json!([1])).expect_err("an array");
    assert_eq!(e.code, INVALID_PARAMS);
    let e = Call::parse("domain.frobnicate", Value::Null).expect_err("unknown");
    assert_eq!(
        (e.code, e.message.as_str()),
        (METHOD_NOT_FOUND, "no method domain.frobnicate")
    );
}

#[test]
fn kinds_have_codes_of_their_own_in_the_application_range() {
    let kinds = [
        ErrorKind::Failed,
        ErrorKind::NoDomain,
        ErrorKind::Busy,
        ErrorKind::Limit,
        ErrorKind::BadConfig,
        ErrorKind::NoDevice,
        ErrorKind::Disabled,
        ErrorKind::Migration,
    ];
    let mut codes: Vec<i64> = kinds.iter().map(|k| k.code()).collect();
    codes.push(DENIED);
    assert!(codes.iter().all(|c| (-32099..=-32000).contains(c)));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), kinds.len() + 1);
    let e = RpcError::failed(ErrorKind::NoDomain, "no domain a");
    assert_eq!(
        serde_json::to_value(&e).expect("encodes"),
        json!({"code": -32002, "message": "no domain a", "data": {"kind": "no_domain"}})
    );
}

#[test]
fn a_row_reads_as_the_wire_has_it() {
    let row: DomainInfo = serde_json::from_value(json!({
        "name": "Domain-0", "domid": 0, "memory": 512, "vcpus": 2,
        "state": "r-----", "time": 0.0
    }))
    .expect("a row");
    assert_eq!(
        (row.domid, row.state, row.uuid),
        (Some(0), DomainState::Running, None)
    );
    assert_eq!(row.state.letters(), "r-----");
}
