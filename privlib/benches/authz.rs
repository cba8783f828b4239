//! Connections per second through the listener helper with `getpeerucred`,
//! `require_any` and the gate's admission, vs. the same server with the check off; as ratios of
//! per-connection cost measured in one run (target: at most 1.2x).
//!
//! Run: `cargo bench -p privlib --bench authz`. The group path grants by
//! the bench user's own group; the capability path (root only) grants by
//! a capability the bench holds, which reads and checks /proc each time.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use privlib::listener::{SocketSpec, UnixServer};
use privlib::names::virt_manage;
use privlib::sys::accounts;
use privlib::{Gate, GateLimits, Policy, Refusal, Verdict, require_any, testing};

const OFF: u8 = 0;
const GROUP: u8 = 1;
const CAPS: u8 = 2;

/// The bench refuses nobody; a refusal would be one byte.
struct Plain;

impl Refusal for Plain {
    fn complete(&self, _: &[u8]) -> bool {
        true
    }
    fn reply(&self, _: &[u8], _: &str) -> Vec<u8> {
        b"n".to_vec()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("xvm-bench-authz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("sock");
    let egid = privlib::procfs::read_cred(Path::new("/proc"), "self")
        .expect("self")
        .gid[1];
    let group = accounts::group_by_gid(egid)
        .expect("lookup")
        .expect("own group")
        .name;
    let by_group = Policy::parse(
        &format!("[virt_manage]\ngroups = [\"{group}\"]\n"),
        Path::new("bench"),
    )
    .expect("policy");
    let by_cap = Policy::parse(
        "[virt_manage]\ncapabilities = [\"cap_dac_override\"]\n",
        Path::new("bench"),
    )
    .expect("policy");
    let root = testing::is_root();

    let server = UnixServer::bind(
        &path,
        SocketSpec {
            mode: 0o666,
            owner: None,
        },
    )
    .expect("bind");
    let mode = Arc::new(AtomicU8::new(OFF));
    let m = Arc::clone(&mode);
    std::thread::spawn(move || {
        // The whole accept path a daemon runs: credentials, the decision,
        // and the gate's slot accounting.
        let gate = Gate::new(GateLimits::default(), Plain).expect("gate");
        loop {
            let (mut stream, _slot) = match m.load(Ordering::Acquire) {
                OFF => (server.listener().accept().expect("accept").0, None),
                which => {
                    let (stream, cred) = server.accept().expect("accept");
                    let policy = if which == GROUP { &by_group } else { &by_cap };
                    require_any(policy, &cred, "bench", &[virt_manage()]).expect("granted");
                    let (stream, slot) = gate
                        .admit(stream, cred.euid, Verdict::Ordinary)
                        .expect("a slot");
                    (stream, Some(slot))
                }
            };
            let _ = stream.write_all(b"k");
        }
    });

    let round = |which: u8, n: usize| -> Duration {
        mode.store(which, Ordering::Release);
        let t = Instant::now();
        for _ in 0..n {
            let mut c = UnixStream::connect(&path).expect("connect");
            let mut b = [0u8; 1];
            c.read_exact(&mut b).expect("reply");
        }
        t.elapsed() / u32::try_from(n).expect("small")
    };
    // The mode switch takes effect from the next accept; the first
    // connection of a round may still be served the old way, which a
    // chunk of 200 makes negligible.
    let kinds: &[u8] = if root {
        &[OFF, GROUP, CAPS]
    } else {
        &[OFF, GROUP]
    };
    for k in kinds {
        round(*k, 200);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 3];
    for _ in 0..30 {
        for k in kinds {
            times[usize::from(*k)].push(round(*k, 200));
        }
    }
    let off = median(times[0].clone());
    let group = median(times[1].clone());
    println!(
        "authz per connection: check off {:?} ({:.0}/s), group-granted {:?} ({:.0}/s): ratio {:.3}x (target <= 1.2x)",
        off,
        1.0 / off.as_secs_f64(),
        group,
        1.0 / group.as_secs_f64(),
        group.as_secs_f64() / off.as_secs_f64()
    );
    if root {
        let caps = median(times[2].clone());
        println!(
            "authz per connection: capability-granted (reads /proc) {:?} ({:.0}/s): ratio {:.3}x",
            caps,
            1.0 / caps.as_secs_f64(),
            caps.as_secs_f64() / off.as_secs_f64()
        );
    } else {
        println!("authz per connection: capability-granted path needs root (skipped)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
