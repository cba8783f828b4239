//! The domain table's files without root or qemu: managed configs, saved
//! state, adoption refusals.

use super::Manager;
use super::adopt::AdoptError;
use super::managed::{managed_config, managed_configs, managed_path, store_managed};
use crate::api::DomainState;
use crate::domain::{MAX_MANAGED, Settings, test_settings};
use crate::error::DomainError;
use crate::saved::{STATE_MAX, SavedState, StateError, read_state, write_state};
use crate::scratch::Scratch;

fn tmp(name: &str) -> Scratch {
    Scratch::new(&format!("manager-{name}"))
}

fn cfg(name: &str) -> String {
    format!("name = \"{name}\"\ntype = \"hvm\"\nmemory = 32\n")
}

#[test]
fn managed_domains_are_bounded_and_listed_with_the_hosts_size() {
    let dir = tmp("managed");
    let s = test_settings(dir.path());
    for i in 0..MAX_MANAGED {
        store_managed(&s, "t.cfg", &cfg(&format!("d{i}")), None).expect("stored");
    }
    let e = store_managed(&s, "t.cfg", &cfg("one-too-many"), None).expect_err("bounded");
    assert!(matches!(e, DomainError::ManagedFull), "{e}");
    assert!(e.to_string().contains("managed domains are stored already"));
    // Replacing one that exists is no new one.
    store_managed(&s, "t.cfg", &cfg("d0"), None).expect("replaced");
    let mode = std::fs::metadata(s.managed.join("d0.cfg")).expect("stat");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let m = Manager::new(s.clone());
    let rows = m.list_with(managed_configs(&s));
    assert_eq!(rows.len(), 1 + MAX_MANAGED);
    assert_eq!(
        (rows[0].name.as_str(), rows[0].domid),
        ("Domain-0", Some(0))
    );
    assert!(rows[0].memory > 0 && rows[0].vcpus > 0, "{:?}", rows[0]);
    assert_eq!((rows[1].domid, rows[1].state), (None, DomainState::None));
}

#[test]
fn managed_names_must_be_plain_file_names() {
    let dir = tmp("names");
    let s = test_settings(dir.path());
    for bad in ["", "a/b", "../etc", ".hidden", "/abs"] {
        let e = managed_path(&s, bad).expect_err(bad);
        assert!(matches!(e, DomainError::NoManaged(_)), "{bad}: {e}");
    }
    assert_eq!(
        managed_path(&s, "web").expect("plain"),
        s.managed.join("web.cfg")
    );
    let e = managed_config(&s, "web").expect_err("none stored");
    assert!(matches!(e, DomainError::NoManaged(_)), "{e}");
    store_managed(&s, "web.cfg", &cfg("web"), None).expect("stored");
    let (source, text) = managed_config(&s, "web").expect("read back");
    assert_eq!(source, s.managed.join("web.cfg").display().to_string());
    assert!(text.starts_with(&cfg("web")), "{text}");
    let mut m = Manager::new(s.clone());
    assert_eq!(m.delete_managed("web").expect("deleted").name, "web");
    let e = m.delete_managed("web").expect_err("gone");
    assert!(matches!(e, DomainError::NoManaged(_)), "{e}");
}

fn state(domid: u32, uid: u32) -> SavedState {
    SavedState {
        domid,
        uuid: "6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab".into(),
        source: "web.cfg".into(),
        config: cfg("web"),
        pid: 1,
        uid,
        start_time: 1,
        started: 1,
        attached: Default::default(),
    }
}

#[test]
fn state_files_read_back_and_torn_or_foreign_ones_are_refused_by_name() {
    let dir = tmp("state");
    let st = state(3, 1000);
    write_state(dir.path(), &st).expect("written");
    let path = dir.join("state.json");
    assert_eq!(read_state(&path).expect("read back"), st);
    assert!(!dir.join("state.json.new").exists());

    let body = std::fs::read(&path).expect("body");
    std::fs::write(&path, &body[..body.len() / 2]).expect("torn");
    let e = read_state(&path).expect_err("torn");
    assert!(matches!(e, StateError::Foreign { .. }), "{e}");
    assert!(
        e.to_string().starts_with(&path.display().to_string()),
        "{e}"
    );

    std::fs::write(&path, br#"{"domid":3,"owner":"someone else"}"#).expect("foreign");
    let e = read_state(&path).expect_err("foreign");
    assert!(e.to_string().contains("not a state file of xend's"), "{e}");

    let big = usize::try_from(STATE_MAX).expect("small") + 1;
    std::fs::write(&path, vec![b' '; big]).expect("large");
    let e = read_state(&path).expect_err("too large");
    assert!(matches!(e, StateError::Read { .. }), "{e}");
    assert!(e.to_string().contains("larger than"), "{e}");
}

#[test]
fn adoption_refuses_what_does_not_match() {
    let dir = tmp("adopt");
    // Device models in the uid range: domain 1's is 200001, whoever runs
    // the test (a domain is never adopted as uid 0).
    let s = Settings {
        dm_range: true,
        ..test_settings(dir.path())
    };
    let uid = s.dm_uid_base + 1;
    let mut m = Manager::new(s.clone());
    let domain_dir = |id: u32| {
        let d = s.run.join("domains").join(id.to_string());
        std::fs::create_dir_all(&d).expect("domain dir");
        d
    };

    // No state file: xend died while starting it.
    let d = domain_dir(1);
    let e = m.adopt(1, &d.join("state.json")).expect_err("no state");
    assert!(matches!(e, AdoptError::NoState), "{e}");

    // A file of another domain, of another uid, or without a valid UUID.
    for st in [
        state(2, uid),
        state(1, uid + 1),
        SavedState {
            uuid: "not-a-uuid".into(),
            ..state(1, uid)
        },
    ] {
        write_state(&d, &st).expect("written");
        let e = m.adopt(1, &d.join("state.json")).expect_err("mismatch");
        assert!(matches!(e, AdoptError::Mismatch { domid: 1, .. }), "{e}");
        assert!(e.to_string().contains("does not match domain 1"), "{e}");
    }

    // A saved config that no longer parses.
    write_state(
        &d,
        &SavedState {
            config: "name = \n".into(),
            ..state(1, uid)
        },
    )
    .expect("written");
    let e = m.adopt(1, &d.join("state.json")).expect_err("config");
    assert!(matches!(e, AdoptError::Config(_)), "{e}");

    // adopt_all cleans up what it refuses: the directory is gone. (Out of
    // the uid range, so that cleaning up kills nothing.)
    let mut m = Manager::new(test_settings(dir.path()));
    m.adopt_all();
    assert!(!d.exists(), "refused domain directory left behind");
    assert!(m.domains.is_empty());
}

#[test]
fn a_vnclisten_beyond_loopback_is_refused_at_reserve_unless_any() {
    use crate::launch::RunError;
    use crate::vnc::{VncError, VncListen};
    let dir = tmp("vnc-any");
    let mut m = Manager::new(test_settings(dir.path()));
    let open = format!("{}vnc = 1\nvnclisten = '0.0.0.0'\n", cfg("open"));
    let e = m.reserve("open.cfg", &open).expect_err("loopback only");
    assert!(
        matches!(
            &e,
            DomainError::Run(RunError::Vnc {
                source: VncError::NotLoopback { .. },
                ..
            })
        ),
        "{e:?}"
    );
    let line = e.to_string();
    assert!(
        line.contains("vnclisten 0.0.0.0: not a loopback address"),
        "{line}"
    );
    assert!(
        line.contains("svccfg -s svc:/system/xvm/xend:default setprop config/vnc-listen = any"),
        "{line}"
    );
    assert!(m.busy.is_empty(), "a refusal reserves nothing");
    // Loopback is fine, and so is VNC off whatever vnclisten says.
    let local = format!("{}vnc = 1\nvnclisten = '127.0.0.1'\n", cfg("local"));
    m.reserve("local.cfg", &local).expect("loopback");
    let off = format!("{}vnc = 0\nvnclisten = '0.0.0.0'\n", cfg("off"));
    m.reserve("off.cfg", &off).expect("no VNC, no listener");
    m.vnc_listen = VncListen::Any;
    m.reserve("open.cfg", &open).expect("any");
}
