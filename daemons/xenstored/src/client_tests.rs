//! The client against fake daemons: deadlines.

use super::*;
use crate::wire::HEADER_LEN;
use std::os::unix::net::UnixListener;
use std::sync::mpsc;

/// A socket in a fresh directory, and a fake xenstored on it that
/// answers the first `answer` requests (a domain path, with the request's
/// own type and id) and then holds the connection open, answering
/// nothing, until the sender it returns is dropped.
fn stalled_daemon(name: &str, answer: usize) -> (PathBuf, mpsc::Sender<()>) {
    let dir = std::env::temp_dir().join(format!("xs-client-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("socket");
    let l = UnixListener::bind(&sock).expect("bind");
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        for _ in 0..answer {
            let mut h = [0u8; HEADER_LEN];
            if s.read_exact(&mut h).is_err() {
                return;
            }
            let h = crate::wire::Header::parse(&h);
            let mut body = vec![0u8; usize::try_from(h.len).expect("len")];
            if s.read_exact(&mut body).is_err() {
                return;
            }
            let reply = Frame {
                ty: h.ty,
                req_id: h.req_id,
                tx_id: h.tx_id,
                payload: b"/local/domain/0\0".to_vec(),
            };
            if s.write_all(&reply.to_bytes()).is_err() {
                return;
            }
        }
        // Hold the connection open, answering nothing.
        let _ = wait.recv();
        drop(s);
    });
    (sock, done)
}

fn assert_timed_out(r: Result<impl std::fmt::Debug, ClientError>, sock: &Path, began: Instant) {
    let e = r.expect_err("a stalled daemon must fail the call");
    assert!(
        matches!(&e, ClientError::Timeout { socket, after }
            if socket == sock && *after == Duration::from_millis(200)),
        "{e:?}"
    );
    assert!(e.to_string().contains(&sock.display().to_string()), "{e}");
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "waited {took:?}");
}

#[test]
fn a_daemon_that_never_answers_fails_the_connect_in_time() {
    let (sock, done) = stalled_daemon("connect", 0);
    let began = Instant::now();
    let r = Client::connect_with_timeout(&sock, Duration::from_millis(200));
    assert_timed_out(r, &sock, began);
    drop(done);
    let _ = std::fs::remove_dir_all(sock.parent().expect("dir"));
}

#[test]
fn a_daemon_that_stalls_after_connect_fails_the_call_in_time() {
    let (sock, done) = stalled_daemon("call", 1);
    let mut c = Client::connect_with_timeout(&sock, Duration::from_millis(200)).expect("answered");
    let began = Instant::now();
    assert_timed_out(c.read(0, "/vm"), &sock, began);
    drop(done);
    let _ = std::fs::remove_dir_all(sock.parent().expect("dir"));
}
