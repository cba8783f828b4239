use super::*;

use std::os::fd::AsFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::packet::{REMOTE_PROGRAM, REMOTE_VERSION, read_packet};
use crate::remote::lifecycle::open_pty;
use crate::xdr::Dec;

/// A console over a fresh pty: the test plays the guest (the master)
/// and the client (the socket's other end).
struct Rig {
    master: File,
    path: PathBuf,
    client: UnixStream,
    out: Out,
    _slave: std::os::fd::OwnedFd,
}

fn call(serial: u32) -> Header {
    Header {
        prog: REMOTE_PROGRAM,
        vers: REMOTE_VERSION,
        proc_: 201,
        kind: MsgType::Call,
        serial,
        status: Status::Ok,
    }
}

fn rig() -> Rig {
    let me = privlib::procfs::read_cred(std::path::Path::new("/proc"), "self").expect("me");
    let p = privlib::os::tty::open_pty(me.uid[1], me.gid[1]).expect("a pty");
    let (server, client) = UnixStream::pair().expect("a socket pair");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    Rig {
        master: File::from(p.master),
        path: p.path,
        client,
        out: Arc::new(Mutex::new(server)),
        _slave: p.slave,
    }
}

impl Rig {
    fn slave(&self) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(&self.path)
            .expect("the slave")
    }

    fn console(&self, serial: u32) -> Console {
        Console::start(self.slave(), Arc::clone(&self.out), call(serial)).expect("started")
    }

    fn next(&mut self) -> Packet {
        read_packet(&mut self.client)
            .expect("a packet")
            .expect("not closed")
    }

    fn guest_reads(&mut self, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            assert!(
                privlib::os::poll::readable(self.master.as_fd(), 5000),
                "the guest got {} of {n} bytes",
                got.len()
            );
            let mut b = vec![0u8; n - got.len()];
            let k = self.master.read(&mut b).expect("read");
            got.extend_from_slice(&b[..k]);
        }
        got
    }
}

fn from_client(serial: u32, status: Status, body: &[u8]) -> Packet {
    Packet::new(call(serial).answer(MsgType::Stream, status), body.to_vec())
}

#[test]
fn guest_output_reaches_the_client_as_stream_data_of_the_call() {
    let mut r = rig();
    let _c = r.console(7);
    r.master.write_all(b"login: ").expect("guest writes");
    let p = r.next();
    assert_eq!(p.header, call(7).answer(MsgType::Stream, Status::Continue));
    assert_eq!(p.body, b"login: ");
}

#[test]
fn client_input_reaches_the_guest() {
    let mut r = rig();
    let mut c = r.console(3);
    let p = from_client(3, Status::Continue, b"root\n");
    assert_eq!(c.handle(&p).expect("written"), Next::Open);
    assert_eq!(r.guest_reads(5), b"root\n");
    let other = from_client(4, Status::Continue, b"x");
    assert!(c.handle(&other).is_err(), "another stream's packet");
}

#[test]
fn a_finish_or_abort_is_confirmed_and_nothing_follows_it() {
    for end in [Status::Ok, Status::Error] {
        let mut r = rig();
        let mut c = r.console(9);
        assert_eq!(
            c.handle(&from_client(9, end, b"")).expect("ends"),
            Next::Closed
        );
        let p = r.next();
        assert_eq!(
            p.header,
            call(9).answer(MsgType::Stream, Status::Ok),
            "{end:?}"
        );
        assert!(p.body.is_empty());
        drop(c);
        r.master.write_all(b"late").expect("guest writes");
        r.client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut b = [0u8; 4];
        let e = r.client.read(&mut b).expect_err("nothing after the end");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
    }
}

#[test]
fn the_ptys_end_is_an_empty_continue() {
    let mut r = rig();
    let _c = r.console(5);
    // The console daemon closes the master: the domain is gone.
    r.master = File::open("/dev/null").expect("null");
    let p = r.next();
    assert_eq!(p.header, call(5).answer(MsgType::Stream, Status::Continue));
    assert!(p.body.is_empty(), "end of stream, not data: {:?}", p.body);
}

#[test]
fn a_full_pty_holds_the_client_back_until_the_guest_reads() {
    let mut r = rig();
    let mut c = r.console(2);
    let big = vec![b'a'; 256 * 1024];
    let n = big.len();
    let writer = std::thread::spawn(move || {
        c.to_guest(&big).expect("all written");
        c
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !writer.is_finished(),
        "256 KiB went into a pty nobody reads"
    );
    assert_eq!(r.guest_reads(n).len(), n);
    let _c = writer.join().expect("the writer");
}

#[test]
fn a_second_client_is_refused_naming_the_first_and_force_takes_it_over() {
    let mut r = rig();
    let first = open_pty(&r.path, "web", 4101, false).expect("the first client");
    let c1 = Console::start(first, Arc::clone(&r.out), call(1)).expect("started");
    let e = open_pty(&r.path, "web", 4102, false).expect_err("held");
    assert_eq!(e.code, Code::OperationFailed);
    assert!(e.message.contains("process 4101"), "{e}");
    let second = open_pty(&r.path, "web", 4102, true).expect("forced");
    let p = r.next();
    assert_eq!(p.header, call(1).answer(MsgType::Stream, Status::Error));
    let mut d = Dec::new(&p.body);
    assert_eq!(d.i32("code"), Ok(Code::OperationFailed.number()));
    let _ = d.i32("domain");
    let msg = d
        .opt_string("message", 1024)
        .expect("message")
        .expect("some");
    assert!(msg.contains("process 4102"), "{msg}");
    // The second client's console works on the file the first had.
    let _c2 = Console::start(second.clone(), Arc::clone(&r.out), call(2)).expect("started");
    r.master.write_all(b"$ ").expect("guest writes");
    let p = r.next();
    assert_eq!((p.header.serial, p.body.as_slice()), (2, &b"$ "[..]));
    drop(c1);
    let e = open_pty(&r.path, "web", 4103, false).expect_err("still the second's");
    assert!(e.message.contains("process 4102"), "{e}");
    drop(_c2);
    drop(second);
    // Every holder gone (the reader threads end at once): free again.
    let mut third = open_pty(&r.path, "web", 4103, false);
    for _ in 0..100 {
        if third.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        third = open_pty(&r.path, "web", 4103, false);
    }
    third.expect("free");
}
