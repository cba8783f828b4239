use super::*;

fn row(name: &str, domid: Option<u32>, state: DomainState) -> DomainInfo {
    DomainInfo {
        name: name.into(),
        domid,
        uuid: domid.map(|_| "4dea22b3-1d52-d8f3-2516-782e98ab3fa0".into()),
        memory: 512,
        vcpus: 2,
        state,
        time: 1.0,
        pid: None,
        serial: None,
        managed: true,
        autostart: false,
    }
}

#[test]
fn get_info_ret_has_libvirts_shape_and_units() {
    let b = info_ret(&row("web", Some(3), DomainState::Paused), 7_000);
    let mut d = Dec::new(&b);
    assert_eq!(d.u32("state"), Ok(3), "paused");
    assert_eq!(d.u64("maxMem"), Ok(512 * 1024), "KiB");
    assert_eq!(d.u64("memory"), Ok(512 * 1024));
    assert_eq!(d.u32("nrVirtCpu"), Ok(2), "a ushort takes 4 bytes");
    assert_eq!(d.u64("cpuTime"), Ok(7_000));
    assert_eq!(d.finish("get_info_ret"), Ok(()));
    assert_eq!(b.len(), 4 + 8 + 8 + 4 + 8);
}

#[test]
fn states_map_onto_vir_domain_state() {
    let s = |st, id| state_of(&row("a", id, st));
    assert_eq!(s(DomainState::Running, Some(1)), (1, 1));
    assert_eq!(s(DomainState::Paused, Some(1)), (3, 1));
    assert_eq!(s(DomainState::ShuttingDown, Some(1)), (4, 1));
    assert_eq!(s(DomainState::Crashed, Some(1)), (6, 0));
    assert_eq!(s(DomainState::None, None), (5, 0), "defined, not running");
    assert_eq!(s(DomainState::None, Some(4)), (0, 0), "starting");
}

#[test]
fn a_label_is_chars_with_its_nul_and_says_whether_it_is_enforced() {
    let b = label_ret("uid:1234");
    let mut d = Dec::new(&b);
    assert_eq!(d.u32("count"), Ok(9));
    let chars: Vec<u8> = (0..9)
        .map(|_| u8::try_from(d.i32("c").expect("a char")).expect("ascii"))
        .collect();
    assert_eq!(&chars, b"uid:1234\0");
    assert_eq!(d.i32("enforcing"), Ok(1));
    assert_eq!(d.finish("label"), Ok(()));
    let b = label_ret("");
    let mut d = Dec::new(&b);
    assert_eq!(
        (d.u32("n"), d.i32("nul"), d.i32("enf")),
        (Ok(1), Ok(0), Ok(0))
    );
    assert_eq!(d.finish("empty label"), Ok(()));
}

#[test]
fn a_list_carries_domains_only_when_asked_and_always_the_count() {
    let rows = [
        row("web", Some(3), DomainState::Running),
        row("db", None, DomainState::None),
    ];
    let b = list_ret(&rows, true);
    let mut d = Dec::new(&b);
    assert_eq!(d.u32("count"), Ok(2));
    let web = DomainRef::decode(&mut d).expect("web");
    assert_eq!((web.name.as_str(), web.id), ("web", 3));
    assert_eq!(
        uuid_string(&web.uuid),
        "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
    );
    let db = DomainRef::decode(&mut d).expect("db");
    assert_eq!(
        (db.name.as_str(), db.id, db.uuid),
        ("db", -1, name_uuid("db"))
    );
    assert_eq!(d.u32("ret"), Ok(2));
    assert_eq!(d.finish("list"), Ok(()));
    assert_eq!(list_ret(&rows, false), vec![0, 0, 0, 0, 0, 0, 0, 2]);
}

#[test]
fn list_flags_filter_as_libvirt_does() {
    use list_flags as f;
    let on = row("on", Some(3), DomainState::Running);
    let off = row("off", None, DomainState::None);
    let paused = row("p", Some(4), DomainState::Paused);
    let mut transient = row("t", Some(5), DomainState::Running);
    transient.managed = false;
    let mut auto = row("auto", None, DomainState::None);
    auto.autostart = true;
    let all = [&on, &off, &paused, &transient, &auto];
    let names = |flags| -> Vec<&str> {
        all.iter()
            .filter(|r| listed(r, flags))
            .map(|r| r.name.as_str())
            .collect()
    };
    assert_eq!(names(0), ["on", "off", "p", "t", "auto"]);
    assert_eq!(names(f::ACTIVE | f::INACTIVE), names(0), "virsh list --all");
    assert_eq!(names(f::ACTIVE), ["on", "p", "t"], "virsh list");
    assert_eq!(names(f::INACTIVE), ["off", "auto"]);
    assert_eq!(names(f::TRANSIENT), ["t"]);
    assert_eq!(names(f::PERSISTENT | f::PAUSED), ["p"]);
    assert_eq!(names(f::SHUTOFF), ["off", "auto"]);
    assert_eq!(names(f::AUTOSTART), ["auto"]);
    assert_eq!(names(f::MANAGEDSAVE), Vec::<&str>::new());
    assert_eq!(names(f::NO_SNAPSHOT), names(0));
}

#[test]
fn unknown_flags_are_refused_naming_them() {
    let e = check_flags(Proc::ConnectListAllDomains, 1 << 20, list_flags::ALL).expect_err("bit 20");
    assert_eq!(e.code, Code::InvalidArg);
    assert_eq!(
        e.message,
        "unsupported flags (0x100000) in function CONNECT_LIST_ALL_DOMAINS"
    );
    assert!(check_flags(Proc::DomainGetState, 0, 0).is_ok());
}

#[test]
fn a_domain_is_found_by_uuid_or_by_the_name_its_made_uuid_came_from() {
    let rows = || {
        vec![
            row("web", Some(3), DomainState::Running),
            row("db", None, DomainState::None),
        ]
    };
    let web = dom_ref(&rows()[0]);
    assert_eq!(pick(&rows(), &web).expect("web").name, "web");
    // Looked up while it had no UUID, started since with one: still it.
    let before = DomainRef {
        name: "web".into(),
        uuid: name_uuid("web"),
        id: -1,
    };
    assert_eq!(pick(&rows(), &before).expect("web").domid, Some(3));
    // Another UUID under the same name is another domain.
    let other = DomainRef {
        uuid: [7; 16],
        ..web
    };
    let e = pick(&rows(), &other).expect_err("gone");
    assert_eq!(e.code, Code::NoDomain);
    assert!(e.message.contains("07070707-0707"), "{e}");
    assert_ne!(name_uuid("web"), name_uuid("db"));
    assert_eq!(name_uuid("web")[6] >> 4, 8, "version 8");
}

#[test]
fn cpu_time_reads_utime_and_stime_after_the_command_name() {
    let line = "42 (qemu (x) 1) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 99 0 0\n";
    assert_eq!(parse_cpu_ticks(line), Some(300));
    assert_eq!(parse_cpu_ticks("42 (q) S 1"), None);
    let dir = std::env::temp_dir().join(format!("virtd-stat-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("42")).expect("dir");
    std::fs::write(dir.join("42/stat"), line).expect("stat");
    assert_eq!(cpu_time_ns(&dir, 42), 3_000_000_000);
    assert_eq!(cpu_time_ns(&dir, 43), 0, "gone: 0");
    std::fs::remove_dir_all(&dir).expect("clean");
}

#[test]
fn xend_errors_get_libvirts_codes() {
    use xend::api::{ErrorKind, RpcError};
    let k = |kind| xend_error(ClientError::Rpc(RpcError::failed(kind, "x"))).code;
    assert_eq!(k(ErrorKind::NoDomain), Code::NoDomain);
    assert_eq!(k(ErrorKind::Busy), Code::OperationInvalid);
    assert_eq!(k(ErrorKind::BadConfig), Code::ConfigUnsupported);
    assert_eq!(k(ErrorKind::Limit), Code::OperationFailed);
    let denied = RpcError::new(xend::api::DENIED, "lacks xvm_control");
    let e = xend_error(ClientError::Rpc(denied));
    assert_eq!(e.code, Code::AccessDenied);
    assert!(e.message.contains("xvm_control"), "{e}");
}

#[test]
fn garbage_args_are_an_rpc_error_naming_the_procedure() {
    let p = Proc::DomainGetState;
    let e = dom_arg(p, &mut Dec::new(&[0, 0, 0, 9, b'a'])).expect_err("truncated");
    assert_eq!((e.code, e.from), (Code::Rpc, From::Rpc));
    assert!(
        e.message.starts_with("DOMAIN_GET_STATE: arguments: XDR"),
        "{e}"
    );
    let b = [0u8; 8];
    let mut d = Dec::new(&b);
    d.u32("x").expect("4");
    assert!(
        end(p, &d)
            .expect_err("left over")
            .message
            .contains("4 bytes left over")
    );
}
