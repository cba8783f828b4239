//! A real qemu started as xend starts one, `dm::prepare` then
//! `dm::spawn` (root, hermetic: a made-up host's subid files, the
//! sockets and log the test's own): the test guest
//! (a 512-byte boot sector) prints its banner on COM1, which arrives on
//! the serial socket; the qemu runs as base + domid with no capability,
//! no_new_privs and seccomp, in its own mount namespace whose /dev holds
//! only the allowed nodes. Under TCG, and under KVM where /dev/kvm opens
//! (else that test skips, with the reason). And a whole `launch::run`
//! whose xenstore step fails after its transaction committed: what it
//! wrote is removed.

mod support;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use privlib::testing::in_private_tmpfs;
use support::{Domain, prepare_in, test_guest_banner, with_device_model};
use xend::config;
use xend::dm::prepare::{Host, Request, prepare};
use xend::domain::Settings;
use xenstored::wire::MsgType;
use xvm_tests::procfs::{check_unprivileged_qemu, dev_nodes};
use xvm_tests::{Error, check, require_kvm, require_program, require_root};

const BASE: u32 = 49_500;
/// The kvm group of the hermetic /dev/kvm.
const KVM_GID: u32 = 49_590;

#[test]
fn the_guest_boots_under_an_unprivileged_qemu() {
    boots("the_guest_boots_under_an_unprivileged_qemu", false);
}

/// The same with KVM: the domain's uid gets the kvm group, and /dev/kvm
/// appears in its /dev. The host's node may be root's alone (0600, as in
/// containers); the test binds a node of its own, group kvm, over it in
/// its private mount namespace, so it runs wherever root opens /dev/kvm.
#[test]
fn the_guest_boots_with_kvm_where_there_is_kvm() {
    boots("the_guest_boots_with_kvm_where_there_is_kvm", true);
}

/// In the private namespace: a /dev/kvm node (the host's device number)
/// of group [`KVM_GID`], mode 0660, bound over the host's.
fn hermetic_kvm(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata("/dev/kvm")
        .map_err(Error::io("stat", "/dev/kvm"))?
        .rdev();
    let node = dir.join("kvm");
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let run = |program: &str, args: &[&str]| -> Result<(), Error> {
        let st = Command::new(program)
            .args(args)
            .status()
            .map_err(|source| Error::Spawn {
                program: program.into(),
                source,
            })?;
        check(st.success(), format!("{program} {args:?}: {st}"))
    };
    let node_s = node.display().to_string();
    run(
        "mknod",
        &[
            "-m",
            "0660",
            &node_s,
            "c",
            &major.to_string(),
            &minor.to_string(),
        ],
    )?;
    run("chgrp", &[&KVM_GID.to_string(), &node_s])?;
    run("mount", &["--bind", &node_s, "/dev/kvm"])
}

fn boots(test: &str, use_kvm: bool) {
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || (use_kvm && !require_kvm(test))
    {
        return;
    }
    let kvm = use_kvm.then_some(KVM_GID);
    let name = if use_kvm { "xend-dm-kvm" } else { "xend-dm" };
    let verdict = in_private_tmpfs(name, |dir| {
        let e = |e: std::io::Error| e.to_string();
        if use_kvm {
            hermetic_kvm(dir)?;
        }
        let img = dir.join("guest.img");
        std::fs::write(&img, xend::testguest::image()).map_err(e)?;
        let cfg_text = format!(
            "name = \"testguest\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\ndisk = [ '{},raw,hda,rw' ]\n",
            img.display()
        );
        let cfg = config::parse(Path::new("test.cfg"), &cfg_text).map_err(|e| e.to_string())?;
        let domid = 7;
        let d = Domain {
            domid,
            uuid: "00000000-0000-4000-8000-000000000007",
            source: "test.cfg",
            text: &cfg_text,
            config: &cfg,
        };
        let prepared = prepare_in(dir, BASE, kvm, d)?;
        let result = with_device_model(dir, &prepared, |pid| -> Result<(), Error> {
            test_guest_banner(dir)?;
            check_unprivileged_qemu(pid, BASE + domid)?;
            let has_kvm = dev_nodes(pid)?.iter().any(|n| n == "kvm");
            check(
                has_kvm == kvm.is_some(),
                "/dev/kvm present exactly when KVM is used",
            )?;
            let cmdline = format!("/proc/{pid}/cmdline");
            let cmd = std::fs::read_to_string(&cmdline).map_err(Error::io("read", &cmdline))?;
            let accel = if kvm.is_some() {
                "accel=kvm"
            } else {
                "accel=tcg"
            };
            check(cmd.contains(accel), format!("qemu runs without {accel}"))?;
            // The disk is a -blockdev node on a passed fd: qemu's command
            // line names no image path.
            check(
                cmd.contains("/dev/fdset/1") && cmd.contains("ide-hd,drive=d0-0"),
                format!("qemu's disk is a blockdev on fdset 1: {cmd:?}"),
            )?;
            check(
                !cmd.contains(&img.display().to_string()),
                format!("qemu's command line names the image: {cmd:?}"),
            )
        })?;
        Ok(result?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

/// What the fake xenstored was sent: each request's type and strings.
type Sent = std::sync::Arc<std::sync::Mutex<Vec<(MsgType, Vec<String>)>>>;

/// A xenstored that commits every transaction and then refuses
/// SET_PERMS (EACCES), recording what it is sent: the store failing after
/// the domain's nodes were written.
fn refusing_xenstored(path: &Path) -> Sent {
    use std::io::{Read, Write};
    use xenstored::wire::{Frame, FrameReader, XsError};
    let sent = Sent::default();
    let listener = UnixListener::bind(path).expect("fake xenstored");
    let log = std::sync::Arc::clone(&sent);
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut reader = FrameReader::default();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                for f in reader.push(&buf[..n]).unwrap_or_default() {
                    let Some(ty) = MsgType::from_number(f.ty) else {
                        return;
                    };
                    let strings = f
                        .strings()
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect();
                    log.lock().expect("log").push((ty, strings));
                    let reply = match ty {
                        MsgType::TransactionStart => Frame::reply(&f, ty, b"1\0".to_vec()),
                        MsgType::SetPerms => Frame::error(&f, XsError::Eacces),
                        _ => Frame::reply(&f, ty, b"OK\0".to_vec()),
                    };
                    let _ = s.write_all(&reply.to_bytes());
                }
            }
        }
    });
    sent
}

/// run's last step fails after the store's transaction committed (at
/// SET_PERMS): the nodes written are removed and the domain released,
/// its qemu killed and its directory gone. Root: run starts a real qemu
/// first.
#[test]
fn a_store_failure_after_the_commit_removes_what_was_written() {
    let test = "a_store_failure_after_the_commit_removes_what_was_written";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let verdict = in_private_tmpfs("xend-dm-store", |dir| {
        let e = |e: std::io::Error| e.to_string();
        let img = dir.join("guest.img");
        std::fs::write(&img, xend::testguest::image()).map_err(e)?;
        let text = format!(
            "name = \"g\"\ntype = \"hvm\"\nmemory = 32\ndisk = [ '{},raw,hda,rw' ]\n",
            img.display()
        );
        let cfg = config::parse(Path::new("g.cfg"), &text).map_err(|e| e.to_string())?;
        let s = Settings::device_model_only(dir, BASE, None);
        let sent = refusing_xenstored(&s.xenstore);
        let (domid, uuid) = (8, "00000000-0000-4000-8000-000000000008");
        let req = Request {
            domid,
            uid: BASE + domid,
            gid: BASE + domid,
            config: &cfg,
            uuid,
            source: "g.cfg",
            text: &text,
        };
        let p = prepare(&s, req, &Host::own_uids()).map_err(|e| e.to_string())?;
        let run_dir = s.run.join("domains").join(domid.to_string());
        let got = xend::launch::run(p);
        check(
            matches!(&got, Err(xend::launch::RunError::Store { .. })),
            format!("step 7 fails: {got:?}"),
        )?;
        let sent = sent.lock().expect("log").clone();
        let at = |ty: MsgType, path: &str| {
            sent.iter()
                .position(|(t, s)| *t == ty && s.first().is_some_and(|p| p == path))
        };
        let base = format!("/local/domain/{domid}");
        let refused = at(MsgType::SetPerms, &base);
        check(refused.is_some(), format!("SET_PERMS was sent: {sent:?}"))?;
        for path in [base.clone(), format!("/vm/{uuid}")] {
            check(
                at(MsgType::Rm, &path) > refused,
                format!("{path} removed after the refusal: {sent:?}"),
            )?;
        }
        check(
            at(MsgType::Release, &domid.to_string()) > refused,
            format!("released: {sent:?}"),
        )?;
        check(!run_dir.exists(), "the domain's directory is removed")?;
        Ok(())
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
