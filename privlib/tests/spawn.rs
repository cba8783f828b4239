//! `Spawn` for real: the child is least-privileged before exec, and a
//! failure names its step.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;

use privlib::{Spawn, SpawnError, parse_set};
use xvm_tests::procfs::field;
use xvm_tests::require_root;
use xvm_tests::{scratch, serial};

/// An unprivileged uid with no passwd entry, unlikely to own anything.
const UID: u32 = 48_000;

/// Runs `spawn`, returns (exit code, stdout, stderr).
fn run(spawn: Spawn) -> (i32, String, String) {
    let (mut out_r, out_w) = std::io::pipe().expect("pipe");
    let (mut err_r, err_w) = std::io::pipe().expect("pipe");
    let mut child = spawn
        .pass_fd(out_w.as_raw_fd(), 1)
        .pass_fd(err_w.as_raw_fd(), 2)
        .spawn()
        .expect("spawn");
    drop((out_w, err_w));
    let (mut out, mut err) = (String::new(), String::new());
    out_r.read_to_string(&mut out).expect("stdout");
    err_r.read_to_string(&mut err).expect("stderr");
    let status = child.wait().expect("wait");
    (status.code().unwrap_or(-1), out, err)
}

fn sh(script: &str) -> Spawn {
    Spawn::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .env("PATH", "/usr/bin:/bin")
}

#[test]
fn full_credential_is_in_place_before_exec() {
    if !require_root("full_credential_is_in_place_before_exec") {
        return;
    }
    let _g = serial();
    let passed = fs::File::open("/dev/null").expect("file");
    // Left open across exec on purpose: spawn must still close it.
    let hostname = fs::File::open("/etc/hostname").expect("file");
    let leaked = privlib::sys::probe::dup_inheritable(hostname.as_raw_fd()).expect("dup");
    let leaked_fd = leaked.as_raw_fd();
    let (code, out, err) = run(sh(
        "cat /proc/self/status; cat /proc/self/limits; ls /proc/self/fd",
    )
    .uid(UID)
    .gid(UID)
    .groups(&[UID + 5])
    .privileges(parse_set("basic").expect("basic"))
    .limit(parse_set("basic").expect("basic"))
    .rlimit(libc::RLIMIT_NOFILE, 32, 32)
    .env("ONLY", "this")
    .pass_fd(passed.as_raw_fd(), 7));
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "Uid"), format!("{UID}\t{UID}\t{UID}\t{UID}"));
    assert_eq!(field(&out, "Gid"), format!("{UID}\t{UID}\t{UID}\t{UID}"));
    assert_eq!(field(&out, "Groups"), (UID + 5).to_string());
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(&out, k), "0000000000000000", "{k}");
    }
    assert_eq!(field(&out, "NoNewPrivs"), "1");
    assert!(
        out.lines().any(|l| l.starts_with("Max open files")
            && l.split_whitespace().filter(|w| *w == "32").count() == 2),
        "{out}"
    );
    let fds: Vec<&str> = out
        .lines()
        .rev()
        .take_while(|l| l.parse::<i32>().is_ok())
        .collect();
    assert!(fds.contains(&"7"), "fd 7 was passed: {fds:?}");
    assert!(
        leaked_fd > 3 && !fds.contains(&leaked_fd.to_string().as_str()),
        "fd {leaked_fd} leaked: {fds:?}"
    );
    assert!(
        fds.iter().all(|f| ["0", "1", "2", "3", "7"].contains(f)),
        "only passed fds (3 is ls's own): {fds:?}"
    );
}

#[test]
fn environment_is_clean() {
    let _g = serial();
    let (code, out, _) = run(Spawn::new("/usr/bin/env").env("ONLY", "this"));
    assert_eq!(code, 0);
    assert_eq!(out, "ONLY=this\n");
}

#[test]
fn kept_privileges_reach_the_program() {
    if !require_root("kept_privileges_reach_the_program") {
        return;
    }
    let _g = serial();
    let (code, out, err) = run(sh("grep Cap /proc/self/status")
        .uid(UID)
        .gid(UID)
        .privileges(parse_set("basic,net_privaddr").expect("set"))
        .limit(parse_set("basic,net_privaddr").expect("set")));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        field(&out, "Groups"),
        "",
        "root's groups must not ride along to a new uid"
    );
    for k in ["CapPrm", "CapEff", "CapAmb", "CapBnd"] {
        assert_eq!(
            field(&out, k),
            "0000000000000400",
            "{k} should hold CAP_NET_BIND_SERVICE alone"
        );
    }
}

#[test]
fn without_proc_exec_only_the_program_itself_starts() {
    let _g = serial();
    let no_exec = parse_set("basic,!proc_exec").expect("set");
    let (code, out, _) = run(sh("echo started").privileges(no_exec));
    assert_eq!((code, out.as_str()), (0, "started\n"));
    let (code, out, err) = run(sh("/bin/true && echo ran-true").privileges(no_exec));
    assert_ne!(code, 0);
    assert!(!out.contains("ran-true"), "a second exec went through");
    assert!(!err.is_empty());
}

#[test]
fn without_file_write_nothing_is_written() {
    let _g = serial();
    let dir = scratch("no-write").expect("scratch dir");
    let target = dir.join("f");
    let (code, out, _) = run(sh(&format!("echo x > {} || echo refused; cat /etc/hostname >&2 && echo read; echo y >/dev/null || echo null-refused", target.display()))
        .privileges(parse_set("basic,!file_write").expect("set")));
    assert_eq!(code, 0);
    assert!(
        out.contains("refused\n") && out.contains("read") && out.contains("null-refused"),
        "{out}"
    );
    assert!(!target.exists());
}

#[test]
fn without_net_access_no_network_socket() {
    let _g = serial();
    let script = "exec 3<>/dev/tcp/127.0.0.1/9 2>&1 | tr -d '\\n'; echo";
    let with = run(Spawn::new("/bin/bash")
        .arg("-c")
        .arg(script)
        .privileges(parse_set("basic").expect("set")));
    let without = run(Spawn::new("/bin/bash")
        .arg("-c")
        .arg(script)
        .privileges(parse_set("basic,!net_access").expect("set")));
    assert!(
        with.1.contains("Connection refused") || with.2.contains("Connection refused"),
        "{with:?}"
    );
    assert!(
        without.1.contains("Permission denied") || without.2.contains("Permission denied"),
        "{without:?}"
    );
}

#[test]
fn without_proc_session_no_signal_leaves_the_domain() {
    let _g = serial();
    // A sibling of our own uid: only the Landlock scope can stop the signal.
    let mut sibling = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let script = format!(
        "kill -0 {} 2>/dev/null && echo signalled || echo refused",
        sibling.id()
    );
    let with = run(sh(&script).privileges(parse_set("basic").expect("set")));
    let without = run(sh(&script).privileges(parse_set("basic,!proc_session").expect("set")));
    let _ = sibling.kill();
    let _ = sibling.wait();
    assert_eq!(with.1, "signalled\n", "control: {with:?}");
    assert_eq!(without.1, "refused\n", "{without:?}");
}

#[test]
fn standard_fds_not_passed_are_dev_null() {
    let _g = serial();
    let (mut out_r, out_w) = std::io::pipe().expect("pipe");
    let mut child = sh("readlink /proc/self/fd/0 /proc/self/fd/2 >&9")
        .no_stdio()
        .pass_fd(out_w.as_raw_fd(), 9)
        .spawn()
        .expect("spawn");
    drop(out_w);
    let mut out = String::new();
    out_r.read_to_string(&mut out).expect("read");
    assert!(child.wait().expect("wait").success());
    assert_eq!(out, "/dev/null\n/dev/null\n");
}

#[test]
fn a_failing_child_step_is_named() {
    let _g = serial();
    let e = Spawn::new("/bin/true")
        .rlimit(libc::RLIMIT_NOFILE, 64, 32)
        .spawn()
        .expect_err("soft above hard");
    assert!(
        matches!(
            e,
            SpawnError::Child {
                step: "setrlimit",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("setrlimit"), "{e}");
}

#[test]
fn namespaces_are_unshared_before_the_drop() {
    if !require_root("namespaces_are_unshared_before_the_drop") {
        return;
    }
    let _g = serial();
    let host = fs::read_link("/proc/self/ns/uts").expect("ns");
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    // unshare needs sys_admin, which the dropped program no longer has:
    // the order of the steps is what makes this work.
    let (code, out, err) = run(
        sh("readlink /proc/self/ns/uts; grep CapEff /proc/self/status")
            .unshare(libc::CLONE_NEWUTS)
            .uid(UID)
            .gid(UID)
            .privileges(parse_set("basic").expect("set")),
    );
    assert_eq!(code, 0, "{err}");
    let ns = out.lines().next().unwrap_or_default();
    assert!(
        ns.starts_with("uts:[") && ns != host.to_string_lossy(),
        "child ns {ns}, host {}",
        host.display()
    );
    assert_eq!(field(&out, "CapEff"), "0000000000000000");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"),
        host_name
    );
}

#[test]
fn a_private_dev_holds_only_the_nodes_given_and_no_capability_remains() {
    if !require_root("a_private_dev_holds_only_the_nodes_given_and_no_capability_remains") {
        return;
    }
    let _g = serial();
    let host_mnt = fs::read_link("/proc/self/ns/mnt").expect("ns");
    let (code, out, err) = run(
        sh("ls /dev; readlink /proc/self/ns/mnt; grep -E '^(Uid|Cap[A-Za-z]+|NoNewPrivs)' /proc/self/status; \
            head -c 4 /dev/urandom | wc -c; echo gone > /dev/null && echo null-ok; \
            touch /dev/new 2>/dev/null || echo no-new-node")
            .uid(UID)
            .gid(UID)
            .privileges(parse_set("basic").expect("set"))
            .limit(parse_set("basic").expect("set"))
            .private_dev(&["null", "zero", "urandom"]),
    );
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let listing: Vec<&str> = lines.by_ref().take(3).collect();
    assert_eq!(listing, ["null", "urandom", "zero"], "{out}");
    let ns = lines.next().unwrap_or_default();
    assert!(
        ns.starts_with("mnt:[") && ns != host_mnt.to_string_lossy(),
        "{ns}"
    );
    assert_eq!(field(&out, "Uid"), format!("{UID}\t{UID}\t{UID}\t{UID}"));
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(&out, k), "0000000000000000", "{k}: {out}");
    }
    assert_eq!(field(&out, "NoNewPrivs"), "1");
    assert!(
        out.contains("\n4\n") && out.contains("null-ok") && out.contains("no-new-node"),
        "{out}"
    );
    // The host's /dev is untouched.
    assert!(std::path::Path::new("/dev/tty").exists());
}
