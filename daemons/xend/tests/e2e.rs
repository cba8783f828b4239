//! xenstored + xend in system mode, driven by `xm` as a user who holds
//! `virt_manage` by group membership alone (root, hermetic: own passwd and
//! group, own tmpfs as XVM_ROOT). The test guest's banner arrives on the
//! domain's serial socket; its qemu has no privilege; xend has no
//! capability in E; a user without privilege is refused; destroy cleans
//! up and fires @releaseDomain.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use privlib::testing::{fake_users, have_program, in_private_tmpfs, root_or_skip, write_policy};

mod common;
use common::{BANNER, boot_sector, check_unprivileged_qemu};

const XVM: u32 = 48_800;
const ALICE: u32 = 48_801;
const BOB: u32 = 48_802;
const VIRT: u32 = 48_810;
const BASE: u32 = 49_700;

fn bindir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_xend"))
        .parent()
        .expect("bindir")
        .to_path_buf()
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(
    name: &str,
    args: &[&str],
    root: &Path,
    log: &Path,
    ready: &str,
) -> Result<Daemon, String> {
    let child = Command::new(bindir().join(name))
        .args(args)
        .env("XVM_ROOT", root)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let d = Daemon(child);
    wait_until(Duration::from_secs(15), &format!("{name} to start"), || {
        Ok(std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(ready))
    })?;
    Ok(d)
}

/// `xm ARGS` as `uid` with supplementary `groups`.
fn xm(
    uid: u32,
    groups: &[u32],
    root: &Path,
    args: &[&str],
) -> Result<(i32, String, String), String> {
    let groups = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        format!(
            "--groups={}",
            groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            &groups,
        ])
        .arg(bindir().join("xm"))
        .args(args)
        .env("XVM_ROOT", root)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .map_err(|e| e.to_string())?;
    Ok((
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

fn field(pid: i32, key: &str) -> Result<String, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .ok_or_else(|| format!("no {key}"))
}

/// Reads the RFB greeting on a domain's VNC socket.
fn vnc_greeting(sock: &Path) -> Result<(), String> {
    let mut v = UnixStream::connect(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    v.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut hello = [0u8; 12];
    v.read_exact(&mut hello)
        .map_err(|err| format!("no VNC greeting: {err}"))?;
    check(
        hello.starts_with(b"RFB 003."),
        format!("VNC greeting: {hello:?}"),
    )
}

/// The live process running as `uid`.
fn process_of(uid: u32) -> Result<i32, String> {
    std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter_map(|d| d.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .find(|p| {
            field(*p, "Uid").is_ok_and(|u| u.starts_with(&uid.to_string()))
                && field(*p, "State").is_ok_and(|s| !s.starts_with('Z'))
        })
        .ok_or_else(|| format!("no process runs as uid {uid}"))
}

/// Whether `xm list` output shows `name` with id `id` ("-": not running).
fn listed(out: &str, name: &str, id: &str) -> bool {
    out.lines()
        .any(|l| l.split_whitespace().take(2).eq([name, id]))
}

/// Polls `f` until it gives `Ok(true)`, at most `limit`; `what` names the
/// wait in the error.
fn wait_until(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let t = Instant::now();
    while !f()? {
        check(t.elapsed() < limit, format!("timed out: {what}"))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn setup(base: &Path) -> Result<PathBuf, String> {
    let e = |e: std::io::Error| e.to_string();
    fake_users(
        base,
        &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)],
        &[("virt", VIRT, &["alice"])],
    )?;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).map_err(e)?;
    let root = base.join("root");
    write_policy(
        &root,
        "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n",
    )?;
    for (d, mode) in [
        ("run/xenstored", 0o755),
        ("var/lib/xend/storage", 0o700),
        ("var/lib/xend/domains", 0o700),
    ] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(e)?;
        std::os::unix::fs::chown(&p, Some(XVM), Some(XVM)).map_err(e)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(e)?;
    }
    let img = root.join("var/lib/xend/storage/test.img");
    std::fs::write(&img, boot_sector()).map_err(e)?;
    std::os::unix::fs::chown(&img, Some(XVM), Some(XVM)).map_err(e)?;
    let cfg = base.join("test.cfg");
    std::fs::write(
        &cfg,
        format!(
            "name = \"testguest\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\ndisk = [ '{},raw,hda,rw' ]\nserial = \"pty\"\nvnc = 1\n",
            img.display()
        ),
    )
    .map_err(e)?;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).map_err(e)?;
    Ok(root)
}

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
        let root = setup(base)?;
        let base_arg = BASE.to_string();
        let _xs = start(
            "xenstored",
            &["-N", "--system", "--dm-uid-base", &base_arg],
            &root,
            &base.join("xenstored.log"),
            "xenstored serving",
        )?;
        let xend = start(
            "xend",
            &["--system", "--dm-uid-base", &base_arg],
            &root,
            &base.join("xend.log"),
            "xend serving",
        )?;
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
