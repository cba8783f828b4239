//! Guest networking, end to end, each test in a network namespace of its
//! own (the test binary runs itself again inside a fresh one):
//!
//! - system mode: the Linux guest on a tap xend made (`vifD.0`, on the
//!   test's bridge `xenbr0`, held by qemu alone); the host and the guest
//!   ping each other; qemu holds no capability, no_new_privs, and no inet
//!   socket; the tap goes with `xm destroy`, with a domain whose qemu
//!   ended while xend was down, and with an adopted domain destroyed by a
//!   new xend after the old one was killed with -9;
//! - session mode: a user's guest reaches a TCP server on the host's
//!   loopback through passt, which xend started as that user;
//! - a tap a device model kept past its end (persistent, on the bridge,
//!   anyone's to attach to) is removed when its domain is destroyed and
//!   when a new xend cleans up after a domain that ended while xend was
//!   down (the boot-sector guest; the taps are the test's own).

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use xvm_tests::console::kvm_boots_linux;
use xvm_tests::guest::{LINUX_CMDLINE, LinuxGuest, require_linux_guest};
use xvm_tests::net::{
    BRIDGE, GUEST_IP, HOST_IP, SerialShell, UPLINK_GW, bridge_with_host_address, check_on_bridge,
    cmdline_on_bridge, fd_links, in_netns, inet_sockets, link, linux_with_vif, persistent_tap_on,
    ping, rerun_in_netns, taps_held, uplink_for_passt, wait_gone,
};
use xvm_tests::procfs::{caps, check_unprivileged_qemu, process_of, processes_of, status_field};
use xvm_tests::stack::GUEST;
use xvm_tests::{
    Accounts, Daemon, Error, Stack, bin, check, require_program, require_root, wait_until,
};

const IDS: Accounts = Accounts::from_base(42_000);
/// The kept-tap test's (a stack of its own: it kills xend).
const KEPT_IDS: Accounts = Accounts::from_base(41_000);
/// The session-mode user (no account: session mode needs none).
const SESSION_UID: u32 = 42_777;
const BOOT: Duration = Duration::from_secs(180);
const ANSWER: Duration = Duration::from_secs(60);
const GONE: Duration = Duration::from_secs(15);

/// Whether `test` may run here; prints its skip line if not.
fn runnable(test: &str) -> bool {
    require_root(test)
        && require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        && require_program(test, "ip", "iproute2")
        && require_program(test, "unshare", "util-linux")
}

/// Runs `body` as the test `test` in a network namespace of its own.
fn in_own_netns(test: &str, body: impl FnOnce(&LinuxGuest) -> Result<(), Error>) {
    if in_netns(test) {
        let Some(linux) = require_linux_guest(test) else {
            return;
        };
        let t = Instant::now();
        let r = body(&linux);
        eprintln!("{test}: {:.1} s", t.elapsed().as_secs_f64());
        if let Err(e) = r {
            panic!("{e}");
        }
        return;
    }
    if !runnable(test) {
        return;
    }
    // Built here, once, so the copy only reads the cache.
    if require_linux_guest(test).is_none() {
        return;
    }
    if let Err(e) = rerun_in_netns(test) {
        panic!("{e}");
    }
}

/// Runs `body` as the test `test` in a network namespace of its own,
/// with no Linux guest.
fn in_own_netns_no_linux(test: &str, body: impl FnOnce() -> Result<(), Error>) {
    if in_netns(test) {
        if let Err(e) = body() {
            panic!("{e}");
        }
        return;
    }
    if runnable(test)
        && let Err(e) = rerun_in_netns(test)
    {
        panic!("{e}");
    }
}

/// `xm domid NAME` as alice.
fn domid(s: &Stack, name: &str) -> Result<u32, Error> {
    let d = s.alice(&["domid", name])?.ok("xm domid")?;
    d.out
        .trim()
        .parse()
        .map_err(|_| Error::Check(format!("xm domid {name}: {:?}", d.out)))
}

/// Creates `cfg` as alice; its domid.
fn create(s: &Stack, cfg: &Path, name: &str) -> Result<u32, Error> {
    let r = s.alice(&["create", &cfg.display().to_string()])?;
    check(
        r.code == 0,
        format!(
            "xm create {name}: {}\n{}{}\n{}",
            r.code,
            r.out,
            r.err,
            s.xend_log()
        ),
    )?;
    domid(s, name)
}

/// The checks of a running domain's tap: named `vif{domid}.0`, up on the
/// bridge, held by its qemu and by nothing of xend's; qemu with nothing.
fn check_tap_and_qemu(s: &Stack, domid: u32) -> Result<String, Error> {
    let tap = format!("vif{domid}.0");
    check_on_bridge(&tap, BRIDGE)?;
    let uid = IDS.dm_base + domid;
    let qemu = process_of(uid)?;
    check_unprivileged_qemu(qemu, uid)?;
    let held = taps_held(qemu)?;
    check(
        held == [tap.clone()],
        format!("qemu holds taps {held:?}; its fds: {}", fd_links(qemu)),
    )?;
    let xend_taps = taps_held(s.xend.pid())?;
    check(
        xend_taps.is_empty(),
        format!("xend kept taps {xend_taps:?} open"),
    )?;
    let inet = inet_sockets(qemu)?;
    check(inet.is_empty(), format!("qemu has inet sockets: {inet:?}"))?;
    // sys_net_config was in E around the tap's ioctls only.
    let eff = caps(s.xend.pid(), "CapEff")?;
    check(eff == 0, format!("xend's CapEff after the start: {eff:#x}"))?;
    Ok(tap)
}

#[test]
fn a_guest_on_a_tap_xend_made_pings_the_host_and_back_and_the_tap_goes_with_the_domain() {
    let test =
        "a_guest_on_a_tap_xend_made_pings_the_host_and_back_and_the_tap_goes_with_the_domain";
    if !in_netns(test) && !require_program(test, "ping", "iputils-ping") {
        return;
    }
    in_own_netns(test, |linux| {
        bridge_with_host_address()?;
        let mut s = Stack::start("network", IDS, &xend::testguest::image(), &[])?;
        let kvm = kvm_boots_linux(&linux.kernel, &linux.initrd);
        let accel: &[&str] = if kvm { &[] } else { &["--accel", "tcg"] };
        if !kvm {
            s.restart_xend_under_tcg("xend-tcg.log", &[])?;
        }
        let images = s.root().join("var/lib/xend/storage");
        let vif = format!("bridge={BRIDGE},model=e1000");
        let cfg = linux_with_vif(
            &s.tree,
            &images,
            linux,
            GUEST,
            256,
            &cmdline_on_bridge(),
            &vif,
        )?;
        // A bridge that does not exist is refused, named, before
        // anything is made.
        let bad = linux_with_vif(
            &s.tree,
            &images,
            linux,
            "nobridge",
            64,
            LINUX_CMDLINE,
            "bridge=xvmnobr0",
        )?;
        let r = s.alice(&["create", &bad.display().to_string()])?;
        check(
            r.code != 0 && r.err.contains("bridge xvmnobr0 does not exist"),
            format!(
                "xm create with a missing bridge: {}\n{}{}",
                r.code, r.out, r.err
            ),
        )?;
        check(
            !s.alice(&["list"])?.out.contains("nobridge"),
            "the refused domain is listed",
        )?;
        // A bridge of the host that is not the guests' (xend puts guests
        // on config/bridges alone, xenbr0 by default) is refused, with the
        // svccfg command that allows it.
        xvm_tests::net::ip(&["link", "add", "xvmother0", "type", "bridge"])?;
        let other = linux_with_vif(
            &s.tree,
            &images,
            linux,
            "otherbridge",
            64,
            LINUX_CMDLINE,
            "bridge=xvmother0",
        )?;
        let r = s.alice(&["create", &other.display().to_string()])?;
        check(
            r.code != 0
                && r.err.contains(
                    "bridge xvmother0 is not one xend puts guests on (config/bridges = xenbr0)",
                )
                && r.err.contains("setprop config/bridges = xenbr0,xvmother0"),
            format!(
                "xm create on a bridge not allowed: {}\n{}{}",
                r.code, r.out, r.err
            ),
        )?;
        let d1 = create(&s, &cfg, GUEST)?;
        // Connected at once: what the guest says before is lost.
        let mut sh = SerialShell::connect(&s.domain_dir(d1).join("serial"))?;
        let tap1 = check_tap_and_qemu(&s, d1)?;
        // The control of the inet check: xend's own VNC listener is one.
        check(
            !inet_sockets(s.xend.pid())?.is_empty(),
            "xend's VNC TCP listener is not seen as an inet socket",
        )?;

        // `xm destroy` removes the tap (a second domain, not booted).
        let cfg2 = linux_with_vif(
            &s.tree,
            &images,
            linux,
            "netguest2",
            64,
            LINUX_CMDLINE,
            &vif,
        )?;
        let d2 = create(&s, &cfg2, "netguest2")?;
        let tap2 = check_tap_and_qemu(&s, d2)?;
        s.alice(&["destroy", "netguest2"])?
            .ok("xm destroy netguest2")?;
        wait_gone(&tap2, GONE)?;

        // The guest and the host reach each other through the tap.
        sh.wait_for(0, &format!("xvm-guest: eth0 {GUEST_IP}"), BOOT)?;
        sh.wait_prompt(ANSWER)?;
        let (ok, out) = ping(GUEST_IP, 3, Duration::from_secs(30))?;
        check(ok, format!("the host's ping of the guest: {out}"))?;
        let out = sh.run(&format!("ping -c 3 -W 5 {HOST_IP}"), ANSWER)?;
        check(
            out.contains("3 packets received"),
            format!("the guest's ping of the host: {out}"),
        )?;

        // A domain whose qemu ends while xend is down leaves no tap, and
        // a new xend cleans up after it and adopts the one still running.
        let cfg3 = linux_with_vif(
            &s.tree,
            &images,
            linux,
            "netguest3",
            64,
            LINUX_CMDLINE,
            &vif,
        )?;
        let d3 = create(&s, &cfg3, "netguest3")?;
        let tap3 = check_tap_and_qemu(&s, d3)?;
        s.xend.kill();
        let qemu3 = process_of(IDS.dm_base + d3)?;
        let k = Command::new("kill")
            .args(["-KILL", &qemu3.to_string()])
            .status()
            .map_err(|source| Error::Spawn {
                program: "kill".into(),
                source,
            })?;
        check(k.success(), format!("kill -KILL {qemu3}: {k}"))?;
        wait_gone(&tap3, GONE)?;
        s.start_xend_again("xend-again.log", accel)?;
        let list = s.alice(&["list"])?.ok("xm list")?;
        check(
            list.lists(GUEST, &d1.to_string()) && !list.out.contains("netguest3"),
            format!("after the restart: {}", list.out),
        )?;
        check(
            link(&tap3).is_none() && !s.domain_dir(d3).exists(),
            "netguest3's tap or run directory is back",
        )?;
        check_tap_and_qemu(&s, d1)?;
        let (ok, out) = ping(GUEST_IP, 2, Duration::from_secs(20))?;
        check(ok, format!("the adopted guest's ping: {out}"))?;

        // The new xend's `xm destroy` removes the adopted domain's tap.
        s.alice(&["destroy", GUEST])?.ok("xm destroy")?;
        wait_gone(&tap1, GONE)?;
        check(
            !s.alice(&["list"])?.out.contains(GUEST),
            "the guest is still listed",
        )?;
        Ok(())
    });
}

/// What runs as the session user: ended by pid when dropped (xend's
/// device models and passt outlive a killed xend).
struct SessionUser {
    uid: u32,
    daemons: Vec<Daemon>,
}

impl Drop for SessionUser {
    fn drop(&mut self) {
        self.daemons.clear();
        for pid in processes_of(self.uid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// A command running `program` as the session user in `dir`'s session
/// layout.
fn as_session_user(dir: &Path, program: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={SESSION_UID}"))
        .arg(format!("--regid={SESSION_UID}"))
        .arg("--clear-groups")
        .arg(program)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.join("home"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("XDG_DATA_HOME", dir.join("data"));
    c
}

#[test]
fn a_session_guest_reaches_a_server_on_the_hosts_loopback_through_passt() {
    let test = "a_session_guest_reaches_a_server_on_the_hosts_loopback_through_passt";
    if !in_netns(test) && !require_program(test, "passt", "passt") {
        return;
    }
    in_own_netns(test, |linux| {
        uplink_for_passt()?;
        let dir = xvm_tests::scratch("net-session")?;
        let images = dir.join("data/xvm/images");
        for d in ["run", "home", "data/xvm/images"] {
            let p = dir.join(d);
            std::fs::create_dir_all(&p).map_err(Error::io("create", &p))?;
        }
        for (src, name) in [(&linux.kernel, "vmlinuz"), (&linux.initrd, "initrd.gz")] {
            let to = images.join(name);
            std::fs::copy(src, &to).map_err(Error::io("copy to", &to))?;
        }
        let chown = Command::new("chown")
            .args(["-R", &format!("{SESSION_UID}:{SESSION_UID}")])
            .arg(&dir)
            .status()
            .map_err(|source| Error::Spawn {
                program: "chown".into(),
                source,
            })?;
        check(chown.success(), "chown the session directory")?;
        xvm_tests::hermetic::set_mode(&dir.join("run"), 0o700)?;

        let mut user = SessionUser {
            uid: SESSION_UID,
            daemons: Vec::new(),
        };
        let cmd = as_session_user(&dir, &bin("xenstored")?);
        let mut cmd = cmd;
        cmd.arg("-N");
        user.daemons.push(
            Daemon::spawn("xenstored", cmd, &dir.join("xenstored.log"))?
                .ready_when_logged("xenstored serving")?,
        );
        let mut cmd = as_session_user(&dir, &bin("xend")?);
        if !kvm_boots_linux(&linux.kernel, &linux.initrd) {
            cmd.args(["--accel", "tcg"]);
        }
        user.daemons.push(
            Daemon::spawn("xend", cmd, &dir.join("xend.log"))?.ready_when_logged("xend serving")?,
        );
        let xend_log = || std::fs::read_to_string(dir.join("xend.log")).unwrap_or_default();

        // The server on the host's loopback, in the test's namespace.
        let server = TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind", "127.0.0.1:0"))?;
        let port = server
            .local_addr()
            .map_err(Error::io("address of", "the server"))?
            .port();
        let cfg = dir.join("passtguest.cfg");
        let text = format!(
            "name = \"passtguest\"\ntype = \"hvm\"\nmemory = 256\nvcpus = 1\n\
             kernel = \"{}\"\nramdisk = \"{}\"\ncmdline = \"{LINUX_CMDLINE}\"\n\
             vif = [ 'model=e1000' ]\n",
            images.join("vmlinuz").display(),
            images.join("initrd.gz").display()
        );
        std::fs::write(&cfg, text).map_err(Error::io("write", &cfg))?;
        let xm = |args: &[&str]| {
            as_session_user(&dir, &bin("xm")?)
                .args(args)
                .output()
                .map_err(|source| Error::Spawn {
                    program: "xm".into(),
                    source,
                })
        };
        let o = xm(&["create", &cfg.display().to_string()])?;
        check(
            o.status.success(),
            format!("xm create: {o:?}\n{}", xend_log()),
        )?;
        let o = xm(&["domid", "passtguest"])?;
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let serial = dir.join(format!("run/xvm/xend/domains/{id}/serial"));
        let mut sh = SerialShell::connect(&serial)?;

        // passt and qemu run as the user, with nothing to gain.
        let mine = processes_of(SESSION_UID);
        let comm = |p: &i32| status_field(*p, "Name").unwrap_or_default();
        let passt = mine
            .iter()
            .copied()
            .find(|p| comm(p).starts_with("passt"))
            .ok_or_else(|| Error::Check(format!("no passt runs as the user:\n{}", xend_log())))?;
        let qemu = mine
            .iter()
            .copied()
            .find(|p| comm(p).starts_with("qemu"))
            .ok_or_else(|| Error::Check("no qemu runs as the user".into()))?;
        check(
            status_field(passt, "NoNewPrivs")? == "1",
            "passt without no_new_privs",
        )?;
        check_unprivileged_qemu(qemu, SESSION_UID)?;
        let inet = inet_sockets(qemu)?;
        check(inet.is_empty(), format!("qemu has inet sockets: {inet:?}"))?;

        // The guest (address by passt's DHCP) connects to passt's gateway
        // address, which passt maps to the host's loopback.
        sh.wait_for(0, "xvm-guest: eth0", BOOT)?;
        sh.wait_prompt(ANSWER)?;
        let (sum, expr) = xvm_tests::stack::token();
        let line = format!("echo xvm-token-{expr} | nc {UPLINK_GW} {port}");
        server
            .set_nonblocking(true)
            .map_err(Error::io("nonblocking", "the server"))?;
        sh.send(&format!("{line}\r"))?;
        let mut got = None;
        wait_until(
            ANSWER,
            "the guest's connection to the host's loopback",
            || match server.accept() {
                Ok((c, _)) => {
                    got = Some(c);
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
                Err(e) => Err(Error::io("accept on", "the server")(e)),
            },
        )?;
        let mut c = got.ok_or_else(|| Error::Check("no connection".into()))?;
        c.set_nonblocking(false)
            .map_err(Error::io("blocking", "the connection"))?;
        c.set_read_timeout(Some(ANSWER))
            .map_err(Error::io("timeout", "the connection"))?;
        let mut token = String::new();
        c.read_to_string(&mut token)
            .map_err(Error::io("read", "the guest's connection"))?;
        check(
            token.trim() == format!("xvm-token-{sum}"),
            format!("the guest sent {token:?}"),
        )?;

        // The domain's end ends passt too, and xend reaps it.
        let o = xm(&["destroy", "passtguest"])?;
        check(o.status.success(), format!("xm destroy: {o:?}"))?;
        wait_until(GONE, "passt to end and be reaped", || {
            Ok(!Path::new(&format!("/proc/{passt}")).exists())
        })?;
        drop(user);
        // Kept when a check failed: its logs say why.
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    });
}

/// Waits for xend's warning naming the tap `t` it removed.
fn warned(s: &Stack, t: &str) -> Result<(), Error> {
    let r = wait_until(GONE, &format!("xend's warning naming {t}"), || {
        Ok(s.xend_log().lines().any(|l| {
            l.contains("kept its tap past its end") && l.trim_end().ends_with(&format!(" tap={t}"))
        }))
    });
    r.map_err(|e| Error::Check(format!("{e}\n{}", s.xend_log())))
}

#[test]
fn a_tap_a_device_model_kept_goes_with_its_domain_and_with_a_new_xends_clean_up() {
    let test = "a_tap_a_device_model_kept_goes_with_its_domain_and_with_a_new_xends_clean_up";
    in_own_netns_no_linux(test, || {
        bridge_with_host_address()?;
        let mut s = Stack::start("network-kept", KEPT_IDS, &xend::testguest::image(), &[])?;
        s.alice_create(&s.test_cfg())?;
        let d = s.domid("testguest")?;
        // What a device model that ran TUNSETPERSIST on its fds leaves:
        // its domain's taps, and beside them another domain's and a name
        // that is no tap of a domain.
        let kept = [format!("vif{d}.0"), format!("vif{d}.3")];
        let others = [format!("vif{d}0.0"), format!("vif{d}.x")];
        for t in kept.iter().chain(&others) {
            persistent_tap_on(t, BRIDGE)?;
        }
        s.alice(&["destroy", "testguest"])?
            .ok("xm destroy testguest")?;
        for t in &kept {
            wait_gone(t, GONE)?;
            warned(&s, t)?;
        }
        for t in &others {
            check(link(t).is_some(), format!("{t} was removed"))?;
        }

        // A domain whose qemu ended while xend was down: the new xend's
        // clean-up removes what it kept.
        s.alice_create(&s.test_cfg())?;
        let d = s.domid("testguest")?;
        s.xend.kill();
        let qemu = process_of(KEPT_IDS.dm_base + d)?;
        let k = Command::new("kill")
            .args(["-KILL", &qemu.to_string()])
            .status()
            .map_err(|source| Error::Spawn {
                program: "kill".into(),
                source,
            })?;
        check(k.success(), format!("kill -KILL {qemu}: {k}"))?;
        wait_until(GONE, "the killed qemu to go", || {
            Ok(process_of(KEPT_IDS.dm_base + d).is_err())
        })?;
        let t = format!("vif{d}.1");
        persistent_tap_on(&t, BRIDGE)?;
        s.start_xend_again("xend-again.log", &[])?;
        // Cleaned up at once if the killed qemu was reaped, else adopted
        // and ended by the watch: both end the same way.
        wait_gone(&t, GONE)?;
        warned(&s, &t)?;
        for t in &others {
            check(link(t).is_some(), format!("{t} was removed"))?;
        }
        Ok(())
    });
}
