//! The whole stack in system mode (xenstored and xend, root, hermetic:
//! own passwd and group, own XVM_ROOT), driven by `xm` as alice, who
//! holds `virt_manage` by group membership alone. One stack serves every
//! test of this binary (booted once, tests serialized); each test starts
//! the test guest and leaves no domain behind.

use std::sync::{MutexGuard, OnceLock};
use std::time::Duration;

use xvm_tests::procfs::{caps, check_unprivileged_qemu, process_of, runs, runs_as};
use xvm_tests::stack::{read_banner, vnc_greeting};
use xvm_tests::{Accounts, Error, Stack, check, require_program, require_root, serial, wait_until};

const IDS: Accounts = Accounts::from_base(48_800);

/// The stack, booted by the first test that gets here; `Err` (its boot
/// failure) for every test when it did not boot.
fn stack(test: &str) -> Option<(MutexGuard<'static, ()>, &'static Stack)> {
    static STACK: OnceLock<Result<Stack, Error>> = OnceLock::new();
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return None;
    }
    let guard = serial();
    let s = STACK.get_or_init(|| {
        Stack::start(
            "domains",
            IDS,
            &xend::testguest::image(),
            &["--shutdown-timeout", "2"],
        )
    });
    match s {
        Ok(s) => Some((guard, s)),
        Err(e) => panic!("the stack did not start: {e}"),
    }
}

/// A running test guest: its domid and qemu; destroyed when dropped (a
/// failed test leaves none for the next).
struct Guest<'a> {
    stack: &'a Stack,
    domid: u32,
    qemu: i32,
}

impl<'a> Guest<'a> {
    /// `xm create` of the test guest as alice.
    fn create(stack: &'a Stack) -> Result<Guest<'a>, Error> {
        let r = stack.alice(&["create", &stack.test_cfg()])?;
        check(
            r.code == 0 && r.out.starts_with("Started domain testguest (id="),
            format!(
                "xm create: {}\n{}{}\n{}",
                r.code,
                r.out,
                r.err,
                stack.xend_log()
            ),
        )?;
        Guest::running(stack)
    }

    /// The running `testguest`.
    fn running(stack: &'a Stack) -> Result<Guest<'a>, Error> {
        let domid = stack.domid("testguest")?;
        let qemu = process_of(stack.accounts().dm_base + domid)?;
        Ok(Guest { stack, domid, qemu })
    }
}

impl Drop for Guest<'_> {
    fn drop(&mut self) {
        let _ = self.stack.alice(&["destroy", &self.domid.to_string()]);
    }
}

/// The row of `name` in `xm list` output, split at whitespace.
fn row(out: &str, name: &str) -> Option<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|f| f.first().is_some_and(|n| n == name))
}

fn verdict(r: Result<(), Error>) {
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn a_created_guest_prints_its_banner_on_the_console_and_answers_vnc() {
    let Some((_g, s)) = stack("a_created_guest_prints_its_banner_on_the_console_and_answers_vnc")
    else {
        return;
    };
    verdict((|| {
        let guest = Guest::create(s)?;
        let dir = s.domain_dir(guest.domid);
        read_banner(&dir.join("serial"), xend::testguest::BANNER).map_err(|e| {
            let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
            Error::Check(format!("{e}; qemu log: {log}"))
        })?;
        // VNC: on the domain's unix socket, answered by qemu (xend hands
        // each client over QMP).
        vnc_greeting(&dir.join("vnc"))
    })());
}

#[test]
fn list_shows_the_guest_and_domain_0() {
    let Some((_g, s)) = stack("list_shows_the_guest_and_domain_0") else {
        return;
    };
    verdict((|| {
        let guest = Guest::create(s)?;
        let r = s.alice(&["list"])?.ok("xm list")?;
        check(
            r.lists("testguest", &guest.domid.to_string()),
            format!("no testguest in xm list:\n{}", r.out),
        )?;
        let dom0 = row(&r.out, "Domain-0")
            .ok_or_else(|| Error::Check(format!("no Domain-0 in xm list:\n{}", r.out)))?;
        check(
            dom0.get(1).is_some_and(|id| id == "0"),
            format!("Domain-0's row: {dom0:?}"),
        )?;
        let name = s
            .alice(&["domname", &guest.domid.to_string()])?
            .ok("xm domname")?;
        check(
            name.out == "testguest\n",
            format!("xm domname: {:?}", name.out),
        )?;
        // The store knows the domain by the same id.
        let mut xs = xenstored::client::Client::connect(&s.store_socket())
            .map_err(|e| Error::Check(format!("store: {e}")))?;
        let stored = xs
            .read(0, &format!("/local/domain/{}/name", guest.domid))
            .map_err(|e| Error::Check(format!("store read: {e}")))?;
        check(stored == b"testguest", format!("store name: {stored:?}"))
    })());
}

#[test]
fn pause_and_unpause_show_in_the_state_column() {
    let Some((_g, s)) = stack("pause_and_unpause_show_in_the_state_column") else {
        return;
    };
    verdict((|| {
        let _guest = Guest::create(s)?;
        let state = || -> Result<String, Error> {
            let r = s.alice(&["list"])?.ok("xm list")?;
            Ok(row(&r.out, "testguest")
                .and_then(|f| f.get(4).cloned())
                .unwrap_or_default())
        };
        s.alice(&["pause", "testguest"])?.ok("xm pause")?;
        let paused = state()?;
        check(paused.contains('p'), format!("state after pause: {paused}"))?;
        s.alice(&["unpause", "testguest"])?.ok("xm unpause")?;
        let resumed = state()?;
        check(
            !resumed.contains('p'),
            format!("state after unpause: {resumed}"),
        )
    })());
}

#[test]
fn destroy_ends_the_qemu_clears_the_store_and_fires_release_domain() {
    let Some((_g, s)) = stack("destroy_ends_the_qemu_clears_the_store_and_fires_release_domain")
    else {
        return;
    };
    verdict((|| {
        let store = |e: xenstored::client::ClientError| Error::Check(format!("store: {e}"));
        let mut watcher = xenstored::client::Client::connect(&s.store_socket()).map_err(store)?;
        watcher.watch("@releaseDomain", "rel").map_err(store)?;
        // A new watch fires once at once.
        let _ = watcher.next_event(Duration::from_secs(2));
        let guest = Guest::create(s)?;
        let (domid, qemu) = (guest.domid, guest.qemu);
        s.alice(&["destroy", "testguest"])?.ok("xm destroy")?;
        // Gone, or a zombie its new parent has yet to reap.
        check(!runs(qemu), "qemu still runs after destroy")?;
        let mut xs = xenstored::client::Client::connect(&s.store_socket()).map_err(store)?;
        check(
            xs.read(0, &format!("/local/domain/{domid}")).is_err(),
            format!("/local/domain/{domid} left"),
        )?;
        check(
            !s.domain_dir(domid).exists(),
            "the domain's run directory left",
        )?;
        let ev = watcher.next_event(Duration::from_secs(5)).map_err(store)?;
        check(
            ev.is_some_and(|(p, _)| p == "@releaseDomain"),
            "no @releaseDomain",
        )
    })());
}

#[test]
fn shutdown_of_a_guest_that_ignores_it_destroys_it_at_the_timeout() {
    let Some((_g, s)) = stack("shutdown_of_a_guest_that_ignores_it_destroys_it_at_the_timeout")
    else {
        return;
    };
    verdict((|| {
        let guest = Guest::create(s)?;
        let qemu = guest.qemu;
        s.alice(&["shutdown", "testguest"])?.ok("xm shutdown")?;
        // The test guest ignores the power button; xend destroys it after
        // --shutdown-timeout (2 s here).
        wait_until(Duration::from_secs(15), "the shutdown to end", || {
            Ok(row(&s.alice(&["list"])?.out, "testguest").is_none())
        })?;
        check(!runs(qemu), "qemu runs on after the shutdown")
    })());
}

#[test]
fn the_device_model_has_its_own_uid_and_no_capability_and_xend_keeps_proc_setid_and_its_features() {
    let Some((_g, s)) = stack(
        "the_device_model_has_its_own_uid_and_no_capability_and_xend_keeps_proc_setid_and_its_features",
    ) else {
        return;
    };
    verdict((|| {
        let guest = Guest::create(s)?;
        check_unprivileged_qemu(guest.qemu, IDS.dm_base + guest.domid)?;
        let xend = s.xend.pid();
        check(runs_as(xend, IDS.xvm)?, "xend does not run as xvm")?;
        check(caps(xend, "CapEff")? == 0, "xend has capabilities in E")?;
        let prm = caps(xend, "CapPrm")?;
        // proc_setid (CAP_SETGID, CAP_SETUID, CAP_SETPCAP) and what the
        // features on by default declare: networking (CAP_NET_ADMIN),
        // foreign-images (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH);
        // tests/tests/features.rs checks each feature's share.
        check(
            prm == (1 << 6) | (1 << 7) | (1 << 8) | (1 << 12) | (1 << 1) | (1 << 2),
            format!("xend CapPrm {prm:#x}"),
        )?;
        check(
            runs_as(s.xenstored.pid(), IDS.xvm)?,
            "xenstored does not run as xvm",
        )?;
        check(
            caps(s.xenstored.pid(), "CapPrm")? == 0,
            "xenstored keeps capabilities",
        )
    })());
}

#[test]
fn a_user_without_privilege_is_refused_in_one_line() {
    let Some((_g, s)) = stack("a_user_without_privilege_is_refused_in_one_line") else {
        return;
    };
    verdict((|| {
        for who in [IDS.bob(), IDS.nobody()] {
            let r = s.xm(&who, &["list"])?;
            check(
                r.code == 1
                    && r.err == "xm: permission denied: xvm_control or virt_manage required\n",
                format!("uid {}: {} {}", who.uid, r.code, r.err),
            )?;
        }
        Ok(())
    })());
}

#[test]
fn managed_new_start_delete_and_a_crashed_qemu() {
    let Some((_g, s)) = stack("managed_new_start_delete_and_a_crashed_qemu") else {
        return;
    };
    verdict((|| {
        let stored = s.root().join("var/lib/xend/domains/testguest.cfg");
        let r = s.alice(&["new", &s.test_cfg()])?;
        check(
            r.code == 0 && r.out == "Domain testguest stored\n",
            format!("xm new: {}{}", r.out, r.err),
        )?;
        check(stored.exists(), "no stored config")?;
        let stopped = || -> Result<bool, Error> { Ok(s.alice(&["list"])?.lists("testguest", "-")) };
        check(
            stopped()?,
            "a stopped managed domain is not in xm list as -",
        )?;
        let r = s.alice(&["start", "testguest"])?;
        check(
            r.code == 0 && r.out.starts_with("Started domain testguest"),
            format!("xm start: {}{}", r.out, r.err),
        )?;
        let guest = Guest::running(s)?;
        let r = s.alice(&["delete", "testguest"])?;
        check(
            r.code == 1 && r.err.contains("is running"),
            format!("delete while running: {}", r.err),
        )?;
        // A qemu that dies: the domain crashed, on_crash (destroy) applies.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &guest.qemu.to_string()])
            .status();
        wait_until(Duration::from_secs(10), "the crash to be handled", stopped)?;
        let mut xs = xenstored::client::Client::connect(&s.store_socket())
            .map_err(|e| Error::Check(format!("store: {e}")))?;
        check(
            xs.read(0, &format!("/local/domain/{}", guest.domid))
                .is_err(),
            "a crashed domain left its store entries",
        )?;
        drop(guest);
        let r = s.alice(&["delete", "testguest"])?;
        check(
            r.code == 0 && !stored.exists(),
            format!("xm delete: {}", r.err),
        )
    })());
}
