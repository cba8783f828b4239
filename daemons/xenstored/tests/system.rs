//! xenstored in system mode, hermetically: a private mount namespace with
//! its own passwd and group (the xvm account, test users), its own
//! policy under XVM_ROOT, and the daemon started as root. Root only.

use std::path::Path;
use std::time::Duration;
use xvm_tests::check;

use privlib::testing::{as_user, fake_users, in_private_tmpfs, write_policy};
use xenstored::client::{Client, ClientError};
use xenstored::wire::XsError;
use xvm_tests::require_root;
use xvm_tests::stack::Xenstored;

const XVM: u32 = 48_500;
const ALICE: u32 = 48_100; // virt_manage by group
const BOB: u32 = 48_101; // nothing
const VIRT: u32 = 48_200;
const DM_BASE: u32 = 49_000; // domain 3's device model runs as 49003

fn setup(root: &Path) -> Result<(), String> {
    fake_users(
        root,
        &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)],
        &[("virt", VIRT, &["alice"])],
    )?;
    write_policy(
        root,
        "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n",
    )
    .map_err(String::from)
}

fn daemon(root: &Path, extra: &[&str]) -> Result<Xenstored, String> {
    let mut args = vec!["--dm-uid-base", "49000"];
    args.extend_from_slice(extra);
    Ok(Xenstored::start(
        &root.join("run/xenstored"),
        &args,
        &[("XVM_ROOT", root)],
    )?)
}

fn xs_err(r: Result<impl std::fmt::Debug, ClientError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(v) => format!("unexpected success: {v:?}"),
    }
}

#[test]
fn runs_as_xvm_with_nothing_and_serves_by_privilege() {
    if !require_root("runs_as_xvm_with_nothing_and_serves_by_privilege") {
        return;
    }
    let verdict = in_private_tmpfs("xs-system", |root| {
        setup(root)?;
        let d = daemon(root, &["--entry-nb", "5", "--watch-nb", "3"])?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid()))
            .map_err(|e| e.to_string())?;
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| {
                    l.strip_prefix(k)
                        .map(|r| r.trim_start_matches(':').trim().to_string())
                })
                .unwrap_or_default()
        };
        check(
            field("Uid") == format!("{XVM}\t{XVM}\t{XVM}\t{XVM}"),
            format!("Uid {}", field("Uid")),
        )?;
        check(
            field("Gid") == format!("{XVM}\t{XVM}\t{XVM}\t{XVM}"),
            format!("Gid {}", field("Gid")),
        )?;
        for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            check(field(k) == "0000000000000000", format!("{k} {}", field(k)))?;
        }
        check(field("NoNewPrivs") == "1", "NoNewPrivs")?;
        let meta = std::fs::metadata(d.socket()).map_err(|e| e.to_string())?;
        check(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777 == 0o666,
            "socket mode 0666",
        )?;

        // Root holds xvm_control (uids = [0]): introduce domain 3 and give it a home.
        let mut root_c = Client::connect(&d.socket()).map_err(|e| e.to_string())?;
        root_c
            .introduce(3, 0, 1)
            .map_err(|e| format!("root introduce: {e}"))?;
        root_c
            .mkdir(0, "/local/domain/3")
            .map_err(|e| e.to_string())?;
        root_c
            .set_perms(0, "/local/domain/3", &["n3"])
            .map_err(|e| e.to_string())?;
        // Created beneath it now, `name` inherits n3: domain 3 owns it.
        root_c
            .write(0, "/local/domain/3/name", b"guest")
            .map_err(|e| e.to_string())?;
        root_c
            .write(0, "/secret", b"dom0 only")
            .map_err(|e| e.to_string())?;

        // Bob holds nothing: refused on the first request, and audited.
        let sock = d.socket();
        as_user(BOB, &[], || {
            let e = xs_err(Client::connect(&sock));
            Ok(check(
                e == "permission denied: xvm_control or virt_manage required",
                format!("bob: {e}"),
            )?)
        })?;
        let log = d.log_text();
        check(
            log.lines().any(|l| {
                l.contains("outcome=denied")
                    && l.contains(&format!("uid={BOB}"))
                    && l.contains("xvm_control or virt_manage required")
            }),
            format!("no denial in the audit log: {log}"),
        )?;

        // Alice holds virt_manage by group: reads and writes, no INTRODUCE.
        as_user(ALICE, &[VIRT], || {
            let mut c = Client::connect(&sock).map_err(|e| e.to_string())?;
            c.write(0, "/vm/1/name", b"alice-vm")
                .map_err(|e| format!("alice write: {e}"))?;
            check(
                c.read(0, "/secret").map_err(|e| e.to_string())? == b"dom0 only",
                "virt_manage reads as dom0",
            )?;
            let e = xs_err(c.introduce(4, 0, 1));
            Ok(check(
                e == "EACCES",
                format!("introduce by virt_manage: {e}"),
            )?)
        })?;

        // Domain 3's device model: node permissions and quotas apply.
        as_user(DM_BASE + 3, &[], || {
            let mut c = Client::connect(&sock).map_err(|e| e.to_string())?;
            check(
                c.read(0, "name")
                    .map_err(|e| format!("dom3 read name: {e}"))?
                    == b"guest",
                "reads its own home, relatively",
            )?;
            let e = xs_err(c.read(0, "/secret"));
            check(e == "EACCES", format!("dom3 reading /secret: {e}"))?;
            // It owns /local/domain/3 (1 node): 4 more fit the quota of 5.
            let mut written = 0;
            let e = loop {
                match c.write(0, &format!("data/n{written}"), b"x") {
                    Ok(()) => written += 1,
                    Err(e) => break e.to_string(),
                }
                if written > 10 {
                    break "no quota".into();
                }
            };
            check(
                e == "ENOSPC",
                format!("entry quota after {written} writes: {e}"),
            )?;
            for i in 0..3 {
                c.watch(&format!("w{i}"), "t")
                    .map_err(|e| format!("watch {i}: {e}"))?;
            }
            let e = xs_err(c.watch("w3", "t"));
            Ok(check(e == "E2BIG", format!("watch quota: {e}"))?)
        })?;

        // socket_ro: every write-type request gets EROFS.
        let mut ro = Client::connect(&d.socket_ro()).map_err(|e| e.to_string())?;
        check(
            ro.read(0, "/secret").map_err(|e| e.to_string())? == b"dom0 only",
            "socket_ro reads",
        )?;
        for e in [
            xs_err(ro.write(0, "/x", b"1")),
            xs_err(ro.mkdir(0, "/x")),
            xs_err(ro.rm(0, "/secret")),
            xs_err(ro.set_perms(0, "/secret", &["n0"])),
            xs_err(ro.transaction_start()),
        ] {
            check(e == "EROFS", format!("socket_ro write: {e}"))?;
        }
        Ok(())
    });
    verdict.expect("system mode");
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if !require_root("acknowledged_writes_survive_kill_9") {
        return;
    }
    let verdict = in_private_tmpfs("xs-kill", |root| {
        setup(root)?;
        let mut d = daemon(root, &[])?;
        let sock = d.socket();
        let writer = std::thread::spawn(move || {
            let mut acked = 0u32;
            if let Ok(mut c) = Client::connect(&sock) {
                while c
                    .write(0, &format!("/k/n{acked}"), format!("v{acked}").as_bytes())
                    .is_ok()
                {
                    acked += 1;
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(300));
        d.kill(); // SIGKILL
        let acked = writer.join().map_err(|_| "writer panicked")?;
        check(acked > 10, format!("only {acked} writes before the kill"))?;
        drop(d);
        let d = daemon(root, &[])?;
        let mut c = Client::connect(&d.socket()).map_err(|e| e.to_string())?;
        for i in 0..acked {
            let v = c
                .read(0, &format!("/k/n{i}"))
                .map_err(|e| format!("/k/n{i} lost after kill -9: {e}"))?;
            check(
                v == format!("v{i}").as_bytes(),
                format!("/k/n{i} holds {v:?}"),
            )?;
        }
        Ok(())
    });
    verdict.expect("durability");
}

#[test]
fn a_damaged_store_is_reported_not_dropped() {
    if !require_root("a_damaged_store_is_reported_not_dropped") {
        return;
    }
    let verdict = in_private_tmpfs("xs-damage", |root| {
        setup(root)?;
        let d = daemon(root, &[])?;
        let mut c = Client::connect(&d.socket()).map_err(|e| e.to_string())?;
        c.write(0, "/a", b"1").map_err(|e| e.to_string())?;
        c.write(0, "/b", b"2").map_err(|e| e.to_string())?;
        drop((c, d));
        let tdb = root.join("run/xenstored/tdb");
        let mut bytes = std::fs::read(&tdb).map_err(|e| e.to_string())?;
        bytes[20] ^= 0xff;
        std::fs::write(&tdb, &bytes).map_err(|e| e.to_string())?;
        let e = daemon(root, &[])
            .err()
            .ok_or("a damaged store must stop the daemon")?;
        Ok(check(
            e.contains("damaged at byte") && e.contains("tdb"),
            format!("message: {e}"),
        )?)
    });
    verdict.expect("damage");
}

#[test]
fn the_watcher_of_introduce_and_release_hears_both() {
    if !require_root("the_watcher_of_introduce_and_release_hears_both") {
        return;
    }
    let verdict = in_private_tmpfs("xs-events", |root| {
        setup(root)?;
        let d = daemon(root, &[])?;
        let mut w = Client::connect(&d.socket()).map_err(|e| e.to_string())?;
        w.watch("@introduceDomain", "i")
            .map_err(|e| e.to_string())?;
        w.watch("@releaseDomain", "r").map_err(|e| e.to_string())?;
        let mut seen = Vec::new();
        while let Some((p, _)) = w
            .next_event(Duration::from_millis(200))
            .map_err(|e| e.to_string())?
        {
            seen.push(p);
        }
        let mut c = Client::connect(&d.socket()).map_err(|e| e.to_string())?;
        c.introduce(7, 0, 1).map_err(|e| e.to_string())?;
        c.release(7).map_err(|e| e.to_string())?;
        while let Some((p, _)) = w
            .next_event(Duration::from_millis(500))
            .map_err(|e| e.to_string())?
        {
            seen.push(p);
        }
        check(
            seen == [
                "@introduceDomain",
                "@releaseDomain",
                "@introduceDomain",
                "@releaseDomain",
            ],
            format!("events: {seen:?}"),
        )?;
        Ok(check(
            matches!(c.release(7), Err(ClientError::Xs(XsError::Enoent))),
            "release twice",
        )?)
    });
    verdict.expect("special watches");
}
