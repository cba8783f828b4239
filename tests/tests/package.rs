//! The Debian package, on a fresh Debian 12 root (mmdebstrap's minbase
//! plus the package's dependencies, in namespaces of its own): it
//! installs over xVM directories with planted wrong owners and fixes them;
//! `svc-startd --system` from the installed paths brings every service
//! online as xvm; `xm create` boots the Linux guest under a device model
//! with no privilege; logrotate's entry rotates the guest's console log
//! and xenconsoled reopens it; a reinstall fixes owners planted again and
//! a second changes nothing; removal keeps the configuration and the
//! domains, purge removes the configuration and keeps the domains.

use std::path::Path;
use std::time::Duration;

use xvm_tests::debian::DebianRoot;
use xvm_tests::guest::LINUX_BANNER;
use xvm_tests::procfs::{caps, check_unprivileged_qemu, status_field};
use xvm_tests::{Error, bindir, check, require_program, require_root, wait_until};

/// A uid and gid no account of the root has: the planted owner.
const STRANGER: u32 = 4242;

/// Builds the package from this build's programs (a nested cargo would
/// wait on the build lock the running `cargo test` holds).
fn build_package(out: &Path) -> Result<std::path::PathBuf, Error> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/package");
    let (bin, out) = (bindir(), out.to_path_buf());
    let deb = xvm_tests::disks::run(
        &script.display().to_string(),
        &[
            "--bindir",
            &bin.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
    )?;
    let deb = deb.trim().to_string();
    check(
        deb.ends_with(".deb"),
        format!("scripts/package printed {deb:?}"),
    )?;
    Ok(deb.into())
}

/// A path inside the root with its owner, group and mode.
type Owned = (String, (u32, u32, u32));

fn snapshot(r: &DebianRoot) -> Result<Vec<Owned>, Error> {
    let mut out = Vec::new();
    for p in [
        "/var/lib/xend",
        "/var/lib/xend/domains",
        "/var/lib/xend/domains/old.cfg",
        "/var/lib/xend/storage",
        "/var/log/xen",
        "/var/log/xen/console",
        "/var/xen/dump",
        "/usr/lib/xen/bin/xenconsole",
        "/etc/xvm/privileges.toml",
        "/etc/passwd",
        "/etc/group",
    ] {
        out.push((p.to_string(), r.owner_mode(p)?));
    }
    Ok(out)
}

/// Plants the wrong owners and modes an old or damaged install leaves.
fn plant(r: &DebianRoot) -> Result<(), Error> {
    for d in ["/var/lib/xend/domains", "/var/log/xen/console"] {
        let p = r.path(d);
        std::fs::create_dir_all(&p).map_err(Error::io("create", &p))?;
    }
    let cfg = r.path("/var/lib/xend/domains/old.cfg");
    if !cfg.exists() {
        std::fs::write(&cfg, "name = \"old\"\ntype = \"hvm\"\nmemory = 32\n")
            .map_err(Error::io("write", &cfg))?;
    }
    // What a hostile xvm (or a user of an old install) leaves for root's
    // walk: a symlink to a root file, which must be left alone.
    let evil = r.path("/var/lib/xend/domains/evil.cfg");
    if std::fs::symlink_metadata(&evil).is_err() {
        std::os::unix::fs::symlink("/etc/shadow", &evil).map_err(Error::io("symlink", &evil))?;
    }
    for p in [
        "/var/lib/xend",
        "/var/lib/xend/domains",
        "/var/lib/xend/domains/old.cfg",
        "/var/log/xen",
    ] {
        let path = r.path(p);
        std::os::unix::fs::chown(&path, Some(STRANGER), Some(STRANGER))
            .map_err(Error::io("chown", &path))?;
        xvm_tests::hermetic::set_mode(&path, 0o777)?;
    }
    Ok(())
}

/// xvm-fixperms' change lines in an install's output (what it left alone,
/// on purpose, is said on other lines).
fn fixes(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            ["chown ", "chmod ", "mkdir "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect()
}

fn install(r: &DebianRoot, deb: &str, what: &str) -> Result<String, Error> {
    let ran = r.run(&["dpkg", "-i", deb])?.ok(what)?;
    Ok(format!("{}{}", ran.out, ran.err))
}

/// The stack from the installed paths, and a guest; stopped at the end.
/// Starts the stack from the installed paths and runs a guest (destroyed
/// again); svc-startd is left running, for removal to stop (its nsenter
/// returned), or stopped when a check fails.
fn run_stack(r: &DebianRoot, xvm: u32) -> Result<std::process::Child, Error> {
    let log = r.path("/var/log/svc-startd.out");
    let out = std::fs::File::create(&log).map_err(Error::io("create", &log))?;
    let err = out.try_clone().map_err(Error::io("dup", &log))?;
    let mut startd = r
        .command(&["/usr/sbin/svc-startd", "--system"])
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "svc-startd".into(),
            source,
        })?;
    let result = (|| {
        let startd_log = || std::fs::read_to_string(&log).unwrap_or_default();
        for fmri in [
            "system/xvm/store",
            "system/xvm/xend",
            "system/xvm/console",
            "system/xvm/virtd",
        ] {
            wait_until(Duration::from_secs(60), &format!("{fmri} online"), || {
                Ok(r.run(&["svcadm", "enable", "-t", "-s", fmri])?.code == 0)
            })
            .map_err(|e| Error::Check(format!("{e}\nsvc-startd:\n{}", startd_log())))?;
        }
        let svcs = r.run(&["svcs"])?;
        check(
            svcs.out.lines().filter(|l| l.starts_with("online")).count() >= 4
                && !svcs.out.contains("maintenance"),
            format!("svcs:\n{}", svcs.out),
        )?;
        // Every daemon as xvm, with nothing beyond what it declares.
        for d in ["xenstored", "xend", "xenconsoled", "virtd"] {
            let pids = r.pids_named(d);
            check(pids.len() == 1, format!("{d}: processes {pids:?}"))?;
            let uid = status_field(pids[0], "Uid")?;
            check(
                uid.split_whitespace().all(|u| u == xvm.to_string()),
                format!("{d} Uid: {uid}, want xvm ({xvm})"),
            )?;
            check(
                status_field(pids[0], "NoNewPrivs")? == "1",
                format!("{d}: no_new_privs is not set"),
            )?;
            if d != "xend" {
                check(
                    caps(pids[0], "CapPrm")? == 0,
                    format!("{d} keeps capabilities"),
                )?;
            }
        }

        // The Linux guest, from an image directory of the host's layout.
        let guest = xvm_tests::guest::linux()?;
        let images = r.path("/var/lib/xen/images");
        std::fs::create_dir_all(&images).map_err(Error::io("create", &images))?;
        for (src, name) in [(&guest.kernel, "vmlinuz"), (&guest.initrd, "initrd.gz")] {
            let dst = images.join(name);
            std::fs::copy(src, &dst).map_err(Error::io("copy to", &dst))?;
        }
        let cfg = r.path("/etc/xen/pkg.cfg");
        std::fs::create_dir_all(r.path("/etc/xen")).map_err(Error::io("create", &cfg))?;
        std::fs::write(
            &cfg,
            format!(
                "name = \"pkg\"\ntype = \"hvm\"\nmemory = 128\nvcpus = 1\n\
                 kernel = \"/var/lib/xen/images/vmlinuz\"\nramdisk = \"/var/lib/xen/images/initrd.gz\"\n\
                 cmdline = \"{}\"\nserial = \"pty\"\non_crash = \"destroy\"\n",
                xvm_tests::guest::LINUX_CMDLINE
            ),
        )
        .map_err(Error::io("write", &cfg))?;
        r.run(&["xm", "create", "/etc/xen/pkg.cfg"])?
            .ok("xm create")?;
        let console_log = r.path("/var/log/xen/console/guest-pkg.log");
        wait_until(
            Duration::from_secs(120),
            "the guest's banner in its console log",
            || Ok(std::fs::read_to_string(&console_log).is_ok_and(|t| t.contains(LINUX_BANNER))),
        )?;
        let qemu = r.pids_named("qemu-system-x86");
        check(qemu.len() == 1, format!("qemu processes: {qemu:?}"))?;
        let dm = status_field(qemu[0], "Uid")?;
        let dm: u32 = dm
            .split_whitespace()
            .next()
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| Error::Check(format!("qemu Uid {dm}")))?;
        check(dm != 0 && dm != xvm, format!("qemu runs as {dm}"))?;
        check_unprivileged_qemu(qemu[0], dm)?;

        // logrotate's entry: the log renamed by date, xenconsoled told to
        // reopen (svcadm refresh) and writing a new one.
        r.run(&["logrotate", "--force", "/etc/logrotate.d/xvm-lp"])?
            .ok("logrotate --force")?;
        let console = r.pids_named("xenconsoled")[0];
        wait_until(
            Duration::from_secs(20),
            "xenconsoled to reopen guest-pkg.log",
            || {
                let fds = std::fs::read_dir(format!("/proc/{console}/fd"))
                    .map_err(Error::io("list", Path::new("/proc/PID/fd")))?;
                let targets: Vec<String> = fds
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .map(|p| p.display().to_string())
                    .collect();
                Ok(targets.iter().any(|t| t.ends_with("/guest-pkg.log"))
                    && !targets.iter().any(|t| t.contains("guest-pkg.log-")))
            },
        )?;
        let rotated = std::fs::read_dir(r.path("/var/log/xen/console"))
            .map_err(Error::io("list", &console_log))?
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("guest-pkg.log-")
            });
        check(rotated, "logrotate left no guest-pkg.log-DATE")?;

        // An administrator's property, which removal keeps and purge removes.
        r.run(&[
            "svccfg",
            "-s",
            "svc:/system/xvm/xend:default",
            "setprop",
            "config/accel",
            "=",
            "astring:",
            "tcg",
        ])?
        .ok("svccfg setprop")?;
        r.run(&["xm", "destroy", "pkg"])?.ok("xm destroy")?;
        wait_until(Duration::from_secs(30), "the guest's qemu to end", || {
            Ok(r.pids_named("qemu-system-x86").is_empty())
        })
    })();
    if result.is_ok() {
        return Ok(startd);
    }
    // SIGTERM: svc-startd stops every service, then itself (nsenter runs
    // it as its child: signalled by its own pid).
    for p in r.pids_named("svc-startd") {
        // SAFETY: kill(2) on a pid of this test's own root.
        unsafe { libc::kill(p, libc::SIGTERM) };
    }
    let _ = wait_until(Duration::from_secs(60), "svc-startd to stop", || {
        Ok(r.pids_named("svc-startd").is_empty())
    });
    let _ = startd.kill();
    let _ = startd.wait();
    result.map(|()| unreachable!("returned above"))
}

/// The installed units, tmpfiles.d and sysusers.d files are the shipped
/// (generated) ones, and dpkg knows the conffiles.
fn installed_files_are_the_shipped_ones(r: &DebianRoot) -> Result<(), Error> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut pairs = vec![
        (
            "manifests/systemd/xvm.tmpfiles.conf".to_string(),
            "/usr/lib/tmpfiles.d/xvm.conf".to_string(),
        ),
        (
            "manifests/sysusers.d/xvm.conf".to_string(),
            "/usr/lib/sysusers.d/xvm.conf".to_string(),
        ),
        (
            "manifests/privileges.toml".to_string(),
            "/etc/xvm/privileges.toml".to_string(),
        ),
    ];
    for svc in [
        "fixperms",
        "store",
        "xend",
        "console",
        "virtd",
        "relocation",
    ] {
        pairs.push((
            format!("manifests/systemd/xvm-{svc}.service"),
            format!("/lib/systemd/system/xvm-{svc}.service"),
        ));
        pairs.push((
            format!("manifests/smf/xvm-{svc}.xml"),
            format!("/usr/share/xvm/smf/xvm-{svc}.xml"),
        ));
    }
    for (shipped, installed) in pairs {
        let a = repo.join(&shipped);
        let want = std::fs::read(&a).map_err(Error::io("read", &a))?;
        let b = r.path(&installed);
        let got = std::fs::read(&b).map_err(Error::io("read", &b))?;
        check(got == want, format!("{installed} is not {shipped}"))?;
    }
    let c = r
        .run(&["dpkg-query", "-W", "-f", "${Conffiles}", "xvm-lp"])?
        .ok("dpkg-query Conffiles")?;
    check(
        c.out.contains("/etc/xvm/privileges.toml") && c.out.contains("/etc/logrotate.d/xvm-lp"),
        format!("conffiles: {:?}", c.out),
    )
}

fn package() -> Result<(), Error> {
    let r = DebianRoot::new("package")?;
    let deb = build_package(&r.path("/tmp"))?;
    let name = deb
        .file_name()
        .map(|n| format!("/tmp/{}", n.to_string_lossy()))
        .ok_or_else(|| Error::Check(format!("{}", deb.display())))?;

    // The archive holds xenconsole 0755 root; set-uid comes from dpkg.
    let listing = std::process::Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .map_err(|source| Error::Spawn {
            program: "dpkg-deb".into(),
            source,
        })?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    check(
        listing.lines().any(|l| {
            l.starts_with("-rwxr-xr-x root/root") && l.ends_with("./usr/lib/xen/bin/xenconsole")
        }),
        format!("xenconsole in the archive:\n{listing}"),
    )?;

    // 1. Over directories an earlier install left with wrong owners.
    plant(&r)?;
    let shadow = r.owner_mode("/etc/shadow")?;
    let first = install(&r, &name, "dpkg -i (first)")?;
    installed_files_are_the_shipped_ones(&r)?;
    check(
        r.owner_mode("/etc/shadow")? == shadow
            && std::fs::symlink_metadata(r.path("/var/lib/xend/domains/evil.cfg"))
                .is_ok_and(|m| m.file_type().is_symlink()),
        "the planted symlink to /etc/shadow was followed or removed",
    )?;
    let xvm = r.id_of("xvm", false)?;
    let xvm_g = r.id_of("xvm", true)?;
    r.id_of("xvm-manage", true)?;
    // uid 60 as sysusers.d asks (free on Debian); gid 60 is Debian's
    // games, so the group's id is the system's choice, and the user's.
    let passwd = std::fs::read_to_string(r.path("/etc/passwd"))
        .map_err(Error::io("read", &r.path("/etc/passwd")))?;
    check(
        xvm == 60
            && passwd
                .lines()
                .any(|l| l.starts_with(&format!("xvm:x:60:{xvm_g}:"))),
        format!("xvm is {xvm}, group xvm {xvm_g}:\n{passwd}"),
    )?;
    check(
        fixes(&first).iter().any(|l| l.contains("var/lib/xend")),
        format!("no fix was reported:\n{first}"),
    )?;
    for (p, mode) in [
        ("/var/lib/xend", 0o700),
        ("/var/lib/xend/domains", 0o700),
        ("/var/log/xen", 0o750),
    ] {
        check(
            r.owner_mode(p)? == (xvm, xvm_g, mode),
            format!("{p}: {:?} after install", r.owner_mode(p)?),
        )?;
    }
    let (u, g, _) = r.owner_mode("/var/lib/xend/domains/old.cfg")?;
    check((u, g) == (xvm, xvm_g), format!("old.cfg: {u}:{g}"))?;
    check(
        r.owner_mode("/usr/lib/xen/bin/xenconsole")? == (0, 0, 0o4755),
        format!(
            "xenconsole: {:?}",
            r.owner_mode("/usr/lib/xen/bin/xenconsole")?
        ),
    )?;
    let so = r.run(&["dpkg-statoverride", "--list", "/usr/lib/xen/bin/xenconsole"])?;
    check(
        so.out.trim() == "root root 4755 /usr/lib/xen/bin/xenconsole",
        format!("statoverride: {:?}", so.out),
    )?;
    // 2. Again: nothing left to change.
    let before = snapshot(&r)?;
    let accounts = |r: &DebianRoot| -> Result<String, Error> {
        let mut t = String::new();
        for f in ["/etc/passwd", "/etc/group", "/etc/shadow"] {
            let p = r.path(f);
            t += &std::fs::read_to_string(&p).map_err(Error::io("read", &p))?;
        }
        Ok(t)
    };
    let accounts_before = accounts(&r)?;
    let again = install(&r, &name, "dpkg -i (again)")?;
    check(
        snapshot(&r)? == before && accounts(&r)? == accounts_before,
        "a second install changed owners, modes or accounts",
    )?;
    check(
        fixes(&again).is_empty(),
        format!("a second install reported fixes:\n{again}"),
    )?;
    let dry = r
        .run(&["xvm-fixperms", "--dry-run"])?
        .ok("xvm-fixperms --dry-run")?;
    check(
        dry.out.trim().is_empty(),
        format!("xvm-fixperms would still change:\n{}", dry.out),
    )?;

    // 3. The stack from the installed paths.
    let mut startd = run_stack(&r, xvm)?;

    // 4. A reinstall (as an upgrade is, under the running stack) over
    // owners planted again fixes them and keeps the administrator's
    // edit of the policy.
    plant(&r)?;
    let policy = r.path("/etc/xvm/privileges.toml");
    let edited = format!(
        "{}\n# an administrator's note\n",
        std::fs::read_to_string(&policy).map_err(Error::io("read", &policy))?
    );
    std::fs::write(&policy, &edited).map_err(Error::io("write", &policy))?;
    let fixed = install(&r, &name, "dpkg -i (over planted owners)")?;
    check(
        fixes(&fixed).iter().any(|l| l.contains("var/lib/xend")),
        format!("no fix was reported:\n{fixed}"),
    )?;
    check(snapshot(&r)? == before, "a reinstall left planted owners")?;
    check(
        std::fs::read_to_string(&policy).is_ok_and(|t| t == edited),
        "the reinstall replaced the edited /etc/xvm/privileges.toml",
    )?;

    // 5. Removal stops the running stack, keeps configuration, domains
    // and logs; purge removes the configuration only.
    let removed = r.run(&["dpkg", "-r", "xvm-lp"])?.ok("dpkg -r")?;
    wait_until(
        Duration::from_secs(10),
        "svc-startd's nsenter to return",
        || {
            Ok(startd
                .try_wait()
                .map_err(Error::io("wait", Path::new("nsenter")))?
                .is_some())
        },
    )?;
    for d in ["svc-startd", "xenstored", "xend", "xenconsoled", "virtd"] {
        let left = r.pids_named(d);
        check(
            left.is_empty(),
            format!("{d} runs on after removal: {left:?}\n{}", removed.out),
        )?;
    }
    for gone in [
        "/usr/lib/xvm/bin/xend",
        "/usr/sbin/xm",
        "/usr/lib/xen/bin/xenconsole",
    ] {
        check(
            !r.path(gone).exists(),
            format!("{gone} is left after removal"),
        )?;
    }
    for kept in [
        "/etc/xvm/privileges.toml",
        "/etc/logrotate.d/xvm-lp",
        "/var/lib/xvm/smf/properties",
        "/var/lib/xend/domains/old.cfg",
        "/var/log/xen/console/guest-pkg.log",
    ] {
        check(
            r.path(kept).exists(),
            format!("{kept} is gone after removal"),
        )?;
    }
    r.run(&["dpkg", "-P", "xvm-lp"])?.ok("dpkg -P")?;
    for gone in [
        "/etc/xvm",
        "/etc/logrotate.d/xvm-lp",
        "/var/lib/xvm/smf",
        "/var/log/xvm",
    ] {
        check(
            !r.path(gone).exists(),
            format!("{gone} is left after purge"),
        )?;
    }
    let so = r.run(&["dpkg-statoverride", "--list"])?;
    check(
        !so.out.contains("xenconsole"),
        format!("statoverride after purge: {}", so.out),
    )?;
    for kept in [
        "/var/lib/xend/domains/old.cfg",
        "/var/lib/xen/images/vmlinuz",
        "/var/log/xen/console/guest-pkg.log",
    ] {
        check(r.path(kept).exists(), format!("purge removed {kept}"))?;
    }
    check(
        r.id_of("xvm", false).is_ok(),
        "purge removed the xvm account",
    )?;
    let st = r.run(&["dpkg-query", "-W", "-f", "${Status}", "xvm-lp"])?;
    check(
        st.code != 0 || st.out.contains("not-installed"),
        format!("dpkg still knows xvm-lp: {:?}", st.out),
    )
}

#[test]
fn the_package_installs_fixes_owners_runs_the_stack_and_removes_and_purges_as_said() {
    let test = "the_package_installs_fixes_owners_runs_the_stack_and_removes_and_purges_as_said";
    if !require_root(test)
        || !require_program(test, "mmdebstrap", "mmdebstrap")
        || !require_program(test, "dpkg-shlibdeps", "dpkg-dev")
        || !require_program(test, "nsenter", "util-linux")
    {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = package() {
        panic!("{e}");
    }
}
