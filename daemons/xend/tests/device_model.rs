//! A real qemu started by `dm::launch` (root, hermetic): the test guest
//! (a 512-byte boot sector) prints its banner on COM1, which arrives on
//! the serial socket; the qemu runs as base + domid with no capability,
//! no_new_privs and seccomp, in its own mount namespace whose /dev holds
//! only the allowed nodes.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use privlib::testing::{have_program, in_private_tmpfs, root_or_skip};
use xend::config;
use xend::dm::{self, DmSpec};

mod common;
use common::{BANNER, boot_sector, check_unprivileged_qemu};

const BASE: u32 = 49_500;
fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// The kvm group, when /dev/kvm is there for it.
fn kvm_gid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/dev/kvm").ok()?;
    (m.mode() & 0o060 == 0o060).then(|| m.gid())
}

#[test]
fn the_guest_boots_under_an_unprivileged_qemu() {
    boots("the_guest_boots_under_an_unprivileged_qemu", None);
}

/// The same with KVM where /dev/kvm is usable: the domain's uid gets the
/// kvm group, and /dev/kvm appears in its /dev.
#[test]
fn the_guest_boots_with_kvm_where_there_is_kvm() {
    match kvm_gid() {
        Some(g) => boots("the_guest_boots_with_kvm_where_there_is_kvm", Some(g)),
        None => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "no usable /dev/kvm here: the TCG test covers the launch"
            );
        }
    }
}

fn boots(test: &str, kvm: Option<u32>) {
    if !root_or_skip(test) || !have_program("qemu-system-x86_64", "qemu-system-x86", test) {
        return;
    }
    let name = if kvm.is_some() {
        "xend-dm-kvm"
    } else {
        "xend-dm"
    };
    let verdict = in_private_tmpfs(name, |dir| {
        let e = |e: std::io::Error| e.to_string();
        let img = dir.join("guest.img");
        std::fs::write(&img, boot_sector()).map_err(e)?;
        let cfg_text = format!(
            "name = \"testguest\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\ndisk = [ '{},raw,hda,rw' ]\n",
            img.display()
        );
        let cfg = config::parse(Path::new("test.cfg"), &cfg_text).map_err(|e| e.to_string())?;
        let qmp = UnixListener::bind(dir.join("qmp")).map_err(e)?;
        let serial = UnixListener::bind(dir.join("serial")).map_err(e)?;
        let disk = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&img)
            .map_err(e)?;
        let log = std::fs::File::create(dir.join("qemu.log")).map_err(e)?;
        let domid = 7;
        let spec = DmSpec {
            domid,
            config: &cfg,
            uid: BASE + domid,
            gid: BASE + domid,
            kvm: kvm.is_some(),
            groups: Some(kvm.into_iter().collect()),
            qmp: &OwnedFd::from(qmp),
            serial: &OwnedFd::from(serial),
            disks: &[OwnedFd::from(disk)],
            log: &OwnedFd::from(log),
            qemu: dm::QEMU.into(),
        };
        let mut child = dm::launch(&spec).map_err(|e| e.to_string())?;
        let pid = child.pid();
        let result = (|| {
            let mut s = UnixStream::connect(dir.join("serial")).map_err(e)?;
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .map_err(e)?;
            let mut got = Vec::new();
            let t = Instant::now();
            while !got.windows(BANNER.len()).any(|w| w == BANNER) {
                let mut buf = [0u8; 256];
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) if t.elapsed() < Duration::from_secs(60) => {}
                    Err(err) => {
                        return Err(format!(
                            "no banner after 60 s ({err}); got {:?}; qemu log: {}",
                            String::from_utf8_lossy(&got),
                            std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default()
                        ));
                    }
                }
            }
            check(
                got.windows(BANNER.len()).any(|w| w == BANNER),
                format!("serial closed: {got:?}"),
            )?;
            check_unprivileged_qemu(pid, BASE + domid)?;
            let has_kvm = std::fs::read_dir(format!("/proc/{pid}/root/dev"))
                .map_err(e)?
                .filter_map(Result::ok)
                .any(|d| d.file_name() == "kvm");
            check(
                has_kvm == kvm.is_some(),
                "/dev/kvm present exactly when KVM is used",
            )?;
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).map_err(e)?;
            let accel = if kvm.is_some() {
                "accel=kvm"
            } else {
                "accel=tcg"
            };
            check(cmd.contains(accel), format!("qemu runs without {accel}"))
        })();
        let _ = child.kill(libc::SIGKILL);
        let _ = child.wait();
        result
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
