//! Debian's xenstore-utils, unchanged, against our xenstored (session mode).

use xvm_tests::stack::{Xenstored, xs};
use xvm_tests::{require_program, scratch};

fn out(o: &std::process::Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_xenstore_util_gets_xens_answers() {
    if !require_program(
        "every_xenstore_util_gets_xens_answers",
        "xenstore-read",
        "xenstore-utils",
    ) {
        return;
    }
    let d = Xenstored::start(&scratch("utils").expect("scratch dir"), &["--session"], &[])
        .expect("start");
    let s = d.socket();

    assert_eq!(
        out(&xs(
            &s,
            "xenstore-write",
            &["/vm/a", "hello", "/vm/b", "two words"]
        ))
        .0,
        0
    );
    assert_eq!(
        out(&xs(&s, "xenstore-read", &["/vm/a"])),
        (0, "hello\n".into(), String::new())
    );
    let (code, _, err) = out(&xs(&s, "xenstore-read", &["/nope"]));
    assert_eq!(
        (code, err.as_str()),
        (1, "xenstore-read: couldn't read path /nope\n")
    );

    assert_eq!(
        out(&xs(&s, "xenstore-ls", &["/vm"])).1,
        "a = \"hello\"\nb = \"two words\"\n"
    );
    let ls_p = out(&xs(&s, "xenstore-ls", &["-p", "/vm"])).1;
    assert!(ls_p.lines().all(|l| l.ends_with("(n0)")), "{ls_p}");
    assert_eq!(out(&xs(&s, "xenstore-list", &["/vm"])).1, "a\nb\n");
    assert_eq!(out(&xs(&s, "xenstore-exists", &["/vm/a"])).0, 0);
    assert_eq!(out(&xs(&s, "xenstore-exists", &["/vm/zz"])).0, 1);

    assert_eq!(out(&xs(&s, "xenstore-chmod", &["/vm/a", "n0", "r5"])).0, 0);
    assert!(
        out(&xs(&s, "xenstore-ls", &["-p", "/vm"]))
            .1
            .contains("(n0,r5)")
    );
    let (code, _, err) = out(&xs(&s, "xenstore-chmod", &["/vm/a", "x5"]));
    assert_eq!(code, 1);
    assert!(err.contains("Invalid permission specification"), "{err}");
    let (code, _, err) = out(&xs(&s, "xenstore-chmod", &["/nope", "r1"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("Error occurred setting permissions on '/nope'"),
        "{err}"
    );

    assert_eq!(out(&xs(&s, "xenstore-rm", &["/vm/b"])).0, 0);
    assert_eq!(out(&xs(&s, "xenstore-list", &["/vm"])).1, "a\n");
    assert_eq!(
        out(&xs(&s, "xenstore-rm", &["/vm/b"])).0,
        0,
        "absent node, parent present"
    );
    let (code, _, err) = out(&xs(&s, "xenstore-rm", &["/none/x"]));
    assert_eq!(code, 1);
    assert!(err.contains("could not remove path /none/x"), "{err}");

    // The multi-call binary.
    assert_eq!(out(&xs(&s, "xenstore", &["read", "/vm/a"])).1, "hello\n");
    assert_eq!(out(&xs(&s, "xenstore", &["write", "/vm/m", "x"])).0, 0);
    assert_eq!(out(&xs(&s, "xenstore", &["list", "/vm"])).1, "a\nm\n");

    // watch -n 2: the first event at once, the second on a change.
    let w = std::process::Command::new("xenstore-watch")
        .args(["-n", "2", "/vm"])
        .env("XENSTORED_PATH", &s)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(out(&xs(&s, "xenstore-write", &["/vm/c", "1"])).0, 0);
    let o = w.wait_with_output().expect("watch output");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "/vm\n/vm/c\n");

    // Relative paths are the connection's home (/local/domain/0).
    assert_eq!(out(&xs(&s, "xenstore-write", &["name", "Domain-0"])).0, 0);
    assert_eq!(
        out(&xs(&s, "xenstore-read", &["/local/domain/0/name"])).1,
        "Domain-0\n"
    );
}

#[test]
fn a_client_that_never_reads_its_events_is_cut_off() {
    use std::io::{Read, Write};
    use xenstored::wire::{Frame, MsgType};
    let d = Xenstored::start(
        &scratch("slow-reader").expect("scratch dir"),
        &["--session"],
        &[],
    )
    .expect("start");
    // A watcher with a long token that never reads what it is sent (the
    // longest that fits with any path: 4096 - 3072 - 2 bytes).
    let mut lazy = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
    let token = "t".repeat(1022);
    let mut payload = b"/flood\0".to_vec();
    payload.extend_from_slice(token.as_bytes());
    payload.push(0);
    lazy.write_all(
        &Frame {
            ty: MsgType::Watch.number(),
            req_id: 1,
            tx_id: 0,
            payload,
        }
        .to_bytes(),
    )
    .expect("watch");
    let mut c = xenstored::client::Client::connect(&d.socket()).expect("client");
    // Each write sends the lazy watcher a ~1 KiB event; 1 MiB plus what
    // the socket buffers holds is well under 5000 of them.
    let mut cut = false;
    for i in 0..5000 {
        c.write(0, "/flood/x", format!("{i}").as_bytes())
            .expect("writer is served throughout");
        if i % 100 == 99 && d.log_text().contains("does not read its watch events") {
            cut = true;
            break;
        }
    }
    assert!(cut, "the lazy watcher was never cut off: {}", d.log_text());
    // Its connection is closed: reading drains what was sent, then EOF.
    lazy.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let mut sink = Vec::new();
    let r = lazy.read_to_end(&mut sink);
    assert!(r.is_ok(), "closed by the daemon: {r:?}");
}
