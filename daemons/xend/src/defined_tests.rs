//! `domain.define`, `domain.definition`, `domain.autostart` through
//! xend's own client against an in-process server (no root, no qemu:
//! nothing here starts a domain).

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use privlib::{GateLimits, Policy};

use crate::api::{DefAction, DefDisk, DefFormat, DefNic, DefNicModel, Definition, ErrorKind};
use crate::client::Client;
use crate::domain::test_settings;
use crate::manager::Manager;
use crate::scratch::Scratch;
use crate::server::{self, Xend};

fn served(name: &str) -> (Scratch, Client) {
    let dir = Scratch::new(&format!("defined-{name}"));
    let me = std::fs::metadata("/proc/self").expect("/proc/self").uid();
    let sock = dir.join("xmlrpc.sock");
    let server = server::bind(&sock).expect("bind");
    let xend = Arc::new(Xend::new(
        Manager::new(test_settings(dir.path())),
        Policy::Session(me),
        sock.display().to_string(),
    ));
    let gate = server::gate(GateLimits::default()).expect("gate");
    std::thread::spawn(move || xend.serve(&server, &gate));
    let c = Client::connect(&sock).expect("connect");
    (dir, c)
}

fn web(uuid: Option<&str>) -> Definition {
    Definition {
        name: "web".into(),
        uuid: uuid.map(str::to_string),
        memory_mib: 256,
        vcpus: 2,
        kernel: None,
        ramdisk: None,
        cmdline: None,
        boot: "c".into(),
        acpi: true,
        apic: true,
        on_poweroff: DefAction::Destroy,
        on_reboot: DefAction::Restart,
        on_crash: DefAction::Destroy,
        disks: vec![DefDisk {
            target: "/var/lib/xen/images/web.img".into(),
            format: DefFormat::Raw,
            vdev: "hda".into(),
            read_only: false,
            cdrom: false,
        }],
        nics: vec![DefNic {
            bridge: Some("xenbr0".into()),
            mac: Some("00:16:3e:00:00:01".into()),
            model: DefNicModel::E1000,
        }],
        serial_pty: true,
        vnc: None,
    }
}

#[test]
fn a_definition_is_kept_listed_with_its_uuid_and_read_back() {
    let (_dir, mut c) = served("keep");
    let uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0";
    assert_eq!(c.define(&web(Some(uuid))).expect("define").name, "web");
    let rows = c.list().expect("list");
    let row = rows.iter().find(|r| r.name == "web").expect("listed");
    assert!(
        row.managed && !row.autostart && row.domid.is_none(),
        "{row:?}"
    );
    assert_eq!(row.uuid.as_deref(), Some(uuid));
    // One domain asked for by name: the same row, from its one file.
    assert_eq!(&c.info("web").expect("info of a managed domain"), row);
    assert_eq!(c.definition("web").expect("definition"), web(Some(uuid)));
    // Defined again without a UUID: it keeps the one it has.
    c.define(&web(None)).expect("define again");
    assert_eq!(
        c.definition("web").expect("definition").uuid.as_deref(),
        Some(uuid)
    );
    let e = c.definition("nosuch").expect_err("no such domain");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e}");
}

#[test]
fn a_name_or_uuid_defined_already_is_busy_and_a_bad_card_a_bad_config() {
    let (_dir, mut c) = served("busy");
    c.define(&web(Some("4dea22b3-1d52-d8f3-2516-782e98ab3fa0")))
        .expect("define");
    let e = c
        .define(&web(Some("11111111-2222-3333-4444-555555555555")))
        .expect_err("another uuid");
    assert_eq!(e.kind(), Some(ErrorKind::Busy), "{e}");
    assert!(
        e.to_string().contains("already defined with uuid 4dea22b3"),
        "{e}"
    );
    let mut db = web(Some("4dea22b3-1d52-d8f3-2516-782e98ab3fa0"));
    db.name = "db".into();
    let e = c.define(&db).expect_err("the same uuid");
    assert_eq!(e.kind(), Some(ErrorKind::Busy), "{e}");
    let mut bad = web(None);
    bad.name = "bad".into();
    bad.nics[0].mac = Some("zz".into());
    let e = c.define(&bad).expect_err("a bad mac");
    assert_eq!(e.kind(), Some(ErrorKind::BadConfig), "{e}");
    let mut bad = web(None);
    bad.name = "two\nlines".into();
    let e = c.define(&bad).expect_err("a bad name");
    assert_eq!(e.kind(), Some(ErrorKind::BadConfig), "{e}");
    assert!(c.list().expect("list").iter().all(|r| r.name != "bad"));
}

#[test]
fn autostart_is_kept_beside_the_config_and_goes_with_it() {
    let (dir, mut c) = served("autostart");
    let e = c.autostart("web", Some(true)).expect_err("not defined");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e}");
    c.define(&web(None)).expect("define");
    assert!(!c.autostart("web", None).expect("ask").autostart);
    assert!(c.autostart("web", Some(true)).expect("set").autostart);
    let row = c
        .list()
        .expect("list")
        .into_iter()
        .find(|r| r.name == "web");
    assert!(row.is_some_and(|r| r.autostart));
    assert!(!c.autostart("web", Some(false)).expect("unset").autostart);
    c.autostart("web", Some(true)).expect("set");
    c.delete("web").expect("delete");
    let left: Vec<String> = std::fs::read_dir(dir.join("domains"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.iter().all(|f| !f.starts_with("web")), "{left:?}");
}

fn cfg(name: &str, extra: &str) -> String {
    format!("name = \"{name}\"\ntype = \"hvm\"\nmemory = 32\n{extra}")
}

fn uuid_of(c: &mut Client, name: &str) -> String {
    c.definition(name)
        .expect("definition")
        .uuid
        .expect("stored with a uuid")
}

#[test]
fn xm_new_keeps_one_uuid_per_domain_and_refuses_a_clash() {
    let (_dir, mut c) = served("new-uuid");
    // No uuid given (and no final newline): one is stored with it.
    c.new_managed("web.cfg", "name = \"web\"\ntype = \"hvm\"\nmemory = 32")
        .expect("new");
    let first = uuid_of(&mut c, "web");
    assert_eq!(first.len(), 36, "{first}");
    // Again without one (CRLF, a comment last): the same uuid.
    c.new_managed(
        "web.cfg",
        "name = \"web\"\r\ntype = \"hvm\"\r\nmemory = 64\r\n# last",
    )
    .expect("replaced");
    assert_eq!(uuid_of(&mut c, "web"), first);
    // Another domain gets another; taking web's is refused, naming it.
    c.new_managed("db.cfg", &cfg("db", "")).expect("new db");
    let db = uuid_of(&mut c, "db");
    assert_ne!(db, first);
    let e = c
        .new_managed("cache.cfg", &cfg("cache", &format!("uuid = \"{first}\"\n")))
        .expect_err("web's uuid");
    assert!(e.to_string().contains("web"), "{e}");
    assert!(
        c.definition("cache").is_err(),
        "the refused config was stored"
    );
    let e = c
        .new_managed("db.cfg", &cfg("db", &format!("uuid = \"{first}\"\n")))
        .expect_err("db with web's uuid");
    assert!(e.to_string().contains(&db), "{e}");
    assert_eq!(uuid_of(&mut c, "db"), db, "the refused config was stored");
    // A name kept with one uuid is refused another.
    let other = "0b6f9f0e-5c1a-4d2e-8f3a-123456789abc";
    let e = c
        .new_managed("web.cfg", &cfg("web", &format!("uuid = \"{other}\"\n")))
        .expect_err("another uuid for web");
    assert!(e.to_string().contains(&first), "{e}");
    // define and new agree: a definition without a uuid keeps web's.
    c.define(&web(None)).expect("define");
    assert_eq!(uuid_of(&mut c, "web"), first);
}
