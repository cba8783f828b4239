//! DESIGN.md invariant 2, for real: after `init_daemon_priv` to an
//! unprivileged uid a process cannot regain root or capabilities. Each
//! test forks, drops in the child, and tries. Root only.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::{Command, Stdio};

use privlib::caps::{CapMask, num};
use privlib::sys::child::fork_call;
use privlib::sys::{CapState, CredOp, Linux, Sys, probe};
use privlib::testing::in_private_tmpfs;
use privlib::{
    InitFlags, PrivOp, PrivSet, init_daemon_priv, parse_set, priv_bracket, priv_bracket_init,
};
use xvm_tests::hermetic::copy_binary;
use xvm_tests::procfs::field;
use xvm_tests::require_root;
use xvm_tests::{check, serial};

/// An unprivileged uid with no passwd entry, unlikely to own anything.
const UID: u32 = 48_000;

fn drop_to(uid: u32, privs: &str) -> Result<(), String> {
    let privs = parse_set(privs).map_err(|e| e.to_string())?;
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        Some(uid),
        Some(uid),
        &privs,
    )
    .map_err(|e| format!("init_daemon_priv: {e}"))
}

fn own_status() -> Result<String, String> {
    fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())
}

/// Runs `bin /proc/self/status` and returns its output (None: the kernel
/// refused to exec it with EPERM).
fn status_of(bin: &Path) -> Result<Option<String>, String> {
    match Command::new(bin).arg("/proc/self/status").output() {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(None),
        Err(e) => Err(format!("{}: {e}", bin.display())),
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
    }
}

#[test]
fn after_init_daemon_priv_root_is_gone_for_good() {
    if !require_root("after_init_daemon_priv_root_is_gone_for_good") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("invariant2", |dir| {
        let suid_cat = copy_binary("/bin/cat", dir, "suid-cat", 0o4755)?;
        let fcap_cat = copy_binary("/bin/cat", dir, "fcap-cat", 0o755)?;
        let st = Command::new("setcap")
            .arg("cap_dac_override,cap_sys_admin+ep")
            .arg(&fcap_cat)
            .status();
        check(
            st.is_ok_and(|s| s.success()),
            format!("setcap on {}", fcap_cat.display()),
        )?;
        let secret = dir.join("root-only");
        fs::write(&secret, "secret\n").map_err(|e| e.to_string())?;
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;

        // The control: a plain setuid() to UID, without privlib, still gets
        // euid 0 from the set-uid binary and capabilities from the file.
        // Without this the checks below could pass for the wrong reason
        // (a nosuid mount, a kernel ignoring file capabilities).
        fork_call(|| {
            Linux
                .apply(&CredOp::SetUid(UID))
                .map_err(|e| format!("setuid: errno {e}"))?;
            let s = status_of(&suid_cat)?.ok_or("suid-cat refused")?;
            check(
                field(&s, "Uid").split('\t').nth(1) == Some("0"),
                format!("control: suid gave Uid {}", field(&s, "Uid")),
            )?;
            let s = status_of(&fcap_cat)?.ok_or("fcap-cat refused")?;
            Ok(check(
                field(&s, "CapEff") != "0000000000000000",
                "control: file capabilities not granted",
            )?)
        })?;

        let mut victim = Command::new("sleep")
            .arg("30")
            .spawn()
            .map_err(|e| e.to_string())?;
        let victim_pid = i32::try_from(victim.id()).map_err(|e| e.to_string())?;
        let verdict = fork_call(|| {
            drop_to(UID, "basic")?;
            // /proc shows the drop.
            let s = own_status()?;
            check(
                field(&s, "Uid") == format!("{UID}\t{UID}\t{UID}\t{UID}"),
                format!("Uid: {}", field(&s, "Uid")),
            )?;
            for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                check(
                    field(&s, k) == "0000000000000000",
                    format!("{k}: {}", field(&s, k)),
                )?;
            }
            check(field(&s, "NoNewPrivs") == "1", "NoNewPrivs not set")?;
            // setuid(0) fails.
            check(
                Linux.apply(&CredOp::SetUid(0)) == Err(libc::EPERM),
                "setuid(0) did not fail with EPERM",
            )?;
            // Raising a capability fails.
            let admin = CapMask::of(&[num::SYS_ADMIN]);
            let raise = CredOp::SetCaps(CapState {
                effective: admin,
                permitted: admin,
                inheritable: CapMask::EMPTY,
            });
            check(
                Linux.apply(&raise) == Err(libc::EPERM),
                "capset raise did not fail with EPERM",
            )?;
            // The set-uid-root binary runs with our uid and no capability;
            // the file-capability binary gains nothing (or the kernel
            // refuses to run it without its capabilities: EPERM).
            for bin in [&suid_cat, &fcap_cat] {
                let Some(s) = status_of(bin)? else {
                    check(bin == &fcap_cat, format!("{} refused", bin.display()))?;
                    continue;
                };
                check(
                    field(&s, "Uid").split('\t').all(|u| u == UID.to_string()),
                    format!("{}: Uid {}", bin.display(), field(&s, "Uid")),
                )?;
                check(
                    field(&s, "CapEff") == "0000000000000000",
                    format!("{}: CapEff {}", bin.display(), field(&s, "CapEff")),
                )?;
                check(
                    field(&s, "CapPrm") == "0000000000000000",
                    format!("{}: CapPrm {}", bin.display(), field(&s, "CapPrm")),
                )?;
            }
            // ptrace of another process fails.
            check(
                probe::ptrace_attach(victim_pid).is_err(),
                "ptrace of a root process succeeded",
            )?;
            // A root-only file stays closed.
            let e = fs::read(&secret).err().map(|e| e.kind());
            check(
                e == Some(std::io::ErrorKind::PermissionDenied),
                format!("reading the root-only file: {e:?}"),
            )?;
            // Securebits: uid 0 means nothing any more, and that is locked.
            Ok(check(
                Linux.securebits() & 0x0f == 0x0f,
                format!("securebits {:#x}", Linux.securebits()),
            )?)
        });
        let _ = victim.kill();
        let _ = victim.wait();
        Ok(verdict?)
    });
    verdict.expect("invariant 2");
}

#[test]
fn a_bracketed_privilege_works_only_while_bracketed_on() {
    if !require_root("a_bracketed_privilege_works_only_while_bracketed_on") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("bracket", |dir| {
        let file = dir.join("owned");
        fs::write(&file, "x").map_err(|e| e.to_string())?;
        chown(&file, Some(UID), Some(UID)).map_err(|e| e.to_string())?;
        fork_call(|| {
            drop_to(UID, "file_chown")?;
            let chown_priv = parse_set("file_chown").map_err(|e| e.to_string())?;
            priv_bracket_init(&chown_priv).map_err(|e| e.to_string())?;
            let give = |to| chown(&file, Some(to), None);
            check(give(UID + 1).is_err(), "chown worked with the bracket off")?;
            priv_bracket(PrivOp::On).map_err(|e| e.to_string())?;
            give(UID + 1).map_err(|e| format!("chown with the bracket on: {e}"))?;
            priv_bracket(PrivOp::Off).map_err(|e| e.to_string())?;
            check(
                give(UID + 2).is_err(),
                "chown worked after the bracket went off",
            )?;
            let s = own_status()?;
            check(
                field(&s, "CapEff") == "0000000000000000",
                format!("CapEff {}", field(&s, "CapEff")),
            )?;
            Ok(check(
                field(&s, "CapPrm") == "0000000000000001",
                format!("CapPrm {}", field(&s, "CapPrm")),
            )?)
        })?;
        let owner =
            std::os::unix::fs::MetadataExt::uid(&fs::metadata(&file).map_err(|e| e.to_string())?);
        Ok(check(
            owner == UID + 1,
            format!(
                "owner is {owner}, the bracketed chown should have made it {}",
                UID + 1
            ),
        )?)
    });
    verdict.expect("bracket");
}

#[test]
fn started_as_the_user_with_ambient_capabilities_it_trims() {
    if !require_root("started_as_the_user_with_ambient_capabilities_it_trims") {
        return;
    }
    let _g = serial();
    let verdict = fork_call(|| {
        // What a service manager does: run us as UID with ambient capabilities.
        let given = CapMask::of(&[num::CHOWN, num::NET_BIND_SERVICE, num::SETPCAP]);
        let mut sys = Linux;
        for op in [
            CredOp::KeepCaps(true),
            CredOp::SetGid(UID),
            CredOp::SetUid(UID),
            CredOp::SetCaps(CapState {
                effective: given,
                permitted: given,
                inheritable: given,
            }),
            CredOp::RaiseAmbient(given),
        ] {
            sys.apply(&op)
                .map_err(|e| format!("{}: errno {e}", op.step()))?;
        }
        let s = own_status()?;
        check(field(&s, "CapAmb") != "0000000000000000", "ambient set up")?;
        drop_to(UID, "file_chown")?;
        let s = own_status()?;
        check(
            field(&s, "CapPrm") == "0000000000000001",
            format!("CapPrm {}", field(&s, "CapPrm")),
        )?;
        check(
            field(&s, "CapAmb") == "0000000000000000",
            format!("CapAmb {}", field(&s, "CapAmb")),
        )?;
        check(
            field(&s, "CapBnd") == "0000000000000001",
            format!("CapBnd {}", field(&s, "CapBnd")),
        )?;
        Ok(check(field(&s, "NoNewPrivs") == "1", "NoNewPrivs")?)
    });
    verdict.expect("ambient trim");
}

#[test]
fn refuses_a_multi_threaded_process() {
    // No root needed: the refusal comes before any change.
    let _g = serial();
    let t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(300)));
    let e = init_daemon_priv(InitFlags::NONE, None, None, &PrivSet::none()).expect_err("threads");
    assert!(e.to_string().contains("threads are running"), "{e}");
    t.join().expect("join");
}

#[test]
fn removed_basic_privileges_are_enforced_on_the_process() {
    let _g = serial();
    let verdict = fork_call(|| {
        let off = parse_set("proc_fork,net_access").map_err(|e| e.to_string())?;
        privlib::setppriv(PrivOp::Off, privlib::Which::Effective, &off)
            .map_err(|e| e.to_string())?;
        let fork = Command::new("/bin/true").stdin(Stdio::null()).status();
        check(fork.is_err(), format!("fork still works: {fork:?}"))?;
        let sock = std::net::TcpListener::bind("127.0.0.1:0");
        check(sock.is_err(), "a TCP socket could still be made")?;
        let unix = std::os::unix::net::UnixDatagram::unbound();
        check(unix.is_ok(), "unix sockets must stay")?;
        let sets = privlib::getppriv().map_err(|e| e.to_string())?;
        Ok(check(
            !sets
                .permitted
                .has(privlib::names::lookup("proc_fork").ok_or("name")?),
            "P still has proc_fork",
        )?)
    });
    verdict.expect("basic removal");
}

#[test]
fn a_filter_that_cannot_reach_every_thread_is_an_error() {
    let _g = serial();
    let verdict = fork_call(|| {
        Linux
            .apply(&CredOp::NoNewPrivs)
            .map_err(|e| format!("nnp: errno {e}"))?;
        // Another thread installs a filter of its own: TSYNC cannot then
        // synchronise, and the kernel installs nothing anywhere.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let prog = privlib::sys::bpf::assemble(&[]).expect("allow-all");
            let r = Linux.apply(&CredOp::Seccomp {
                prog,
                flags: 0,
                listener_to: None,
            });
            let _ = tx.send(r);
            let _ = done_rx.recv();
        });
        rx.recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("thread filter: errno {e}"))?;
        let off = parse_set("proc_fork").map_err(|e| e.to_string())?;
        let r = privlib::setppriv(PrivOp::Off, privlib::Which::Effective, &off);
        let _ = done_tx.send(());
        let _ = t.join();
        check(
            r.is_err(),
            "setppriv reported success though no filter was installed",
        )?;
        let sets = privlib::getppriv().map_err(|e| e.to_string())?;
        Ok(check(
            sets.permitted
                .has(privlib::names::lookup("proc_fork").ok_or("name")?),
            "proc_fork recorded as gone",
        )?)
    });
    verdict.expect("tsync");
}
