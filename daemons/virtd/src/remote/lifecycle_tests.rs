use super::*;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use crate::error::{Code, From};
use crate::session::{Env, Mode, Peer};
use crate::xdr::Enc;

use super::super::domain::{MAX_TTY_PATH, checked_tty_path};
use super::super::types::DomainRef;

/// A session whose xend and store are not there: a call that gets as
/// far as xend fails with xend's connection error.
fn session() -> Session {
    let gone = std::env::temp_dir().join(format!("virtd-none-{}", std::process::id()));
    Session::new(
        Peer {
            pid: 1,
            uid: 1000,
            gid: 1000,
        },
        false,
        Arc::new(Env {
            mode: Mode::Session,
            xend_socket: gone.join("xend"),
            store_socket: gone.join("store"),
            hostname: "h".into(),
        }),
    )
}

fn web(e: &mut Enc) -> &mut Enc {
    DomainRef {
        name: "web".into(),
        uuid: [1; 16],
        id: 3,
    }
    .encode(e);
    e
}

fn run(p: Proc, e: &Enc) -> Result<Reply, VirError> {
    let b = e.clone().into_bytes();
    call(&mut session(), p, &mut Dec::new(&b))
}

fn code(p: Proc, e: &Enc) -> (Code, String) {
    let err = run(p, e).expect_err("no xend");
    (err.code, err.message)
}

#[test]
fn well_formed_args_reach_xend() {
    let mut e = Enc::new();
    let cases = [
        (Proc::DomainCreate, web(&mut Enc::new()).clone()),
        (
            Proc::DomainCreateWithFlags,
            web(&mut Enc::new()).u32(0).clone(),
        ),
        (
            Proc::DomainDestroyFlags,
            web(&mut Enc::new()).u32(0).clone(),
        ),
        (
            Proc::DomainShutdownFlags,
            web(&mut Enc::new()).u32(1).clone(),
        ),
        (Proc::DomainReboot, web(&mut Enc::new()).u32(0).clone()),
        (
            Proc::DomainUndefineFlags,
            web(&mut Enc::new()).u32(0x7f).clone(),
        ),
        (
            Proc::DomainSetAutostart,
            web(&mut Enc::new()).i32(1).clone(),
        ),
        (Proc::DomainSuspend, web(&mut Enc::new()).clone()),
        (
            Proc::DomainOpenConsole,
            web(&mut Enc::new())
                .opt_string(Some("serial0"))
                .u32(CONSOLE_SAFE)
                .clone(),
        ),
    ];
    for (p, args) in cases {
        let (c, m) = code(p, &args);
        assert_eq!(c, Code::OperationFailed, "{}: {m}", p.name());
        assert!(m.contains("xend"), "{}: {m}", p.name());
    }
    e.string("<domain/>").u32(DEFINE_VALIDATE);
    let (c, _) = code(Proc::DomainDefineXmlFlags, &e);
    assert_ne!(c, Code::InvalidArg, "VALIDATE is taken");
}

#[test]
fn flags_virtd_does_not_take_are_refused_before_anything_is_done() {
    let cases = [
        (Proc::DomainCreateWithFlags, 1, "0x1"), // START_PAUSED
        (Proc::DomainDestroyFlags, 1, "0x1"),    // GRACEFUL
        (Proc::DomainShutdownFlags, 2, "0x2"),   // GUEST_AGENT
        (Proc::DomainReboot, 4, "0x4"),          // INITCTL
        (Proc::DomainUndefineFlags, 1 << 7, "0x80"),
    ];
    for (p, flags, shown) in cases {
        let (c, m) = code(p, web(&mut Enc::new()).u32(flags));
        assert_eq!(c, Code::InvalidArg, "{}: {m}", p.name());
        assert_eq!(
            m,
            format!("unsupported flags ({shown}) in function {}", p.name())
        );
    }
    let mut e = Enc::new();
    e.string("<domain/>").u32(2);
    assert_eq!(code(Proc::DomainDefineXmlFlags, &e).0, Code::InvalidArg);
    let console = web(&mut Enc::new()).opt_string(None).u32(4).clone();
    assert_eq!(code(Proc::DomainOpenConsole, &console).0, Code::InvalidArg);
}

#[test]
fn a_console_other_than_the_serial_port_is_not_found() {
    let args = web(&mut Enc::new())
        .opt_string(Some("parallel0"))
        .u32(0)
        .clone();
    let (c, m) = code(Proc::DomainOpenConsole, &args);
    assert_eq!(c, Code::Internal);
    assert!(
        m.starts_with("cannot find character device parallel0"),
        "{m}"
    );
}

#[test]
fn garbage_args_are_rpc_errors_and_nothing_is_done() {
    let cut = web(&mut Enc::new()).clone().into_bytes();
    for p in [Proc::DomainCreateWithFlags, Proc::DomainOpenConsole] {
        let err = call(&mut session(), p, &mut Dec::new(&cut[..cut.len() - 2])).expect_err("cut");
        assert_eq!((err.code, err.from), (Code::Rpc, From::Rpc), "{err}");
    }
    let mut e = Enc::new();
    e.u32(u32::MAX);
    let (c, m) = code(Proc::DomainDefineXml, &e);
    assert_eq!(c, Code::Rpc);
    assert!(m.contains("over its bound"), "{m}");
    let long = web(&mut Enc::new()).u32(0).u32(0).clone();
    let (c, m) = code(Proc::DomainDestroyFlags, &long);
    assert_eq!(c, Code::Rpc);
    assert!(m.contains("4 bytes left over"), "{m}");
}

#[test]
fn a_store_path_is_bounded_and_absolute() {
    let k = "/local/domain/3/console/tty";
    assert_eq!(
        checked_tty_path(k, b"/dev/pts/3".to_vec()).expect("ok"),
        PathBuf::from("/dev/pts/3")
    );
    for bad in [&b"pts/3"[..], b"/dev/pts/\0", &[b'/'; MAX_TTY_PATH + 1]] {
        let e = checked_tty_path(k, bad.to_vec()).expect_err("refused");
        assert!(e.message.starts_with(k), "{e}");
    }
}

fn pty() -> privlib::os::tty::Pty {
    let me = privlib::procfs::read_cred(Path::new("/proc"), "self").expect("me");
    privlib::os::tty::open_pty(me.uid[1], me.gid[1]).expect("a pty")
}

fn refused(path: &Path) -> String {
    open_pty(path, "web", 77, false)
        .expect_err("refused")
        .message
}

#[test]
fn only_a_pty_slave_of_ours_mode_0600_is_opened() {
    let dir = std::env::temp_dir().join(format!("virtd-pty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("file");
    std::fs::write(&file, b"").expect("file");
    assert!(refused(&file).ends_with("a regular file, not a pty"));
    assert!(refused(Path::new("/dev/null")).ends_with("device 1:3 is not a pty slave"));
    let p = pty();
    let link = dir.join("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&p.path, &link).expect("symlink");
    assert!(refused(&link).ends_with("reached through a symbolic link, which is not followed"));
    std::fs::set_permissions(&p.path, std::fs::Permissions::from_mode(0o620)).expect("chmod");
    assert!(refused(&p.path).ends_with("mode 0620, not 0600"));
    std::fs::remove_dir_all(&dir).expect("clean");
    let q = pty();
    let ok = open_pty(&q.path, "web", 77, false).expect("ours, 0600");
    assert!(
        privlib::os::tty::get_modes(ok.file().as_fd()).is_ok(),
        "a terminal"
    );
}

#[test]
fn a_pty_of_another_uid_is_refused() {
    let p = pty();
    if std::os::unix::fs::chown(&p.path, Some(12345), None).is_err() {
        xvm_tests::skip::skip(
            "a_pty_of_another_uid_is_refused",
            &xvm_tests::skip::Skip::Root,
        );
        return;
    }
    assert!(refused(&p.path).contains("owned by uid 12345, not by virtd's uid"));
}

#[test]
fn a_state_changing_call_never_acts_on_a_listing_of_before_it() {
    // A listing in which web runs: a start right after it must ask xend
    // (gone here) how web is, never refuse on the listing's word that
    // it runs already.
    let mut s = session();
    s.remember_list(vec![xend::api::DomainInfo {
        name: "web".into(),
        domid: Some(3),
        uuid: Some("01010101-0101-0101-0101-010101010101".into()),
        memory: 256,
        vcpus: 1,
        state: xend::api::DomainState::Running,
        time: 0.0,
        pid: Some(1),
        serial: None,
        managed: false,
        autostart: false,
    }]);
    let b = web(&mut Enc::new()).clone().into_bytes();
    let e = crate::remote::call(&mut s, Proc::DomainCreate, &b).expect_err("no xend");
    assert_eq!(e.code, Code::OperationFailed, "{}", e.message);
    assert!(e.message.contains("xend"), "{}", e.message);
    assert!(
        s.recent_list().is_none(),
        "the listing outlived the destroy"
    );
}
