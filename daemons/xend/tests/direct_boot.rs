//! A direct kernel boot as xend starts one, `dm::prepare` then
//! `dm::spawn` (root, hermetic: a private tmpfs as the image directory,
//! the sockets and log the test's own): the Linux test guest
//! (`xvm_tests::guest`, Debian's kernel and a busybox initramfs) boots
//! under the unprivileged qemu from the kernel and ramdisk xend opened,
//! prints its banner and prompt on the serial socket, and answers a
//! command typed there. The kernel is root's, mode 0600, as
//! `/var/lib/xen/images` keeps them: qemu gets a nameless read-only copy
//! and the file itself is unchanged (owner, mode, mtime); the ramdisk is
//! world-readable and given as it is. Landlock lets that qemu read those
//! two and not a readable file beside them (asked over QMP, which opens
//! what it is told). Under KVM where KVM boots the kernel
//! (`xvm_tests::console::kvm_boots_linux`: on some nested hosts /dev/kvm
//! opens and stops a Linux kernel after its setup code), else TCG.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use privlib::testing::in_private_tmpfs;
use serde_json::json;
use support::{Domain, prepare_in, with_device_model};
use xend::config;
use xend::qmp::Qmp;
use xvm_tests::guest::{LINUX_BANNER, LINUX_CMDLINE, LINUX_PROMPT, require_linux_guest};
use xvm_tests::procfs::check_unprivileged_qemu;
use xvm_tests::{Error, check, require_program, require_root};

const BASE: u32 = 49_600;
const DOMID: u32 = 9;
/// The kvm group of the hermetic /dev/kvm.
const KVM_GID: u32 = 49_690;

/// In the private namespace: a /dev/kvm node (the host's device number)
/// of group [`KVM_GID`], mode 0660, bound over the host's (which may be
/// root's alone), as device_model.rs makes it.
fn hermetic_kvm(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata("/dev/kvm")
        .map_err(Error::io("stat", "/dev/kvm"))?
        .rdev();
    let node = dir.join("kvm").display().to_string();
    let (major, minor) = (libc::major(rdev).to_string(), libc::minor(rdev).to_string());
    for (program, args) in [
        ("mknod", vec!["-m", "0660", &node, "c", &major, &minor]),
        ("chgrp", vec![&KVM_GID.to_string(), &node]),
        ("mount", vec!["--bind", &node, "/dev/kvm"]),
    ] {
        let st = Command::new(program)
            .args(&args)
            .status()
            .map_err(|source| Error::Spawn {
                program: program.into(),
                source,
            })?;
        check(st.success(), format!("{program} {args:?}: {st}"))?;
    }
    Ok(())
}

/// How long the guest may take to give its prompt (TCG on a busy
/// machine; it takes seconds).
const BOOT: Duration = Duration::from_secs(120);

/// Whether qemu `pid` (the test's child) has ended: a zombie, not reaped.
fn ended(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|st| {
            st.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Reads `s` into `got` until `want` is in it (after `from`), or fails
/// after `limit` or once qemu `pid` ended, showing what came.
fn read_until(
    pid: i32,
    s: &mut UnixStream,
    got: &mut Vec<u8>,
    from: usize,
    want: &str,
    limit: Duration,
) -> Result<usize, Error> {
    let t = Instant::now();
    loop {
        let tail = got.get(from..).unwrap_or_default();
        if let Some(at) = tail.windows(want.len()).position(|w| w == want.as_bytes()) {
            return Ok(from + at + want.len());
        }
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => {
                return Err(Error::Check(format!(
                    "serial closed before {want:?}; got {:?}",
                    String::from_utf8_lossy(got)
                )));
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) if ended(pid) => {
                return Err(Error::Check(format!(
                    "qemu ended before {want:?}; got {:?}",
                    String::from_utf8_lossy(got)
                )));
            }
            Err(e) if t.elapsed() >= limit => {
                return Err(Error::Check(format!(
                    "no {want:?} after {} s ({e}); got {:?}",
                    limit.as_secs(),
                    String::from_utf8_lossy(got)
                )));
            }
            Err(_) => {}
        }
    }
}

/// qemu opens `path` as a read-only block node: what Landlock lets it.
fn qmp_opens(qmp: &mut Qmp, node: &str, path: &str) -> Result<(), xend::qmp::QmpError> {
    qmp.call(
        "blockdev-add",
        json!({"driver": "file", "filename": path, "node-name": node,
               "read-only": true, "locking": "off"}),
    )
    .map(drop)
}

#[test]
fn the_linux_guest_boots_from_its_kernel_and_ramdisk_and_answers_on_serial() {
    let test = "the_linux_guest_boots_from_its_kernel_and_ramdisk_and_answers_on_serial";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let Some(guest) = require_linux_guest(test) else {
        return;
    };
    let kvm = xvm_tests::console::kvm_boots_linux(&guest.kernel, &guest.initrd);
    let accel = if kvm { "KVM" } else { "TCG" };
    let verdict = in_private_tmpfs("xend-direct-boot", |dir| {
        let e = |e: std::io::Error| e.to_string();
        if kvm {
            hermetic_kvm(dir)?;
        }
        // The image directory is the tmpfs: the guest's files copied in
        // (the cache is elsewhere); the kernel root's alone, mode 0600,
        // the ramdisk world-readable.
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd.gz"));
        std::fs::copy(&guest.kernel, &kernel).map_err(e)?;
        std::fs::copy(&guest.initrd, &initrd).map_err(e)?;
        std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o600)).map_err(e)?;
        std::fs::set_permissions(&initrd, std::fs::Permissions::from_mode(0o644)).map_err(e)?;
        // xend's managed-domains directory (on disk), where the
        // kernel's copy is made.
        std::fs::create_dir(dir.join("managed")).map_err(e)?;
        let stat = |p: &Path| {
            std::fs::metadata(p).map(|m| (m.uid(), m.gid(), m.mode(), m.mtime(), m.mtime_nsec()))
        };
        let before = (stat(&kernel).map_err(e)?, stat(&initrd).map_err(e)?);
        let beside = dir.join("beside.img");
        std::fs::write(&beside, b"readable by its mode, not by Landlock").map_err(e)?;
        let text = format!(
            "name = \"linux\"\ntype = \"hvm\"\nmemory = 256\nvcpus = 1\n\
             kernel = '{}'\nramdisk = '{}'\ncmdline = '{LINUX_CMDLINE}'\n",
            kernel.display(),
            initrd.display()
        );
        let cfg = config::parse(Path::new("linux.cfg"), &text).map_err(|e| e.to_string())?;
        let d = Domain {
            domid: DOMID,
            uuid: "00000000-0000-4000-8000-000000000009",
            source: "linux.cfg",
            text: &text,
            config: &cfg,
        };
        let prepared = prepare_in(dir, BASE, kvm.then_some(KVM_GID), d)?;
        let started = Instant::now();
        let result = with_device_model(dir, &prepared, |pid| -> Result<(), Error> {
            let path = dir.join("serial");
            let mut s = UnixStream::connect(&path).map_err(Error::io("connect", &path))?;
            s.set_read_timeout(Some(Duration::from_secs(1)))
                .map_err(Error::io("timeout", &path))?;
            let mut got = Vec::new();
            let at = read_until(pid, &mut s, &mut got, 0, LINUX_BANNER, BOOT)?;
            let at = read_until(pid, &mut s, &mut got, at, LINUX_PROMPT, BOOT)?;
            eprintln!(
                "{test}: banner and prompt {:.1} s after the spawn ({accel})",
                started.elapsed().as_secs_f64()
            );
            s.write_all(b"echo xvm-$((6*7))\n")
                .map_err(Error::io("write", &path))?;
            // The answer at a line's start: the echoed command line has
            // `xvm-$((6*7))`, never `xvm-42`.
            read_until(
                pid,
                &mut s,
                &mut got,
                at,
                "\nxvm-42",
                Duration::from_secs(30),
            )?;
            check_unprivileged_qemu(pid, BASE + DOMID)?;
            let cmdline = format!("/proc/{pid}/cmdline");
            let cmd = std::fs::read_to_string(&cmdline).map_err(Error::io("read", &cmdline))?;
            let want = if kvm { "accel=kvm" } else { "accel=tcg" };
            check(
                cmd.contains(want),
                format!("qemu runs with {want}: {cmd:?}"),
            )?;
            check(
                cmd.contains("-kernel\0/proc/self/fd/") && cmd.contains("-initrd\0/proc/self/fd/"),
                format!("qemu got the kernel and ramdisk by fd: {cmd:?}"),
            )?;
            // What qemu itself may open: its kernel and ramdisk fds, and
            // not a file beside them that its mode lets anyone read.
            let mut q = Qmp::connect(&dir.join("qmp")).map_err(|e| Error::Check(e.to_string()))?;
            let arg = |flag: &str| {
                cmd.split('\0')
                    .skip_while(|a| *a != flag)
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
            };
            for (node, file) in [("k", arg("-kernel")), ("r", arg("-initrd"))] {
                qmp_opens(&mut q, node, &file)
                    .map_err(|e| Error::Check(format!("qemu cannot read its {file}: {e}")))?;
            }
            for path in [&beside, &kernel] {
                let refused = qmp_opens(&mut q, "b", &path.display().to_string());
                check(
                    refused
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("Permission denied")),
                    format!("qemu may not read {}: {refused:?}", path.display()),
                )?;
            }
            let after = (
                stat(&kernel).map_err(Error::io("stat", &kernel))?,
                stat(&initrd).map_err(Error::io("stat", &initrd))?,
            );
            check(
                after == before,
                format!("owner, mode and mtime unchanged: {before:?} then {after:?}"),
            )?;
            let left = std::fs::read_dir(dir.join("managed"))
                .map_err(Error::io("read", dir.join("managed")))?
                .count();
            check(
                left == 0,
                format!("the kernel's copy has no name: {left} entries in managed"),
            )
        })?;
        Ok(result.map_err(|err| {
            let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
            format!("{err}; qemu log: {log}")
        })?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
