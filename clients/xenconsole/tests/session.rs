//! xenconsole as a session's client (not set-id, run by whoever runs the
//! tests): the user's own xenstored, found through `XENSTORED_PATH` as
//! every client of a session finds it, a console pty owned by the user;
//! and its command line refusing what it does not take in one line.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use privlib::os::tty::open_pty;
use privlib::procfs::read_cred;
use support::*;
use xenstored::client::Client;
use xvm_tests::hermetic::scratch;
use xvm_tests::stack::Xenstored;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_xenconsole"))
}

#[test]
fn a_session_user_attaches_to_a_pty_of_their_own() {
    let _g = xvm_tests::serial();
    let dir = scratch("xc-session").expect("scratch");
    let me = read_cred(Path::new("/proc"), "self").expect("my ids");
    let xs = Xenstored::start(
        &dir.join("xenstored"),
        &["--session"],
        &[("XDG_RUNTIME_DIR", &dir)],
    )
    .expect("a session xenstored");
    let mut c = Client::connect(&xs.socket()).expect("connect");
    let mine = open_pty(me.uid[1], me.gid[1]).expect("pty");
    c.write(0, "/local/domain/3/name", b"s").expect("name");
    c.write(
        0,
        "/local/domain/3/serial/0/tty",
        mine.path.as_os_str().as_encoded_bytes(),
    )
    .expect("tty");
    write_all(&mine.master, b"session guest says hi\r\n").expect("guest writes");

    let term = Term::new(me.uid[1]).expect("terminal");
    let slave = || Stdio::from(term.pty.slave.try_clone().expect("dup"));
    let child = Command::new(exe())
        .args(["--session", "s"])
        .env("XENSTORED_PATH", xs.socket())
        .env("XDG_RUNTIME_DIR", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .stdin(slave())
        .stdout(slave())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xenconsole");
    read_until(&term.pty.master, b"session guest says hi", 10).expect("the guest's bytes");
    term.type_in(b"typed\r\x1d").expect("type");
    read_until(&mine.master, b"typed\r", 10).expect("the typed bytes");
    let (code, err) = finish(child, 10).expect("exit");
    assert_eq!((code, err.as_str()), (0, ""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_command_line_is_one_line_and_exit_1() {
    for (args, want) in [
        (
            &["--type", "vga", "g"][..],
            "invalid value 'vga' for '--type <KIND>'",
        ),
        (
            &["--num", "x", "g"][..],
            "invalid value 'x' for '--num <NUM>'",
        ),
        (
            &[][..],
            "the following required arguments were not provided:",
        ),
    ] {
        let o = Command::new(exe()).args(args).output().expect("runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("xenconsole: {want}")) && err.lines().count() == 1,
            "{args:?}: {err:?}"
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let o = Command::new(exe()).arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        help.contains("Ctrl-] detaches") && help.contains("serial 0"),
        "{help}"
    );
}
