//! svc-startd with the shipped manifests, for real (root, hermetic: own
//! /etc/passwd and /etc/group, own tmpfs as XVM_ROOT).
//!
//! System mode: every daemon comes up as its manifest says (xenstored as
//! xvm with no capability), `kill -9` is followed by a restart, a service
//! that fails at once lands in maintenance and `svcs -x` says why,
//! disable/enable work, a property set with svccfg survives a restart of
//! svc-startd and reaches the daemon, a user without privilege is refused.
//! Session mode: the same stack as a non-root user.

use xvm_tests::daemon::Daemon;
use xvm_tests::{bindir, check};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use privlib::testing::{fake_users, in_private_tmpfs, write_policy};
use xvm_tests::require_root;

const XVM: u32 = 48_700;
const ALICE: u32 = 48_701;
const BOB: u32 = 48_702;

/// Runs one of our tools, as `uid` when given, with `env`.
fn tool(
    name: &str,
    args: &[&str],
    uid: Option<u32>,
    env: &[(&str, &Path)],
) -> Result<(i32, String, String), String> {
    let prog = bindir().join(name);
    let mut c = xvm_tests::command_as(&prog, uid);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().map_err(|e| format!("{name}: {e}"))?;
    Ok((
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

struct Stack {
    child: Daemon,
    log: PathBuf,
    uid: Option<u32>,
    env: Vec<(&'static str, PathBuf)>,
    session: bool,
}

impl Stack {
    fn start(
        manifests: &Path,
        log: &Path,
        uid: Option<u32>,
        env: Vec<(&'static str, PathBuf)>,
        session: bool,
    ) -> Result<Stack, String> {
        let prog = bindir().join("svc-startd");
        let mut c = xvm_tests::command_as(&prog, uid);
        c.arg(if session { "--session" } else { "--system" })
            .arg("--manifests")
            .arg(manifests)
            .arg("--bindir")
            .arg(bindir())
            .stdin(Stdio::null());
        for (k, v) in &env {
            c.env(k, v);
        }
        let child = Daemon::spawn("svc-startd", c, log)?;
        let s = Stack {
            child,
            log: log.to_path_buf(),
            uid,
            env,
            session,
        };
        s.wait_log("svc-startd serving")?;
        Ok(s)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, what: &str) -> Result<(), String> {
        let t = Instant::now();
        while !self.log_text().contains(what) {
            if t.elapsed() > Duration::from_secs(15) {
                return Err(format!(
                    "svc-startd never said \"{what}\": {}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn run(&self, name: &str, args: &[&str]) -> Result<(i32, String, String), String> {
        let mut a: Vec<&str> = Vec::new();
        if self.session {
            a.push("--session");
        }
        // svcadm and svccfg take --session before their subcommand.
        a.extend_from_slice(args);
        let env: Vec<(&str, &Path)> = self.env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        tool(name, &a, self.uid, &env)
    }

    fn ok(&self, name: &str, args: &[&str]) -> Result<String, String> {
        let (code, out, err) = self.run(name, args)?;
        check(code == 0, format!("{name} {args:?}: exit {code}: {err}"))?;
        Ok(out)
    }

    /// The instance's state and pid, from `svcs -l`.
    fn state(&self, fmri: &str) -> Result<(String, i32), String> {
        let out = self.ok("svcs", &["-l", fmri])?;
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        Ok((get("state "), get("pid ").parse().unwrap_or(0)))
    }

    fn wait_state(&self, fmri: &str, want: &str) -> Result<i32, String> {
        let t = Instant::now();
        loop {
            let (s, pid) = self.state(fmri)?;
            if s == want {
                return Ok(pid);
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "{fmri} is {s}, not {want}\n{}{}",
                    self.log_text(),
                    self.explain()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `fmri` to be online in a process other than `old`.
    fn new_process(&self, fmri: &str, old: i32, what: &str) -> Result<i32, String> {
        let t = Instant::now();
        loop {
            let (s, p) = self.state(fmri)?;
            if s == "online" && p != 0 && p != old {
                return Ok(p);
            }
            if t.elapsed() > Duration::from_secs(20) {
                return Err(format!("{what}\n{}", self.explain()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `svcs -x` with the logs it points at, for failure messages.
    fn explain(&self) -> String {
        let Ok((_, x, _)) = self.run("svcs", &["-x"]) else {
            return String::new();
        };
        let mut out = format!("\nsvcs -x:\n{x}");
        for l in x.lines().filter_map(|l| l.trim().strip_prefix("See: ")) {
            out.push_str(&format!(
                "{l}:\n{}\n",
                std::fs::read_to_string(l).unwrap_or_default()
            ));
        }
        out
    }

    fn stop(mut self) -> Result<(), String> {
        // SIGTERM: every instance stops, then the restarter.
        Ok(self.child.stop(Duration::from_secs(20))?)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.child.terminate();
    }
}

fn status_field(pid: i32, key: &str) -> Result<String, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("pid {pid}: {e}"))?;
    s.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

fn unprivileged(pid: i32, uid: u32) -> Result<(), String> {
    let uids = status_field(pid, "Uid")?;
    check(
        uids.split_whitespace().all(|u| u == uid.to_string()),
        format!("pid {pid} Uid: {uids}, want {uid}"),
    )?;
    // A process started by a non-root user keeps the full bounding set (it
    // takes CAP_SETPCAP to narrow it); no_new_privs makes it unusable.
    let sets: &[&str] = if uid == XVM {
        &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
    } else {
        &["CapInh", "CapPrm", "CapEff", "CapAmb"]
    };
    for k in sets {
        let v = status_field(pid, k)?;
        check(
            v.trim_start_matches('0').is_empty(),
            format!("pid {pid} {k}: {v}"),
        )?;
    }
    Ok(check(
        status_field(pid, "NoNewPrivs")? == "1",
        "NoNewPrivs",
    )?)
}

/// The shipped manifests plus one whose daemon fails at once.
fn manifests(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/smf");
    for e in std::fs::read_dir(&shipped).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        std::fs::copy(&p, dir.join(p.file_name().expect("name"))).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        dir.join("test-broken.xml"),
        xvm_tests::child_service("broken", "/bin/false"),
    )
    .map_err(|e| e.to_string())?;
    // A daemon that forks away (SMF's default, contract): refused, saying why.
    std::fs::write(
        dir.join("test-contract.xml"),
        r#"<?xml version="1.0"?>
<service_bundle type="manifest" name="test-contract">
  <service name="site/test/contract" type="service" version="1">
    <create_default_instance enabled="true"/>
    <exec_method type="method" name="start" exec="/bin/true" timeout_seconds="10"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="10"/>
  </service>
</service_bundle>
"#,
    )
    .map_err(|e| e.to_string())
}

/// Root, and the daemons the restarter starts are built.
fn may_run_the_stack(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    if let Err(e) = xvm_tests::bin("xenstored") {
        panic!("{test}: {e}");
    }
    true
}

fn accounts(base: &Path) -> Result<(), String> {
    fake_users(base, &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)], &[])
        .map_err(|e| e.to_string())
}

#[test]
fn system_mode_runs_every_daemon_as_its_manifest_says() {
    if !may_run_the_stack("system_mode_runs_every_daemon_as_its_manifest_says") {
        return;
    }
    let verdict = in_private_tmpfs("svc-startd", |base| {
        accounts(base)?;
        let root = base.join("root");
        write_policy(
            &root,
            "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"xvm\"]\nuids = [0]\n",
        )?;
        let m = base.join("manifests");
        manifests(&m)?;
        let env = vec![("XVM_ROOT", root.clone())];
        let stack = Stack::start(&m, &base.join("startd.log"), None, env.clone(), false)?;

        let pid = stack.wait_state("system/xvm/store", "online")?;
        stack.wait_state("fixperms", "online")?;
        unprivileged(pid, XVM)?;
        // xend: xvm, nothing in E, in P only what its manifest gives.
        let xend = stack.wait_state("system/xvm/xend", "online")?;
        let xend_log = root.join("var/log/xvm/system-xvm-xend-default.log");
        let t = Instant::now();
        while !std::fs::read_to_string(&xend_log)
            .unwrap_or_default()
            .contains("xend serving")
        {
            check(
                t.elapsed() < Duration::from_secs(20),
                format!(
                    "xend never served: {}",
                    std::fs::read_to_string(&xend_log).unwrap_or_default()
                ),
            )?;
            std::thread::sleep(Duration::from_millis(50));
        }
        check(
            status_field(xend, "Uid")?
                .split_whitespace()
                .all(|u| u == XVM.to_string()),
            "xend uid",
        )?;
        check(
            status_field(xend, "CapEff")?
                .trim_start_matches('0')
                .is_empty(),
            "xend CapEff",
        )?;
        let prm =
            u64::from_str_radix(&status_field(xend, "CapPrm")?, 16).map_err(|e| e.to_string())?;
        // proc_setid (CAP_SETGID, CAP_SETUID, CAP_SETPCAP) and the
        // features the manifest turns on: networking (CAP_NET_ADMIN),
        // foreign-images (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH); not
        // device-model-privileges (off), which the credential also names.
        check(
            prm == (1 << 6) | (1 << 7) | (1 << 8) | (1 << 12) | (1 << 1) | (1 << 2),
            format!("xend CapPrm {prm:#x}"),
        )?;
        check(
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .map_err(|e| e.to_string())?
                .contains("--system"),
            "xenstored not in system mode",
        )?;
        // xenconsoled: xvm with nothing at all, serving, its log directory
        // made under the tree's var/log/xen.
        let console = stack.wait_state("system/xvm/console", "online")?;
        let console_log = root.join("var/log/xvm/system-xvm-console-default.log");
        let t = Instant::now();
        while !std::fs::read_to_string(&console_log)
            .unwrap_or_default()
            .contains("xenconsoled serving")
        {
            check(
                t.elapsed() < Duration::from_secs(20),
                format!(
                    "xenconsoled never served: {}",
                    std::fs::read_to_string(&console_log).unwrap_or_default()
                ),
            )?;
            std::thread::sleep(Duration::from_millis(50));
        }
        unprivileged(console, XVM)?;
        check(
            root.join("var/log/xen/console").is_dir(),
            "no var/log/xen/console",
        )?;
        // fixperms ran first and made the run directory xvm's.
        let meta = std::fs::metadata(root.join("run/xenstored")).map_err(|e| e.to_string())?;
        check(
            std::os::unix::fs::MetadataExt::uid(&meta) == XVM,
            "run/xenstored not owned by xvm",
        )?;
        let out = stack.ok("svcs", &["-p"])?;
        check(
            out.contains("online")
                && out.contains(&format!("xenstored uid={XVM} gid={XVM} E: basic")),
            format!("svcs -p:\n{out}"),
        )?;
        // The restarter keeps only what it hands out plus proc_setid/proc_owner.
        let eff = u64::from_str_radix(&status_field(stack.child.pid(), "CapEff")?, 16)
            .map_err(|e| e.to_string())?;
        check(
            eff & (1 << 21) == 0 && eff != 0,
            format!("svc-startd CapEff {eff:#x}"),
        )?;

        // kill -9: restarted.
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let new = stack.new_process("store", pid, "no restart after kill -9")?;
        unprivileged(new, XVM)?;

        // A service that fails at once: maintenance, and svcs -x says why.
        stack.wait_state("site/test/broken", "maintenance")?;
        let x = stack.ok("svcs", &["-x"])?;
        check(
            x.contains("svc:/site/test/broken:default (maintenance)")
                && x.contains("restarting too quickly")
                && x.contains("exited with status 1"),
            format!("svcs -x:\n{x}"),
        )?;

        stack.wait_state("site/test/contract", "maintenance")?;
        let x = stack.ok("svcs", &["-x", "site/test/contract"])?;
        check(
            x.contains("startd/duration is unset (contract)"),
            format!("svcs -x contract:\n{x}"),
        )?;

        // clear: out of maintenance, tried again (and back, as it still fails).
        stack.ok("svcadm", &["clear", "site/test/broken"])?;
        check(
            stack.state("site/test/broken")?.0 != "maintenance"
                || stack.log_text().contains("cleared by the administrator"),
            "clear did nothing",
        )?;
        stack.wait_state("site/test/broken", "maintenance")?;
        let (code, _, err) = stack.run("svcadm", &["clear", "store"])?;
        check(
            code == 1 && err.contains("is not in maintenance"),
            format!("clear of an online service: {err}"),
        )?;

        // restart: a new process.
        stack.ok("svcadm", &["restart", "store"])?;
        let new = stack.new_process("store", new, "no new process after svcadm restart")?;

        // disable stops it, enable starts it again.
        stack.ok("svcadm", &["disable", "-s", "store"])?;
        check(
            std::fs::metadata(format!("/proc/{new}")).is_err(),
            "xenstored still runs after disable",
        )?;
        let out = stack.ok("svcs", &["-a"])?;
        check(
            out.lines()
                .any(|l| l.starts_with("disabled") && l.contains("store")),
            out.clone(),
        )?;
        stack.ok("svcadm", &["enable", "-s", "store"])?;
        let pid = stack.wait_state("store", "online")?;

        // A property persists across a restart of svc-startd and reaches
        // the daemon; a wrong value is refused.
        stack.ok(
            "svccfg",
            &[
                "-s",
                "store",
                "setprop",
                "xenstored/entry-nb",
                "=",
                "count:",
                "42",
            ],
        )?;
        let (code, _, err) = stack.run(
            "svccfg",
            &[
                "-s",
                "store",
                "setprop",
                "xenstored/entry-nb",
                "=",
                "count:",
                "many",
            ],
        )?;
        check(
            code == 1 && err.contains("\"many\" is not a count value"),
            format!("bad value: {err}"),
        )?;
        let (code, _, err) = stack.run(
            "svccfg",
            &[
                "-s",
                "store",
                "setprop",
                "general/enabled",
                "=",
                "astring:",
                "yes",
            ],
        )?;
        check(
            code == 1 && err.contains("general/enabled is a boolean"),
            format!("enabled as text: {err}"),
        )?;

        // Nobody without privilege: refused, naming what is missing.
        let (code, _, err) = tool("svcs", &[], Some(BOB), &[("XVM_ROOT", &root)])?;
        check(
            code == 1 && err.contains("permission denied"),
            format!("bob: exit {code}: {err}"),
        )?;
        let (code, _, err) = tool(
            "svcadm",
            &["disable", "store"],
            Some(BOB),
            &[("XVM_ROOT", &root)],
        )?;
        check(
            code == 1 && err.contains("permission denied"),
            format!("bob svcadm: {err}"),
        )?;

        stack.stop()?;
        check(
            std::fs::metadata(format!("/proc/{pid}")).is_err(),
            "xenstored outlived svc-startd",
        )?;
        let stack = Stack::start(&m, &base.join("startd2.log"), None, env, false)?;
        let pid = stack.wait_state("store", "online")?;
        check(
            stack
                .ok("svcprop", &["-p", "xenstored/entry-nb", "store"])?
                .trim()
                == "42",
            "property lost",
        )?;
        let cmd =
            std::fs::read_to_string(format!("/proc/{pid}/cmdline")).map_err(|e| e.to_string())?;
        check(
            cmd.contains("--entry-nb\x0042\x00"),
            format!("xenstored did not get it: {cmd:?}"),
        )?;
        Ok(stack.stop()?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn session_mode_runs_the_stack_as_the_user() {
    if !may_run_the_stack("session_mode_runs_the_stack_as_the_user") {
        return;
    }
    let verdict = in_private_tmpfs("svc-startd-session", |base| {
        accounts(base)?;
        let rt = base.join("run-user");
        let home = base.join("home");
        for d in [&rt, &home] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(d, Some(ALICE), Some(ALICE)).map_err(|e| e.to_string())?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| e.to_string())?;
        }
        let m = base.join("manifests");
        manifests(&m)?;
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let log = base.join("session.log");
        std::fs::write(&log, "").map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&log, Some(ALICE), Some(ALICE)).map_err(|e| e.to_string())?;
        let env = vec![("XDG_RUNTIME_DIR", rt.clone()), ("HOME", home.clone())];
        let stack = Stack::start(&m, &log, Some(ALICE), env, true)?;
        let pid = stack.wait_state("store", "online")?;
        unprivileged(pid, ALICE)?;
        // Online means started; the socket follows once it has bound.
        let sock = rt.join("xvm/xenstored/socket");
        let t = Instant::now();
        while !sock.exists() {
            check(t.elapsed() < Duration::from_secs(10), "no session socket")?;
            std::thread::sleep(Duration::from_millis(20));
        }
        stack.wait_state("site/test/broken", "maintenance")?;
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let p = stack.new_process("store", pid, "no restart after kill -9 (session)")?;
        unprivileged(p, ALICE)?;
        stack.ok("svcadm", &["disable", "-s", "store"])?;
        stack.ok("svcadm", &["enable", "-s", "store"])?;
        // Another user reaches nothing of alice's.
        let (code, _, err) = tool(
            "svcs",
            &["--session"],
            Some(BOB),
            &[("XDG_RUNTIME_DIR", &rt)],
        )?;
        check(code == 1, format!("bob reached alice's restarter: {err}"))?;
        Ok(stack.stop()?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
