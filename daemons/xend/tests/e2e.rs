//! xenstored + xend in system mode, driven by `xm` as a user who holds
//! `virt_manage` by group membership alone (root, hermetic: own passwd and
//! group, own tmpfs as XVM_ROOT). The test guest's banner arrives on the
//! domain's serial socket; its qemu has no privilege; xend has no
//! capability in E; a user without privilege is refused; destroy cleans
//! up and fires @releaseDomain.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use privlib::testing::{have_program, in_private_tmpfs, root_or_skip};

mod common;
use common::{
    BANNER, Ids, bindir, check, check_unprivileged_qemu, field, listed, process_of, stack, start,
    vnc_greeting, wait_until, xm,
};

const XVM: u32 = 48_800;
const ALICE: u32 = 48_801;
const BOB: u32 = 48_802;
const VIRT: u32 = 48_810;
const BASE: u32 = 49_700;

#[test]
fn a_virt_manage_user_starts_a_guest_whose_qemu_has_no_privilege() {
    let test = "a_virt_manage_user_starts_a_guest_whose_qemu_has_no_privilege";
    if !root_or_skip(test) || !have_program("qemu-system-x86_64", "qemu-system-x86", test) {
        return;
    }
    for b in ["xenstored", "xend", "xm"] {
        assert!(
            bindir().join(b).exists(),
            "{b} is not built: run cargo test --workspace"
        );
    }
    let verdict = in_private_tmpfs("xend-e2e", |base| {
        let e = |e: std::io::Error| e.to_string();
        let (root, _xs, xend) = stack(
            base,
            Ids {
                xvm: XVM,
                alice: ALICE,
                bob: BOB,
                virt: VIRT,
            },
            BASE,
            &[],
        )?;
        let base_arg = BASE.to_string();
        let xend_pid = i32::try_from(xend.0.id()).unwrap_or(0);

        // A watcher of @releaseDomain, as dom0.
        let xs_sock = root.join("run/xenstored/socket");
        let mut watcher =
            xenstored::client::Client::connect(&xs_sock).map_err(|e| e.to_string())?;
        watcher
            .watch("@releaseDomain", "rel")
            .map_err(|e| e.to_string())?;
        let _ = watcher.next_event(Duration::from_secs(2));

        // alice, by group membership alone.
        let cfg = base.join("test.cfg");
        let cfg_s = cfg.to_string_lossy();
        let (code, out, err) = xm(ALICE, &[ALICE, VIRT], &root, &["create", &cfg_s])?;
        check(
            code == 0 && out.contains("Started domain testguest (id=1)"),
            format!(
                "xm create: {code}\n{out}{err}\n{}",
                std::fs::read_to_string(base.join("xend.log")).unwrap_or_default()
            ),
        )?;

        // The banner on the domain's serial socket.
        let dir = root.join("run/xend/domains/1");
        let mut s = UnixStream::connect(dir.join("serial")).map_err(e)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(e)?;
        let mut got = Vec::new();
        while !got.windows(BANNER.len()).any(|w| w == BANNER) {
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).map_err(|err| {
                format!(
                    "no banner ({err}): {got:?} {}",
                    std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default()
                )
            })?;
            check(n > 0, format!("serial closed: {got:?}"))?;
            got.extend_from_slice(&buf[..n]);
        }

        // VNC: on the domain's unix socket, answered by qemu (xend hands
        // each client over QMP).
        vnc_greeting(&dir.join("vnc"))?;

        // The qemu: base + domid, nothing else.
        let (_, out, _) = xm(ALICE, &[ALICE, VIRT], &root, &["list"])?;
        check(listed(&out, "testguest", "1"), format!("xm list:\n{out}"))?;
        let cmdline_pid = process_of(BASE + 1)?;
        check_unprivileged_qemu(cmdline_pid, BASE + 1)?;

        // xend: xvm, nothing in E, no sys_admin anywhere.
        check(
            field(xend_pid, "Uid")?
                .split_whitespace()
                .all(|u| u == XVM.to_string()),
            "xend uid",
        )?;
        check(
            u64::from_str_radix(&field(xend_pid, "CapEff")?, 16).map_err(|e| e.to_string())? == 0,
            "xend CapEff",
        )?;
        let prm =
            u64::from_str_radix(&field(xend_pid, "CapPrm")?, 16).map_err(|e| e.to_string())?;
        check(
            // proc_setid alone: CAP_SETGID, CAP_SETUID, CAP_SETPCAP.
            prm == (1 << 6) | (1 << 7) | (1 << 8),
            format!("xend CapPrm {prm:#x}"),
        )?;

        // The store knows the domain.
        let mut xs = xenstored::client::Client::connect(&xs_sock).map_err(|e| e.to_string())?;
        check(
            xs.read(0, "/local/domain/1/name")
                .map_err(|e| e.to_string())?
                == b"testguest",
            "xenstore name",
        )?;

        // bob: refused, in one line.
        let (code, _, err) = xm(BOB, &[BOB], &root, &["list"])?;
        check(
            code == 1 && err == "xm: permission denied: xvm_control or virt_manage required\n",
            format!("bob: {code} {err}"),
        )?;

        // kill -9 of xend: the guest runs on; a new xend adopts it.
        drop(xend);
        check(
            field(cmdline_pid, "State").is_ok_and(|s| !s.starts_with('Z')),
            "qemu died with xend",
        )?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(e)?;
        {
            use std::io::Write;
            s.write_all(b"echo?").map_err(e)?;
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf)
                .map_err(|err| format!("guest does not echo after xend died: {err}"))?;
            check(&buf == b"echo?", format!("echo: {buf:?}"))?;
        }
        let _xend = start(
            "xend",
            &[
                "--system",
                "--dm-uid-base",
                &base_arg,
                "--shutdown-timeout",
                "2",
            ],
            &root,
            &base.join("xend2.log"),
            "xend serving",
        )?;
        let log2 = std::fs::read_to_string(base.join("xend2.log")).unwrap_or_default();
        check(
            log2.contains("domain adopted"),
            format!("not adopted: {log2}"),
        )?;
        let (_, out, _) = xm(ALICE, &[ALICE, VIRT], &root, &["list"])?;
        check(
            listed(&out, "testguest", "1"),
            format!("xm list after restart:\n{out}"),
        )?;
        vnc_greeting(&dir.join("vnc"))?;
        let (code, out, _) = xm(ALICE, &[ALICE, VIRT], &root, &["domid", "testguest"])?;
        check(code == 0 && out == "1\n", format!("xm domid: {out}"))?;
        let (code, out, _) = xm(ALICE, &[ALICE, VIRT], &root, &["domname", "1"])?;
        check(
            code == 0 && out == "testguest\n",
            format!("xm domname: {out}"),
        )?;

        // destroy: no qemu left, entries gone, @releaseDomain heard.
        let (code, _, err) = xm(ALICE, &[ALICE, VIRT], &root, &["destroy", "testguest"])?;
        check(code == 0, format!("xm destroy: {err}"))?;
        // Gone, or a zombie its new parent has yet to reap.
        check(
            field(cmdline_pid, "State").map_or(true, |s| s.starts_with('Z')),
            "qemu still runs",
        )?;
        check(
            xs.read(0, "/local/domain/1").is_err(),
            "/local/domain/1 left",
        )?;
        let ev = watcher
            .next_event(Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        check(
            ev.is_some_and(|(p, _)| p == "@releaseDomain"),
            "no @releaseDomain",
        )?;

        // Managed: new stores the config (atomically), start starts it,
        // delete refuses a running domain and forgets a stopped one.
        let as_alice = |args: &[&str]| xm(ALICE, &[ALICE, VIRT], &root, args);
        let (code, out, err) = as_alice(&["new", &cfg_s])?;
        check(
            code == 0 && out == "Domain testguest stored\n",
            format!("xm new: {out}{err}"),
        )?;
        let stored = root.join("var/lib/xend/domains/testguest.cfg");
        check(stored.exists(), "no stored config")?;
        let (_, out, _) = as_alice(&["list"])?;
        check(
            listed(&out, "testguest", "-"),
            format!("a stopped managed domain in xm list:\n{out}"),
        )?;
        let (code, out, err) = as_alice(&["start", "testguest"])?;
        check(
            code == 0 && out.starts_with("Started domain testguest"),
            format!("xm start: {out}{err}"),
        )?;
        let (code, _, err) = as_alice(&["delete", "testguest"])?;
        check(
            code == 1 && err.contains("is running"),
            format!("delete while running: {err}"),
        )?;

        // A qemu that dies: the domain crashed, on_crash (destroy) applies.
        let qemu = process_of(BASE + 1)?;
        let _ = Command::new("kill")
            .args(["-KILL", &qemu.to_string()])
            .status();
        let stopped =
            || -> Result<bool, String> { Ok(listed(&as_alice(&["list"])?.1, "testguest", "-")) };
        wait_until(Duration::from_secs(10), "crash not handled", stopped)?;
        check(
            xs.read(0, "/local/domain/1").is_err(),
            "a crashed domain left its entries",
        )?;

        // shutdown: the test guest ignores the power button; destroyed at
        // the timeout (2 s here).
        let (code, _, err) = as_alice(&["start", "testguest"])?;
        check(code == 0, format!("start again: {err}"))?;
        let (code, _, err) = as_alice(&["shutdown", "testguest"])?;
        check(code == 0, format!("shutdown: {err}"))?;
        wait_until(Duration::from_secs(15), "shutdown never ended", stopped)?;
        let (code, _, err) = as_alice(&["start", "testguest"])?;
        check(code == 0, format!("start a third time: {err}"))?;
        let (code, _, err) = as_alice(&["destroy", "testguest"])?;
        check(code == 0, format!("destroy: {err}"))?;
        let (code, _, err) = as_alice(&["delete", "testguest"])?;
        check(code == 0 && !stored.exists(), format!("xm delete: {err}"))
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
