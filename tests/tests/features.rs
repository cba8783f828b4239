//! xend's privileges follow its features (root, hermetic): what
//! `/proc/PID/status` shows xend holding is exactly what the features
//! table declares for the features that are on (with proc_setid), in P
//! and L, and nothing in E between operations; a feature turned off
//! (`--feature-NAME off`, or the manifest's `features` group through
//! `svccfg setprop`, `svcadm refresh` and `restart` under `svc-startd`)
//! takes its capabilities away, and a config that needs it gets the
//! one-line refusal naming it and the svccfg command (a `vif` without
//! networking, a root-owned 0600 image without foreign-images, which stays
//! as it was). A device model's policy allowing one privilege gives its
//! qemu that capability alone, in the bounding and permitted sets.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use privlib::caps::num;
use xend::features::{Feature, Features};
use xvm_tests::daemon::Daemon;
use xvm_tests::features::{
    CapSets, Limit, SETID, XEND, bit, check_xend_holds, config_sized, config_with, long_field,
    may_raise_hard_limits, memlock_of, smf_ok, smf_tool, start_xend_with_memlock, status_kib,
};
use xvm_tests::manifest::{Startd, shipped_manifests};
use xvm_tests::procfs::{check_unprivileged_qemu, process_of, runs, runs_as, status_field};
use xvm_tests::{
    Accounts, Error, Hermetic, Stack, Xm, bin, check, require_program, require_root,
    wait_for_socket,
};

/// The first test's stack.
const HELD: Accounts = Accounts::from_base(44_000);
/// The device-model policy test's stack.
const POLICY: Accounts = Accounts::from_base(44_100);
/// The stack whose xend is not given CAP_NET_ADMIN.
const NOT_GIVEN: Accounts = Accounts::from_base(44_300);
/// The restarter's stack (its device models clear of the others').
const STARTD: Accounts = Accounts {
    dm_base: 45_500,
    ..Accounts::from_base(44_200)
};

/// The capabilities of networking (CAP_NET_ADMIN) and foreign-images
/// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as the issue has them: the
/// table must say so too (the test does not only read the table back).
const NET: u64 = bit(num::NET_ADMIN);
const IMAGES: u64 = bit(num::DAC_OVERRIDE) | bit(num::DAC_READ_SEARCH);
const DM: u64 = bit(num::IPC_LOCK);

/// A vif on a bridge (which need not exist: the feature is checked first).
const VIF: &str = "vif = [ 'bridge=xenbr0,model=e1000' ]";

/// What the features table says a system-mode xend with `f` keeps in P
/// (and L): [`xend::privs::keep_set`]'s capabilities.
fn table_caps(f: &Features) -> Result<u64, Error> {
    check(
        XEND == xend::features::FMRI,
        "the fixture's FMRI is not xend's",
    )?;
    let keep = xend::privs::keep_set(true, true, f)
        .map_err(|e| Error::Check(format!("xend's keep set: {e}")))?;
    Ok(keep.caps(privlib::last_cap()).0)
}

fn runnable(test: &str) -> bool {
    require_root(test) && require_program(test, "qemu-system-x86_64", "qemu-system-x86")
}

/// `xm create CFG` as alice; the running domain's id and qemu.
fn create(stack: &Stack, cfg: &Path) -> Result<(u32, i32), Error> {
    let r = stack.alice(&["create", &cfg.display().to_string()])?;
    check(
        r.code == 0 && r.out.starts_with("Started domain "),
        format!(
            "xm create {}: {}\n{}{}\n{}",
            cfg.display(),
            r.code,
            r.out,
            r.err,
            stack.xend_log()
        ),
    )?;
    let name = r
        .out
        .trim_start_matches("Started domain ")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let d = stack.alice(&["domid", &name])?.ok("xm domid")?;
    let domid: u32 = d
        .out
        .trim()
        .parse()
        .map_err(|_| Error::Check(format!("xm domid: {:?}", d.out)))?;
    Ok((domid, process_of(stack.accounts().dm_base + domid)?))
}

/// Checks that `r` is the one-line refusal `want` (and more on that line).
fn refused_with(r: &Xm, want: &[&str], what: &str) -> Result<(), Error> {
    let err = r.err.trim();
    check(
        r.code != 0 && err.lines().count() == 1 && want.iter().all(|w| err.contains(w)),
        format!(
            "{what}: want one line with {want:?}; exit {}\n{}{}",
            r.code, r.out, r.err
        ),
    )
}

/// The refusal of a `vif` while networking is off.
const NET_OFF: [&str; 2] = [
    "vif needs xend's feature networking, which is off",
    "svccfg -s svc:/system/xvm/xend:default setprop features/networking = true",
];

#[test]
fn xend_holds_exactly_what_its_features_declare_and_nothing_in_e() {
    let test = "xend_holds_exactly_what_its_features_declare_and_nothing_in_e";
    if !runnable(test) {
        return;
    }
    let r = (|| {
        let mut stack = Stack::start("features-held", HELD, &xend::testguest::image(), &[])?;
        let want = table_caps(&Features::default())?;
        check(
            want == SETID | NET | IMAGES,
            format!("the table's default keep set is {want:#x}"),
        )?;
        let xend = stack.xend.pid();
        check(runs_as(xend, HELD.xvm)?, "xend does not run as xvm")?;
        check_xend_holds(xend, want, "networking on, at start")?;
        let log = stack.xend_log();
        for line in [
            "feature networking: on; privileges sys_net_config (cap_net_admin): making each guest's tap",
            "feature foreign-images: on; privileges file_dac_read,file_dac_search,file_dac_write",
            "feature device-model-privileges: off; privileges proc_lock_memory (cap_ipc_lock)",
        ] {
            check(
                log.contains(line),
                format!("xend's log lacks {line:?}:\n{log}"),
            )?;
        }

        // A launch raises proc_setid around the spawn alone; the device
        // model gets nothing of xend's.
        let (domid, qemu) = create(&stack, Path::new(&stack.test_cfg()))?;
        check_unprivileged_qemu(qemu, HELD.dm_base + domid)?;
        check_xend_holds(xend, want, "networking on, a domain running")?;
        stack
            .alice(&["destroy", &domid.to_string()])?
            .ok("xm destroy")?;

        // Networking off: CAP_NET_ADMIN is gone, a vif is refused.
        stack.restart_xend("xend-nonet.log", &["--feature-networking", "off"])?;
        let xend = stack.xend.pid();
        let mut off = Features::default();
        off.set(Feature::Networking, false);
        let want = table_caps(&off)?;
        check(
            want == SETID | IMAGES,
            format!("the table's keep set without networking is {want:#x}"),
        )?;
        let c = check_xend_holds(xend, want, "networking off, at start")?;
        check(
            c.permitted & NET == 0,
            "CAP_NET_ADMIN held with networking off",
        )?;
        let cfg = config_with(stack.tree.base(), "vifguest", VIF)?;
        let r = stack.alice(&["create", &cfg.display().to_string()])?;
        refused_with(&r, &NET_OFF, "xm create with a vif, networking off")?;
        check_xend_holds(xend, want, "networking off, after the refusal")?;
        // And a domain without one still starts.
        let (domid, qemu) = create(&stack, Path::new(&stack.test_cfg()))?;
        check_unprivileged_qemu(qemu, HELD.dm_base + domid)?;
        check_xend_holds(xend, want, "networking off, a domain running")?;
        stack
            .alice(&["destroy", &domid.to_string()])?
            .ok("xm destroy")?;

        // Images not xvm's off: no DAC override held, a root-owned 0600
        // image refused naming the feature, and left as it was.
        stack.restart_xend("xend-noimages.log", &["--feature-foreign-images", "off"])?;
        let xend = stack.xend.pid();
        let mut off = Features::default();
        off.set(Feature::ForeignImages, false);
        let want = table_caps(&off)?;
        check(
            want == SETID | NET,
            format!("the table's keep set without foreign-images is {want:#x}"),
        )?;
        check_xend_holds(xend, want, "foreign-images off, at start")?;
        let storage = stack.root().join("var/lib/xend/storage");
        let img = storage.join("root.img");
        std::fs::copy(storage.join("test.img"), &img).map_err(Error::io("copy", &img))?;
        std::os::unix::fs::chown(&img, Some(0), Some(0)).map_err(Error::io("chown", &img))?;
        xvm_tests::hermetic::set_mode(&img, 0o600)?;
        let cfg_text =
            std::fs::read_to_string(stack.test_cfg()).map_err(Error::io("read", "test.cfg"))?;
        check(
            cfg_text.contains("/test.img,"),
            "test.cfg no longer names test.img",
        )?;
        let cfg = stack.tree.base().join("rootimg.cfg");
        std::fs::write(
            &cfg,
            cfg_text
                .replace("/test.img,", "/root.img,")
                .replace("name = \"testguest\"", "name = \"rootimg\""),
        )
        .map_err(Error::io("write", &cfg))?;
        xvm_tests::hermetic::set_mode(&cfg, 0o644)?;
        let r = stack.alice(&["create", &cfg.display().to_string()])?;
        refused_with(
            &r,
            &[
                "which xvm may not read and write",
                "needs xend's feature foreign-images, which is off",
                "setprop features/foreign-images = true",
            ],
            "xm create of a root-owned 0600 image, foreign-images off",
        )?;
        check_xend_holds(xend, want, "foreign-images off, after the refusal")?;
        let m = std::fs::metadata(&img).map_err(Error::io("stat", &img))?;
        check(
            m.uid() == 0 && m.gid() == 0 && m.mode() & 0o7777 == 0o600,
            format!("root.img changed: {}:{} {:o}", m.uid(), m.gid(), m.mode()),
        )?;
        Ok::<(), Error>(())
    })();
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// What the device model of `cfg` needs locked (`xend::dm::policy`),
/// under KVM and under TCG.
fn memlock_need(cfg: &Path) -> Result<(u64, u64), Error> {
    let text = std::fs::read_to_string(cfg).map_err(Error::io("read", cfg))?;
    let c = xend::config::parse(cfg, &text)
        .map_err(|e| Error::Check(format!("{}: {e}", cfg.display())))?;
    let need = |kvm| {
        xend::dm::policy::memlock(&c, kvm)
            .map(|n| n.total())
            .ok_or_else(|| Error::Check(format!("{}: does not lock", cfg.display())))
    };
    Ok((need(true)?, need(false)?))
}

/// Whether qemu `pid` runs under KVM (its `-machine pc,accel=kvm`).
fn under_kvm(pid: i32) -> Result<bool, Error> {
    let p = format!("/proc/{pid}/cmdline");
    let line = std::fs::read(&p).map_err(Error::io("read", &p))?;
    Ok(line
        .split(|b| *b == 0)
        .any(|a| a.starts_with(b"pc,accel=kvm")))
}

/// A MiB.
const MIB: u64 = 1 << 20;

#[test]
fn a_device_model_policy_gives_its_qemu_exactly_the_allowed_capability() {
    let test = "a_device_model_policy_gives_its_qemu_exactly_the_allowed_capability";
    if !runnable(test) {
        return;
    }
    let r = (|| {
        let on = ["--feature-device-model-privileges", "on"];
        let mut stack = Stack::start("features-policy", POLICY, &xend::testguest::image(), &on)?;
        let mut f = Features::default();
        f.set(Feature::DeviceModelPrivileges, true);
        let want = table_caps(&f)?;
        check(
            want == SETID | NET | IMAGES | DM,
            format!("the table's keep set with device-model-privileges is {want:#x}"),
        )?;
        check_xend_holds(stack.xend.pid(), want, "device-model-privileges on")?;

        let base = stack.tree.base().to_path_buf();
        // A 64 MiB guest allowed to lock its memory.
        let cfg = config_sized(
            &base,
            "lockguest",
            Some(64),
            "device_model_privileges = [ 'proc_lock_memory' ]",
        )?;
        let (need_kvm, need_tcg) = memlock_need(&cfg)?;
        check(
            need_kvm > 64 * MIB && need_tcg >= need_kvm,
            format!("a 64 MiB guest needs {need_kvm} (KVM), {need_tcg} (TCG) locked"),
        )?;

        // What the list does not hold is refused with the reason.
        let bad = config_with(
            &base,
            "adminguest",
            "device_model_privileges = [ 'sys_admin' ]",
        )?;
        let r = stack.alice(&["create", &bad.display().to_string()])?;
        refused_with(
            &r,
            &["device_model_privileges", "sys_admin", "refused"],
            "xm create asking for sys_admin",
        )?;

        // xend's hard limit below what the guest needs (under KVM or
        // TCG): refused on one line naming both numbers and how to raise
        // it; xend never raises it (it keeps no sys_resource).
        let own = memlock_of(i32::try_from(std::process::id()).unwrap_or(0))?;
        let low = own.hard.unwrap_or(u64::MAX).min(need_kvm - MIB);
        stack.xend.kill();
        stack.xend = start_xend_with_memlock(&stack.tree, "xend-lowlock.log", low, &on)?;
        let xend = stack.xend.pid();
        check(
            memlock_of(xend)?.hard == Some(low),
            format!("xend's Max locked memory is not {low}"),
        )?;
        let r = stack.alice(&["create", &cfg.display().to_string()])?;
        let named = |n: u64| {
            r.err.contains(&format!(
                "proc_lock_memory needs a locked-memory limit of {n} bytes"
            ))
        };
        check(
            named(need_kvm) || named(need_tcg),
            format!(
                "the refusal names neither {need_kvm} nor {need_tcg}: {}",
                r.err
            ),
        )?;
        refused_with(
            &r,
            &[
                "(64 MiB of guest memory + ",
                &format!("above xend's hard limit of {low} bytes, which xend cannot raise"),
                "LimitMEMLOCK=infinity",
                "ulimit -l unlimited",
            ],
            "xm create of a guest that locks, xend's hard limit too low",
        )?;
        // A device model not allowed to lock locks nothing, and gets the
        // kernel's default limit at most, whatever xend's.
        let plain = config_sized(&base, "plainguest", Some(64), "")?;
        let (domid, qemu) = create(&stack, &plain)?;
        check_unprivileged_qemu(qemu, POLICY.dm_base + domid)?;
        let vmlck = status_kib(qemu, "VmLck")?;
        check(
            vmlck == 0,
            format!("qemu not allowed to lock has VmLck {vmlck} kB"),
        )?;
        let dm_limit = low.min(xend::dm::policy::DM_MEMLOCK);
        check(
            memlock_of(qemu)?
                == Limit {
                    soft: Some(dm_limit),
                    hard: Some(dm_limit),
                },
            format!(
                "qemu not allowed to lock: Max locked memory {:?}, want {dm_limit}",
                memlock_of(qemu)?
            ),
        )?;
        stack
            .alice(&["destroy", &domid.to_string()])?
            .ok("xm destroy")?;

        // The feature off: the same config is refused, naming it.
        stack.restart_xend("xend-nodm.log", &[])?;
        let c = check_xend_holds(
            stack.xend.pid(),
            table_caps(&Features::default())?,
            "device-model-privileges off",
        )?;
        check(
            c.permitted & DM == 0,
            "CAP_IPC_LOCK held with the feature off",
        )?;
        let r = stack.alice(&["create", &cfg.display().to_string()])?;
        refused_with(
            &r,
            &[
                "device_model_privileges needs xend's feature device-model-privileges, which is off",
                "setprop features/device-model-privileges = true",
            ],
            "xm create with device_model_privileges, the feature off",
        )?;

        // xend's hard limit high enough (an administrator's LimitMEMLOCK=
        // or ulimit -l): the lock is real. Giving xend more than this
        // process has takes CAP_SYS_RESOURCE, which a test run may lack
        // (root in a container often does): then this part is skipped.
        let high = need_tcg;
        if own.hard.is_some_and(|h| h < high) && !may_raise_hard_limits()? {
            xvm_tests::skip::skip(
                test,
                &xvm_tests::skip::Skip::Capability {
                    cap: privlib::caps::num::SYS_RESOURCE,
                    why: "CAP_SYS_RESOURCE, to give xend a hard RLIMIT_MEMLOCK above this process's",
                },
            );
            eprintln!(
                "{test}: the locked part needs a hard RLIMIT_MEMLOCK of {high} bytes for xend; this process has {:?} and no CAP_SYS_RESOURCE",
                own.hard
            );
            return Ok(());
        }
        stack.xend.kill();
        stack.xend = start_xend_with_memlock(&stack.tree, "xend-lock.log", high, &on)?;
        check_xend_holds(
            stack.xend.pid(),
            want,
            "device-model-privileges on, locking",
        )?;
        let (domid, qemu) = create(&stack, &cfg)?;
        let c = CapSets::of(qemu)?;
        let lock = bit(num::IPC_LOCK);
        check(
            c.bounding == lock && c.permitted == lock && c.effective == lock,
            format!("qemu allowed proc_lock_memory holds {c:x?}, want {lock:#x} in L, P and E"),
        )?;
        check(
            c.inheritable & !lock == 0 && c.ambient & !lock == 0,
            format!("qemu's I or ambient set holds more: {c:x?}"),
        )?;
        check(
            runs_as(qemu, POLICY.dm_base + domid)? && status_field(qemu, "NoNewPrivs")? == "1",
            "qemu not under its own uid with no_new_privs",
        )?;
        // Its limit is what xend computed, and the guest's memory is
        // locked: the grant is real, not only a bit in CapPrm.
        let need = if under_kvm(qemu)? { need_kvm } else { need_tcg };
        let l = memlock_of(qemu)?;
        check(
            l == Limit {
                soft: Some(need),
                hard: Some(need),
            },
            format!("qemu's Max locked memory {l:?}, want {need} soft and hard"),
        )?;
        let vmlck = status_kib(qemu, "VmLck")?;
        check(
            vmlck >= 64 * 1024,
            format!("qemu allowed to lock has VmLck {vmlck} kB, less than its guest's 64 MiB"),
        )?;
        check_xend_holds(
            stack.xend.pid(),
            want,
            "a device model given proc_lock_memory",
        )?;
        stack
            .alice(&["destroy", &domid.to_string()])?
            .ok("xm destroy")?;
        Ok::<(), Error>(())
    })();
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// xend's `svcs -l` once it is online in a process other than `not`
/// and serving; the output and the pid.
fn xend_online(root: &Path, not: i32, startd: &Startd) -> Result<(String, i32), Error> {
    let t = Instant::now();
    loop {
        // (svc-startd's control socket may not be there yet.)
        let out = smf_tool(root, "svcs", &["-l", XEND])?.out;
        let pid: i32 = long_field(&out, "pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if long_field(&out, "state") == Some("online") && pid != 0 && pid != not {
            // Serving: past its privilege drop, which the restarter's
            // answer must show.
            wait_for_socket(&root.join("run/xend/xmlrpc.sock"), Duration::from_secs(30))?;
            let out = smf_ok(root, "svcs", &["-l", XEND])?;
            check(
                long_field(&out, "pid") == Some(pid.to_string().as_str()),
                format!("xend restarted again:\n{out}"),
            )?;
            return Ok((out, pid));
        }
        check(
            t.elapsed() < Duration::from_secs(60),
            format!(
                "xend not online in a new process:\n{out}\nsvc-startd's log:\n{}",
                startd.0.log_text()
            ),
        )?;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ppriv PID`'s line for set `letter` (E, I, P, L).
fn ppriv_set(pid: i32, letter: char) -> Result<String, Error> {
    let o = std::process::Command::new(bin("ppriv")?)
        .arg(pid.to_string())
        .output()
        .map_err(|source| Error::Spawn {
            program: "ppriv".into(),
            source,
        })?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{letter}: "))
                .map(str::to_string)
        })
        .ok_or_else(|| Error::Check(format!("ppriv {pid}: no {letter} line in {out}")))
}

#[test]
fn under_svc_startd_setprop_networking_false_takes_net_admin_away() {
    let test = "under_svc_startd_setprop_networking_false_takes_net_admin_away";
    if !runnable(test) {
        return;
    }
    let r = (|| {
        let tree = Hermetic::new("features-startd", STARTD)?;
        let manifests = shipped_manifests(tree.base(), STARTD.dm_base)?;
        let startd = Startd::spawn(&tree, &manifests)?;
        let root = tree.root().to_path_buf();
        let (out, xend) = xend_online(&root, 0, &startd)?;
        check(runs_as(xend, STARTD.xvm)?, "xend does not run as xvm")?;

        // svcs -l: the features, and what xend holds; ppriv agrees.
        for line in [
            "feature     networking = true (takes sys_net_config)",
            "feature     foreign-images = true (takes file_dac_read,file_dac_search,file_dac_write)",
            "feature     device-model-privileges = false (takes proc_lock_memory)",
        ] {
            check(
                out.lines().any(|l| l == line),
                format!("svcs -l lacks {line:?}:\n{out}"),
            )?;
        }
        let held_p = out
            .lines()
            .find_map(|l| l.strip_prefix("held        P: "))
            .unwrap_or_default();
        let held_e = out
            .lines()
            .find_map(|l| l.strip_prefix("held        E: "))
            .unwrap_or_default();
        check(
            held_p.contains("sys_net_config")
                && held_p.contains("proc_setid")
                && !held_p.contains("proc_lock_memory")
                && !held_e.contains("sys_net_config")
                && !held_e.contains("proc_setid"),
            format!("svcs -l's held sets:\n{out}"),
        )?;
        check(
            ppriv_set(xend, 'P')?.contains("sys_net_config")
                && !ppriv_set(xend, 'E')?.contains("sys_net_config"),
            "ppriv: sys_net_config not in P alone",
        )?;
        check_xend_holds(xend, table_caps(&Features::default())?, "under svc-startd")?;

        // Networking off through the manifest's property.
        smf_ok(
            &root,
            "svccfg",
            &["-s", XEND, "setprop", "features/networking", "=", "false"],
        )?;
        smf_ok(&root, "svcadm", &["refresh", XEND])?;
        smf_ok(&root, "svcadm", &["restart", XEND])?;
        let (out, xend2) = xend_online(&root, xend, &startd)?;
        check(!runs(xend), "the old xend still runs after the restart")?;
        check(
            out.lines()
                .any(|l| l == "feature     networking = false (takes sys_net_config)"),
            format!("svcs -l after setprop:\n{out}"),
        )?;
        let held = |set: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("held        {set}: ")))
                .unwrap_or_default()
                .to_string()
        };
        check(
            !held("P").contains("sys_net_config")
                && held("P").contains("proc_setid")
                && !held("E").contains("proc_setid")
                && !held("E").contains("file_dac"),
            format!("svcs -l's held sets with networking = false:\n{out}"),
        )?;
        let mut off = Features::default();
        off.set(Feature::Networking, false);
        let c = check_xend_holds(xend2, table_caps(&off)?, "networking = false")?;
        check(
            c.permitted & NET == 0 && c.bounding & NET == 0,
            "CAP_NET_ADMIN still held with networking = false",
        )?;
        check(
            !ppriv_set(xend2, 'P')?.contains("sys_net_config"),
            "ppriv shows sys_net_config with networking = false",
        )?;

        tree.test_guest("var/lib/xend/storage", &xend::testguest::image())?;
        let cfg = config_with(tree.base(), "vifguest", VIF)?;
        let r = xvm_tests::stack::xm(
            &root,
            &STARTD.alice(),
            &["create", &cfg.display().to_string()],
        )?;
        refused_with(
            &r,
            &NET_OFF,
            "xm create with a vif under svc-startd, networking off",
        )?;
        check_xend_holds(xend2, table_caps(&off)?, "after the refusal")?;

        // A value that is no boolean is refused by svccfg itself.
        let t = smf_tool(
            &root,
            "svccfg",
            &["-s", XEND, "setprop", "features/networking", "=", "maybe"],
        )?;
        check(t.code != 0, format!("setprop networking = maybe: {t:?}"))
    })();
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn a_feature_whose_privileges_xend_was_not_given_stops_it_naming_the_feature() {
    let test = "a_feature_whose_privileges_xend_was_not_given_stops_it_naming_the_feature";
    if !require_root(test) || !require_program(test, "setpriv", "util-linux") {
        return;
    }
    let r = (|| {
        let tree = Hermetic::new("features-not-given", NOT_GIVEN)?;
        tree.lay_out_xvm_dirs()?;
        let dm = NOT_GIVEN.dm_base.to_string();
        let run = |log: &str, extra: &[&str]| -> Result<(Option<i32>, String), Error> {
            // Root without CAP_NET_ADMIN, as a restarter would start xend
            // from a manifest that predates the networking feature.
            let mut cmd = tree.command(Path::new("/usr/bin/setpriv"));
            cmd.arg("--bounding-set=-net_admin")
                .arg(bin("xend")?)
                .args(["--system", "--dm-uid-base", &dm])
                .args(extra);
            let mut d = Daemon::spawn("xend", cmd, &tree.base().join(log))?;
            tree.reap_at_end(d.pid());
            let code = d.wait_exit(Duration::from_secs(30));
            Ok((code.ok().flatten(), d.log_text()))
        };
        let (code, log) = run("xend-not-given.log", &[])?;
        check(
            code == Some(1)
                && log.contains(
                    "xend: feature networking is on and needs sys_net_config (cap_net_admin), which xend was not started with",
                )
                && log.contains("--feature-networking off"),
            format!("xend without CAP_NET_ADMIN: exit {code:?}\n{log}"),
        )?;
        // With the feature off it starts, holding none of it.
        let mut cmd = tree.command(Path::new("/usr/bin/setpriv"));
        cmd.arg("--bounding-set=-net_admin")
            .arg(bin("xend")?)
            .args([
                "--system",
                "--dm-uid-base",
                &dm,
                "--feature-networking",
                "false",
            ]);
        let d = Daemon::spawn("xend", cmd, &tree.base().join("xend-off.log"))?
            .ready_when_logged("xend serving")?;
        tree.reap_at_end(d.pid());
        let mut off = Features::default();
        off.set(Feature::Networking, false);
        check_xend_holds(d.pid(), table_caps(&off)?, "networking false, not given")?;
        Ok::<(), Error>(())
    })();
    if let Err(e) = r {
        panic!("{e}");
    }
}
