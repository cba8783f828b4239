//! xenstored benchmarks, ratios measured in one run:
//! - small READ round trips per second with 1 and 32 clients, against a
//!   bare unix-socket echo server doing the same round trips (the physical
//!   limit; target at least 0.8 with 1 client);
//! - resident memory of 100,000 nodes with 32-byte values, against the raw
//!   bytes of their paths and values (target at most 3x).
//!
//! Run: `cargo bench -p xenstored`.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use privlib::Policy;
use privlib::listener::{SocketSpec, UnixServer};
use privlib::os::poll::{POLLIN, poll, pollfd};
use xenstored::daemon::{Daemon, Limits};
use xenstored::server::{DmUids, Endpoint, Server};
use xenstored::store::{Caller, Quota, Store};
use xenstored::wire::{Frame, MsgType};

const ROUNDS: usize = 20_000;

fn read_frame(s: &mut UnixStream) -> usize {
    let mut h = [0u8; 16];
    s.read_exact(&mut h).expect("header");
    let len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).expect("payload");
    len
}

/// Round trips per second with `clients` clients, each doing `ROUNDS / clients`.
fn round_trips(sock: &Path, clients: usize) -> f64 {
    let req = Frame {
        ty: MsgType::Read.number(),
        req_id: 1,
        tx_id: 0,
        payload: b"/bench/key\0".to_vec(),
    }
    .to_bytes();
    let per = ROUNDS / clients;
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (sock, req) = (sock.to_path_buf(), req.clone());
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).expect("connect");
                // Our client library's probe, so both servers see the same
                // first exchange.
                for _ in 0..per {
                    s.write_all(&req).expect("send");
                    read_frame(&mut s);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client");
    }
    (per * clients) as f64 / start.elapsed().as_secs_f64()
}

/// A bare echo server: every frame comes back as is, one poll loop.
fn echo_server(path: PathBuf) {
    let l = UnixListener::bind(&path).expect("bind");
    std::thread::spawn(move || {
        let mut conns: Vec<UnixStream> = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let mut fds = vec![pollfd(l.as_raw_fd(), POLLIN)];
            fds.extend(conns.iter().map(|c| pollfd(c.as_raw_fd(), POLLIN)));
            poll(&mut fds, -1).expect("poll");
            let mut dead = Vec::new();
            for (i, c) in conns.iter_mut().enumerate() {
                if fds[i + 1].revents != 0 {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => dead.push(i),
                        Ok(n) => {
                            let _ = c.write_all(&buf[..n]);
                        }
                    }
                }
            }
            for i in dead.into_iter().rev() {
                conns.remove(i);
            }
            if fds[0].revents & POLLIN != 0
                && let Ok((c, _)) = l.accept()
            {
                conns.push(c);
            }
        }
    });
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("rss");
    pages * 4096
}

fn main() {
    let dir = std::env::temp_dir().join(format!("xvm-bench-xs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");

    // Our daemon, in-process on its own thread, session policy (our uid).
    let uid = privlib::procfs::read_cred(Path::new("/proc"), "self")
        .expect("self")
        .uid[1];
    let mut daemon = Daemon::new(Store::new(Quota::default()), Limits::default());
    daemon
        .store
        .write(Caller::Privileged, "/bench/key", &[b'v'; 16])
        .expect("seed");
    let xs_path = dir.join("socket");
    let endpoint = Endpoint {
        server: UnixServer::bind(
            &xs_path,
            SocketSpec {
                mode: 0o600,
                owner: None,
            },
        )
        .expect("bind"),
        read_only: false,
    };
    let mut server = Server::new(
        daemon,
        None,
        Policy::Session(uid),
        DmUids {
            base: 200_000,
            count: 1000,
        },
        vec![endpoint],
    );
    std::thread::spawn(move || server.run());
    let echo_path = dir.join("echo");
    echo_server(echo_path.clone());
    std::thread::sleep(Duration::from_millis(100));

    for clients in [1, 32] {
        // Interleave to share the machine's noise; best of three each.
        let (mut ours, mut echo) = (0f64, 0f64);
        for _ in 0..3 {
            ours = ours.max(round_trips(&xs_path, clients));
            echo = echo.max(round_trips(&echo_path, clients));
        }
        println!(
            "READ round trips, {clients:>2} client(s): xenstored {ours:.0}/s, echo server {echo:.0}/s: ratio {:.3}{}",
            ours / echo,
            if clients == 1 { " (target >= 0.8)" } else { "" }
        );
    }

    // Memory: 100,000 nodes of 32-byte values.
    let before = rss_bytes();
    let mut store = Store::new(Quota::default());
    let mut raw = 0usize;
    for i in 0..100_000u32 {
        let path = format!("/local/domain/{}/data/node{i}", i / 1000);
        store
            .write(Caller::Privileged, &path, &[b'x'; 32])
            .expect("write");
        raw += path.len() + 32;
    }
    let used = rss_bytes().saturating_sub(before);
    println!(
        "memory, 100000 nodes of 32-byte values: {:.1} MiB resident for {:.1} MiB of paths and values: ratio {:.2}x (target <= 3x)",
        used as f64 / 1048576.0,
        raw as f64 / 1048576.0,
        used as f64 / raw as f64
    );
    assert!(store.len() > 100_000, "the nodes were not all stored");
    let _ = std::fs::remove_dir_all(&dir);
}
