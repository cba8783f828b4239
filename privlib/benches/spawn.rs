//! `spawn` of /bin/true with a full credential vs. `std::process::Command`,
//! as a ratio measured in one run (target: at most 1.2x).
//!
//! Run: `cargo bench -p privlib --bench spawn`. As root the credential
//! changes uid, gid and groups, narrows every set and sets rlimits; without
//! root it narrows the sets only (no uid change is possible).
//! The two are interleaved so machine noise hits both alike; the medians
//! are compared.

use std::process::Command;
use std::time::{Duration, Instant};

use privlib::{Spawn, parse_set, testing};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn credentialed() -> Spawn {
    let basic = parse_set("basic").expect("basic");
    let mut s = Spawn::new("/bin/true")
        .privileges(basic)
        .limit(basic)
        .rlimit(libc::RLIMIT_NOFILE, 256, 256)
        .rlimit(libc::RLIMIT_CORE, 0, 0)
        .env("PATH", "/usr/bin:/bin");
    if testing::is_root() {
        s = s.uid(48_000).gid(48_000).groups(&[48_001]);
    }
    s
}

fn main() {
    let rounds: usize = std::env::var("XVM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let spawn = credentialed();
    // Warm up both paths (page cache, dynamic loader).
    for _ in 0..20 {
        spawn.spawn().expect("spawn").wait().expect("wait");
        Command::new("/bin/true").env_clear().status().expect("std");
    }
    let (mut ours, mut std_times) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let t = Instant::now();
        let st = spawn.spawn().expect("spawn").wait().expect("wait");
        ours.push(t.elapsed());
        assert!(st.success());
        let t = Instant::now();
        let st = Command::new("/bin/true").env_clear().status().expect("std");
        std_times.push(t.elapsed());
        assert!(st.success());
    }
    let (a, b) = (median(ours), median(std_times));
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    println!(
        "spawn /bin/true, {} credential: privlib {:?} vs std::process::Command {:?} (median of {rounds}): ratio {ratio:.3}x (target <= 1.2x)",
        if testing::is_root() {
            "full"
        } else {
            "sets-only (not root)"
        },
        a,
        b
    );
}
