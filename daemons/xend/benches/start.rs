//! Domain start to the first console byte: the least-privileged launch
//! (`dm::spawn` of what `dm::prepare` checked: own uid, private /dev,
//! Landlock, seccomp, no capability) against the same qemu command line
//! started directly as root, interleaved, medians compared in one run.
//! Both are timed from the spawn on: prepare's checks (and the root
//! baseline's opening of the disk) come before the clock starts. Target:
//! at most 1.05x.
//!
//! Run (as root): `cargo bench -p xend`.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use xend::config;
use xend::dm::prepare::{Host, Request, prepare};
use xend::dm::{self, DmFds};
use xend::domain::Settings;

const ROUNDS: usize = 9;
const BASE: u32 = 49_900;

fn kvm_gid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/dev/kvm").ok()?;
    (m.mode() & 0o060 == 0o060).then(|| m.gid())
}

/// Starts one domain one way; seconds to the first serial byte.
fn once(dir: &Path, cfg: &config::DomainConfig, text: &str, least: bool, kvm: Option<u32>) -> f64 {
    let _ = std::fs::remove_file(dir.join("qmp"));
    let _ = std::fs::remove_file(dir.join("serial"));
    let qmp = OwnedFd::from(UnixListener::bind(dir.join("qmp")).expect("qmp"));
    let serial = OwnedFd::from(UnixListener::bind(dir.join("serial")).expect("serial"));
    let log = OwnedFd::from(std::fs::File::create(dir.join("qemu.log")).expect("log"));
    let fds = DmFds {
        qmp: &qmp,
        serial: &serial,
        log: &log,
        nics: &[],
    };
    // Both ways get the disk as prepare opened it (a -blockdev graph of
    // passed fds): the baseline only drops the least privilege.
    let prepared = {
        let req = Request {
            domid: 1,
            uid: BASE + 1,
            gid: BASE + 1,
            config: cfg,
            uuid: "00000000-0000-4000-8000-000000000001",
            source: "bench.cfg",
            text,
        };
        prepare(
            &Settings::device_model_only(dir, BASE, kvm),
            req,
            &Host::own_uids(),
        )
        .expect("prepare")
    };
    let t = Instant::now();
    let mut child = if least {
        dm::spawn(&prepared, &fds).expect("spawn")
    } else {
        // The same command line, as root, with nothing taken away.
        let mut sp = privlib::Spawn::new(dm::QEMU)
            .args(dm::qemu_args(cfg, kvm.is_some()))
            .args(dm::blockdev::args(&prepared))
            .no_new_privs(false)
            .pass_fd(log.as_raw_fd(), 1)
            .pass_fd(log.as_raw_fd(), 2)
            .pass_fd(qmp.as_raw_fd(), 3)
            .pass_fd(serial.as_raw_fd(), 4);
        for (from, to) in dm::blockdev::fds(&prepared) {
            sp = sp.pass_fd(from, to);
        }
        sp.spawn().expect("spawn")
    };
    let mut s = UnixStream::connect(dir.join("serial")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut b = [0u8; 1];
    s.read_exact(&mut b).expect("first byte");
    let took = t.elapsed().as_secs_f64();
    let _ = child.kill(libc::SIGKILL);
    let _ = child.wait();
    took
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !privlib::testing::is_root() {
        println!("domain start benchmark: needs root (it starts qemu under other uids); skipped");
        return;
    }
    let dir = xvm_tests::scratch("bench-dm").expect("dir");
    std::fs::write(dir.join("guest.img"), xend::testguest::image()).expect("image");
    let text = format!(
        "name = \"bench\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\ndisk = [ '{},raw,hda,rw' ]\n",
        dir.join("guest.img").display()
    );
    let cfg = config::parse(Path::new("bench.cfg"), &text).expect("config");
    let mut accels = vec![None];
    if let Some(g) = kvm_gid() {
        accels.push(Some(g));
    }
    for kvm in accels {
        let (mut least, mut root) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS + 1 {
            let (a, b) = (
                once(&dir, &cfg, &text, true, kvm),
                once(&dir, &cfg, &text, false, kvm),
            );
            if i > 0 {
                // The first round warms the page cache for both.
                least.push(a);
                root.push(b);
            }
        }
        let (l, r) = (median(&mut least), median(&mut root));
        println!(
            "domain start to first console byte ({}), median of {ROUNDS}: least privilege {:.1} ms, root {:.1} ms: ratio {:.3} (target <= 1.05)",
            if kvm.is_some() { "KVM" } else { "TCG" },
            l * 1000.0,
            r * 1000.0,
            l / r
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
