//! The tap calls' tests: names and steps without root, and as root in a
//! thread-private network namespace.

use super::*;

#[test]
fn names_the_kernel_refuses_are_refused_before_any_call() {
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "a b",
        "a:0",
        "sixteen-bytes-xx",
        "a\0b",
    ] {
        assert!(!valid_name(bad), "{bad:?}");
        let e = create_tap(bad, false).expect_err(bad);
        assert!(matches!(e, TapError::Name { .. }), "{bad:?}: {e}");
    }
    for good in ["vif1.0", "vif4294967295.7", "xenbr0", "lo"] {
        assert!(valid_name(good), "{good:?}");
    }
}

#[test]
fn loopback_has_an_index_and_is_no_bridge() {
    // Every network namespace has lo; asking needs no privilege.
    assert!(index_of("lo").expect("lo") > 0);
    assert!(!is_bridge("lo").expect("lo"));
    let e = index_of("xvm-no-such0").expect_err("no such interface");
    assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
    assert!(e.to_string().contains("xvm-no-such0"), "{e}");
}

/// `ip ARGS` (iproute2), its stdout; panics on failure.
fn ip(args: &[&str]) -> String {
    let o = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip");
    assert!(o.status.success(), "ip {args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether a root test may run; prints its skip line if not (a
/// failure under XVM_REQUIRE_ROOT_TESTS=1).
fn root(test: &str) -> bool {
    if crate::testing::is_root() {
        return true;
    }
    assert!(
        std::env::var_os("XVM_REQUIRE_ROOT_TESTS").is_none_or(|v| v != "1"),
        "{test}: needs root, and XVM_REQUIRE_ROOT_TESTS=1 forbids skipping"
    );
    eprintln!("skipped {test}: needs root");
    false
}

/// Runs `body` on a thread of its own in a new network namespace (a
/// namespace is per thread; the commands it runs inherit it): nothing
/// of the host's network is seen or touched.
fn in_netns(body: impl FnOnce() + Send + 'static) {
    std::thread::spawn(|| {
        crate::sys::ns::unshare_net().expect("unshare net");
        body();
    })
    .join()
    .expect("the namespace thread");
}

#[test]
fn a_tap_joins_its_bridge_comes_up_and_goes_with_its_last_fd() {
    if !root("a_tap_joins_its_bridge_comes_up_and_goes_with_its_last_fd") {
        return;
    }
    in_netns(|| {
        ip(&["link", "add", "xvmbr0", "type", "bridge"]);
        assert!(is_bridge("xvmbr0").expect("bridge"));
        let tap = create_tap("xvmtap0", true).expect("tap");
        assert_eq!(tap.index, index_of("xvmtap0").expect("index"));
        assert!(has_vnet_hdr(std::os::fd::AsFd::as_fd(&tap.fd)).expect("TUNGETIFF"));
        assert_eq!(driver_of("xvmtap0").expect("driver"), "tun");
        assert!(!is_bridge("xvmtap0").expect("tap"));
        // The name is taken while the tap lives: never attached to.
        let again = create_tap("xvmtap0", true).expect_err("second tap of a name");
        assert_eq!(again.raw_os_error(), Some(libc::EBUSY), "{again}");
        join_bridge("xvmbr0", &tap.name, tap.index).expect("join");
        set_up(&tap.name).expect("up");
        let shown = ip(&["-o", "link", "show", "xvmtap0"]);
        assert!(shown.contains("master xvmbr0"), "{shown}");
        assert!(shown.contains(",UP"), "{shown}");
        let e = join_bridge("xvmtap0", &tap.name, tap.index).expect_err("a tap is no bridge");
        assert!(e.to_string().contains("bridge xvmtap0"), "{e}");
        // Its maker's: nobody else attaches to it, even were it kept
        // (`ip` names the owner, by name, only when there is one).
        let detail = ip(&["-d", "-o", "link", "show", "xvmtap0"]);
        assert!(detail.contains(" user "), "no owner: {detail}");
        assert!(interface_names().expect("list").contains(&tap.name));
        drop(tap);
        let gone = index_of("xvmtap0").expect_err("gone with its fd");
        assert_eq!(gone.raw_os_error(), Some(libc::ENODEV), "{gone}");
        assert!(
            !interface_names()
                .expect("list")
                .iter()
                .any(|n| n == "xvmtap0")
        );
    });
}

#[test]
fn under_the_device_model_seccomp_rule_a_tap_fd_is_used_but_never_kept_or_given() {
    if !root("under_the_device_model_seccomp_rule_a_tap_fd_is_used_but_never_kept_or_given") {
        return;
    }
    in_netns(|| {
        let tap = create_tap("xvmtap1", true).expect("tap");
        let prog = crate::sys::bpf::assemble(&crate::basic::seccomp::tap_reconfigure())
            .expect("assembles");
        // This thread alone, as a device model would be: the filter is
        // per thread without TSYNC, and goes with the thread.
        assert_eq!(
            crate::sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0),
            0,
            "no_new_privs"
        );
        crate::sys::seccomp::install(&prog, 0, None).expect("filter");
        // Still root with CAP_NET_ADMIN: the refusals are the filter's.
        let fd = tap.fd.as_fd();
        let kept = set_persist(fd, true).expect_err("TUNSETPERSIST under the filter");
        assert_eq!(kept.raw_os_error(), Some(libc::EPERM), "{kept}");
        for req in [libc::TUNSETOWNER, libc::TUNSETGROUP, libc::TUNSETLINK] {
            let e = tun_int_ioctl(fd, req, 12_345).expect_err("refused");
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{req:#x}: {e}");
        }
        let other = open_tun("xvmtap2").expect("open tun");
        let r = ifreq("xvmtap2").expect("name");
        let e = set_iff(&other, r, libc::IFF_TAP | libc::IFF_NO_PI).expect_err("TUNSETIFF");
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
        // What qemu asks of a passed tap still works.
        assert!(has_vnet_hdr(fd).expect("TUNGETIFF"));
        tun_int_ioctl(fd, libc::TUNSETOFFLOAD, 0).expect("TUNSETOFFLOAD");
        let mut len: libc::c_int = 12;
        // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer,
        // which points at `len`, live for the call.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &raw mut len) };
        assert_eq!(rc, 0, "TUNSETVNETHDRSZ: {}", io::Error::last_os_error());
        drop(tap);
        // The kernel unregisters a closed tap's device after the close
        // returns (netdev teardown waits for RCU): on a loaded machine
        // it can still be listed for a moment. Kept, it would stay.
        let t = std::time::Instant::now();
        let gone = loop {
            match index_of("xvmtap1") {
                Err(e) => break e,
                Ok(i) if t.elapsed() > std::time::Duration::from_secs(5) => {
                    panic!("xvmtap1 (index {i}) kept 5 s after its fd closed")
                }
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        assert_eq!(gone.raw_os_error(), Some(libc::ENODEV), "{gone}");
    });
}

/// What `perl` (Debian's perl-base is essential) running under
/// `rules` says of `TUNSETPERSIST` on the tap `name`, given as its fd
/// 3: `ok`, or the errno.
fn persist_in_spawned_program(name: &str, rules: &[crate::sys::bpf::Rule]) -> String {
    use std::io::Read as _;
    let tap = create_tap(name, true).expect("tap");
    let (mut out_r, out_w) = std::io::pipe().expect("pipe");
    let script = "open(my $t, '+<&=', 3) or die $!; \
                  print(ioctl($t, 0x400454cb, 1) ? 'ok' : $! + 0)";
    let mut child = crate::Spawn::new("/usr/bin/perl")
        .args(["-e", script])
        .seccomp(rules)
        .pass_fd(tap.fd.as_raw_fd(), 3)
        .pass_fd(out_w.as_raw_fd(), 1)
        .spawn()
        .expect("spawn perl");
    drop(out_w);
    drop(tap);
    let mut out = String::new();
    out_r.read_to_string(&mut out).expect("perl's output");
    let st = child.wait().expect("wait");
    assert!(st.success(), "perl: {st}: {out}");
    out
}

#[test]
fn a_program_spawned_with_the_device_model_seccomp_rule_cannot_keep_its_tap() {
    if !root("a_program_spawned_with_the_device_model_seccomp_rule_cannot_keep_its_tap") {
        return;
    }
    in_netns(|| {
        // The control: without the rule, root's program keeps it.
        assert_eq!(persist_in_spawned_program("xvmtap4", &[]), "ok");
        assert!(index_of("xvmtap4").is_ok(), "kept past both fds");
        assert!(release_tap("xvmtap4").expect("release"));
        let rules = crate::basic::seccomp::tap_reconfigure();
        let eperm = libc::EPERM.to_string();
        assert_eq!(persist_in_spawned_program("xvmtap5", &rules), eperm);
        let gone = index_of("xvmtap5").expect_err("gone with the program's fd");
        assert_eq!(gone.raw_os_error(), Some(libc::ENODEV), "{gone}");
    });
}

#[test]
fn a_tap_left_persistent_is_released_and_nothing_else_is() {
    if !root("a_tap_left_persistent_is_released_and_nothing_else_is") {
        return;
    }
    in_netns(|| {
        ip(&["link", "add", "xvmbr1", "type", "bridge"]);
        let tap = create_tap("xvmtap3", true).expect("tap");
        set_persist(tap.fd.as_fd(), true).expect("persist");
        join_bridge("xvmbr1", &tap.name, tap.index).expect("join");
        set_up(&tap.name).expect("up");
        // Held: never attached to.
        let held = release_tap("xvmtap3").expect_err("held");
        assert_eq!(held.raw_os_error(), Some(libc::EBUSY), "{held}");
        drop(tap);
        assert!(index_of("xvmtap3").is_ok(), "kept past its last fd");
        assert!(release_tap("xvmtap3").expect("release"));
        let gone = index_of("xvmtap3").expect_err("released");
        assert_eq!(gone.raw_os_error(), Some(libc::ENODEV), "{gone}");
        assert!(!release_tap("xvmtap3").expect("none"), "nothing to release");
        assert_eq!(
            index_of("xvmtap3").map_err(|e| e.raw_os_error()),
            Err(Some(libc::ENODEV)),
            "none made"
        );
        // A bridge is no tap: refused, and still there.
        let e = release_tap("xvmbr1").expect_err("a bridge");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        assert!(is_bridge("xvmbr1").expect("still a bridge"));
    });
}
