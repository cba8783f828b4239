//! Debian's unmodified `virsh` managing the stack through virtd, end to
//! end (root, hermetic): xenstored, xend, xenconsoled and virtd in system
//! mode over one tree, virsh run as its users against
//! `xen+unix:///system?socket=ROOT/run/libvirt/libvirt-sock`. alice holds
//! `virt_manage` by group alone; bob holds nothing. One stack serves
//! every test of this binary (tests serialized); the Linux guest is
//! booted once, by the lifecycle test, under KVM where KVM boots it, else
//! TCG (`console::kvm_boots_linux`); the other tests use the boot-sector
//! guest.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use xvm_tests::console::{DETACH, Terminal, find, kvm_boots_linux, setpriv_args};
use xvm_tests::guest::{LINUX_CMDLINE, LINUX_PROMPT, LinuxGuest, require_linux_guest};
use xvm_tests::hermetic::User;
use xvm_tests::manifest::{Startd, shipped_manifests};
use xvm_tests::procfs::{caps, check_unprivileged_qemu, process_of, status_field};
use xvm_tests::stack::{Stack, Xm, token};
use xvm_tests::virsh::{self, boot_sector_xml, info_field, linux_xml, listed, write_xml};
use xvm_tests::{
    Accounts, Daemon, Error, Hermetic, bin, check, require_program, require_root, serial,
    wait_for_socket,
};

const IDS: Accounts = Accounts::from_base(47_700);
const LINUX: &str = "virshlinux";
const BOOT: Duration = Duration::from_secs(180);
const ANSWER: Duration = Duration::from_secs(60);

/// The stack, virtd over it, and the Linux guest's files.
struct Fixture {
    stack: Stack,
    virtd: Daemon,
    linux: LinuxGuest,
}

impl Fixture {
    /// `virsh -c URI ARGS` as `who` on the read-write socket.
    fn virsh(&self, who: &User, args: &[&str]) -> Result<Xm, Error> {
        let uri = virsh::uri(&virsh::socket(self.stack.root()));
        virsh::virsh(&self.stack, who, &uri, args)
    }

    /// As alice, checked to succeed (else the error has virsh's output
    /// and the daemons' logs).
    fn alice(&self, args: &[&str]) -> Result<Xm, Error> {
        let r = self.virsh(&IDS.alice(), args)?;
        check(
            r.code == 0,
            format!(
                "alice's virsh {}: exit {}\n{}{}\nvirtd: {}\nxend: {}",
                args.join(" "),
                r.code,
                r.out,
                r.err,
                self.virtd.log_text(),
                self.stack.xend_log()
            ),
        )?;
        Ok(r)
    }

    /// `(id, state)` of `name` in alice's `virsh list --all`.
    fn state(&self, name: &str) -> Result<Option<(String, String)>, Error> {
        Ok(listed(&self.alice(&["list", "--all"])?.out, name))
    }

    /// A file under the tree's base, for XML and logs.
    fn file(&self, name: &str) -> PathBuf {
        self.stack.tree.base().join(name)
    }

    /// The boot-sector guest `name` defined by alice (its disk the
    /// stack's test image).
    fn define_boot_sector(&self, name: &str) -> Result<(), Error> {
        let img = self.stack.root().join("var/lib/xend/storage/test.img");
        let xml = write_xml(self.stack.tree.base(), name, &boot_sector_xml(name, &img))?;
        self.alice(&["define", &xml.display().to_string()])?;
        Ok(())
    }
}

/// The stack with virtd; a start-up failure panics every test.
fn fixture(test: &str) -> Option<(MutexGuard<'static, ()>, &'static Fixture)> {
    static FIXTURE: OnceLock<Result<Fixture, Error>> = OnceLock::new();
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(test, "virsh", "libvirt-clients")
    {
        return None;
    }
    let linux = require_linux_guest(test)?;
    let guard = serial();
    let f = FIXTURE.get_or_init(|| {
        let mut stack = Stack::start("virsh", IDS, &xend::testguest::image(), &[])?;
        if !kvm_boots_linux(&linux.kernel, &linux.initrd) {
            stack.restart_xend_under_tcg("xend-tcg.log", &[])?;
        }
        stack.start_xenconsoled("xenconsoled.log", &["--log=guest"])?;
        let virtd = virsh::start_virtd(&stack, "virtd.log", &[])?;
        Ok(Fixture {
            stack,
            virtd,
            linux,
        })
    });
    match f {
        Ok(f) => Some((guard, f)),
        Err(e) => panic!("the stack did not start: {e}"),
    }
}

fn with_fixture(test: &str, body: impl FnOnce(&Fixture) -> Result<(), Error>) {
    let Some((_g, f)) = fixture(test) else { return };
    let t = Instant::now();
    let r = body(f);
    eprintln!("{test}: {:.1} s", t.elapsed().as_secs_f64());
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// Checks that a refused virsh exited non-zero with stderr naming `want`.
fn refused(r: &Xm, what: &str, want: &str) -> Result<(), Error> {
    check(
        r.code != 0 && r.err.contains(want),
        format!(
            "{what}: exit {}, want a refusal naming {want:?}\nstdout: {}\nstderr: {}",
            r.code, r.out, r.err
        ),
    )
}

/// The Linux guest's console log (xenconsoled's `guest-NAME.log`).
fn console_log(f: &Fixture, name: &str) -> PathBuf {
    f.stack.console_log_dir().join(format!("guest-{name}.log"))
}

/// Waits until `name`'s console log shows the shell's prompt.
fn wait_booted(f: &Fixture, name: &str, domid: u32) -> Result<(), Error> {
    let t = Instant::now();
    let log = console_log(f, name);
    loop {
        let text = std::fs::read(&log).unwrap_or_default();
        if find(&text, LINUX_PROMPT.as_bytes()).is_some() {
            eprintln!(
                "virsh: the Linux guest booted in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if t.elapsed() > BOOT {
            let qemu = std::fs::read_to_string(f.stack.domain_dir(domid).join("qemu.log"))
                .unwrap_or_default();
            return Err(Error::Timeout {
                what: format!(
                    "the guest's prompt in {}; it holds {:?}\nqemu.log: {qemu}",
                    log.display(),
                    String::from_utf8_lossy(&text[text.len().saturating_sub(2000)..])
                ),
                secs: BOOT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `virsh console NAME` as `who` on a fresh terminal.
fn console(f: &Fixture, who: &User, name: &str) -> Result<Terminal, Error> {
    let uri = virsh::uri(&virsh::socket(f.stack.root()));
    Terminal::spawn(
        &f.stack.tree,
        who,
        std::path::Path::new("virsh"),
        &["-c", &uri, "console", name],
        &[("HOME", "/nonexistent")],
        None,
    )
}

/// Attaches alice's `virsh console`, has the guest's shell compute a
/// number, checks it shows, and leaves with Ctrl-]: the terminal as the
/// client left it.
fn shell_answers(f: &Fixture, name: &str) -> Result<Terminal, Error> {
    let mut t = console(f, &IDS.alice(), name)?;
    t.expect(b"Escape character is ^]", ANSWER)?;
    t.send(b"\r")?;
    t.expect(LINUX_PROMPT.as_bytes(), ANSWER)?;
    let (sum, expr) = token();
    t.send(format!("echo xvm-virsh-{expr}\r").as_bytes())?;
    t.expect(format!("xvm-virsh-{sum}").as_bytes(), ANSWER)?;
    t.send(&[DETACH])?;
    let code = t.wait_exit(Duration::from_secs(10))?;
    check(
        code == 0,
        format!("virsh console after Ctrl-]: exit {code}"),
    )?;
    let (now, before) = t.modes()?;
    check(
        now == before,
        format!("terminal modes after virsh console: {now}, before: {before}"),
    )?;
    Ok(t)
}

#[test]
fn alice_runs_the_linux_guest_with_virsh_from_define_to_undefine() {
    let test = "alice_runs_the_linux_guest_with_virsh_from_define_to_undefine";
    with_fixture(test, |f| {
        let linux = &f.linux;
        // xend hands the device model the kernel and initrd by fd: they
        // must lie in its image directory, xvm's.
        let images = f.stack.root().join("var/lib/xend/storage");
        let mut files = Vec::new();
        for (src, file) in [(&linux.kernel, "vmlinuz"), (&linux.initrd, "initrd.gz")] {
            let dst = images.join(format!("{LINUX}-{file}"));
            std::fs::copy(src, &dst).map_err(Error::io("copy to", &dst))?;
            f.stack.tree.give_xvm(&dst)?;
            xvm_tests::hermetic::set_mode(&dst, 0o644)?;
            files.push(dst);
        }
        let xml = linux_xml(LINUX, &files[0], &files[1], LINUX_CMDLINE, 256);
        let path = write_xml(f.stack.tree.base(), LINUX, &xml)?;
        let path_s = path.display().to_string();
        f.alice(&["define", &path_s])?;
        let st = f.state(LINUX)?;
        check(
            st == Some(("-".into(), "shut off".into())),
            format!("after define, list --all shows {st:?}"),
        )?;

        // dumpxml of the defined domain is accepted by define unchanged.
        let dumped = f.alice(&["dumpxml", LINUX])?.out;
        let again = write_xml(f.stack.tree.base(), "dumped", &dumped)?;
        f.alice(&["define", &again.display().to_string()])?;
        let redumped = f.alice(&["dumpxml", LINUX])?.out;
        check(
            redumped == dumped,
            format!("dumpxml after define of its own output:\n{redumped}\nbefore:\n{dumped}"),
        )?;
        check(
            dumped.contains(&format!("<name>{LINUX}</name>")) && dumped.contains("<uuid>"),
            format!("dumpxml: {dumped}"),
        )?;

        f.alice(&["start", LINUX])?;
        let running = f.alice(&["list"])?.out;
        let (id, state) = listed(&running, LINUX)
            .ok_or_else(|| Error::Check(format!("list after start: {running:?}")))?;
        check(state == "running", format!("list shows {LINUX} {state}"))?;
        let domid: u32 = id
            .parse()
            .map_err(|_| Error::Check(format!("list shows id {id:?}")))?;
        let got = f.alice(&["domid", LINUX])?.out;
        check(got.trim() == id, format!("domid: {got:?}, list: {id}"))?;
        let got = f.alice(&["domname", &id])?.out;
        check(got.trim() == LINUX, format!("domname {id}: {got:?}"))?;
        let info = f.alice(&["dominfo", LINUX])?.out;
        for (k, v) in [
            ("Id", id.as_str()),
            ("Name", LINUX),
            ("OS Type", "hvm"),
            ("State", "running"),
            ("CPU(s)", "1"),
            ("Max memory", "262144 KiB"),
            ("Persistent", "yes"),
        ] {
            check(
                info_field(&info, k) == Some(v),
                format!("dominfo {k}: want {v:?}\n{info}"),
            )?;
        }
        // The domain's device model runs under its own uid, with nothing.
        let dm = IDS.dm_base + domid;
        check_unprivileged_qemu(process_of(dm)?, dm)?;
        // A running domain's XML carries its id, and define takes it back.
        let live = f.alice(&["dumpxml", LINUX])?.out;
        check(
            live.contains(&format!("id='{domid}'")) || live.contains(&format!("id=\"{domid}\"")),
            format!("dumpxml of the running domain: {live}"),
        )?;

        wait_booted(f, LINUX, domid)?;
        shell_answers(f, LINUX)?;

        f.alice(&["suspend", LINUX])?;
        let st = f.state(LINUX)?;
        check(
            st == Some((id.clone(), "paused".into())),
            format!("after suspend: {st:?}"),
        )?;
        f.alice(&["resume", LINUX])?;
        let st = f.state(LINUX)?;
        check(
            st == Some((id.clone(), "running".into())),
            format!("after resume: {st:?}"),
        )?;
        // The guest runs again: its shell answers.
        shell_answers(f, LINUX)?;

        // busybox has no ACPI daemon: the request is made (the domain is
        // "in shutdown"), the guest stays up until destroy.
        f.alice(&["shutdown", LINUX])?;
        let st = f.state(LINUX)?;
        check(
            st == Some((id.clone(), "in shutdown".into()))
                || st == Some(("-".into(), "shut off".into())),
            format!("after shutdown: {st:?}"),
        )?;
        f.alice(&["destroy", LINUX])?;
        let st = f.state(LINUX)?;
        check(
            st == Some(("-".into(), "shut off".into())),
            format!("after destroy: {st:?}"),
        )?;
        xvm_tests::wait_until(Duration::from_secs(10), "the device model's end", || {
            Ok(xvm_tests::procfs::processes_of(dm).is_empty())
        })?;
        f.alice(&["undefine", LINUX])?;
        let all = f.alice(&["list", "--all"])?.out;
        check(
            listed(&all, LINUX).is_none(),
            format!("after undefine, list --all: {all:?}"),
        )
    });
}

#[test]
fn bob_gets_an_error_naming_virt_manage_and_changes_nothing() {
    with_fixture(
        "bob_gets_an_error_naming_virt_manage_and_changes_nothing",
        |f| {
            let name = "virshbob";
            f.define_boot_sector(name)?;
            f.alice(&["start", name])?;
            let before = f.alice(&["list", "--all"])?.out;
            let xml = f.file(&format!("{name}.xml")).display().to_string();
            let bob = IDS.bob();
            for args in [
                vec!["list", "--all"],
                vec!["define", xml.as_str()],
                vec!["dominfo", name],
                vec!["suspend", name],
                vec!["destroy", name],
                vec!["undefine", name],
                vec!["start", name],
            ] {
                let r = f.virsh(&bob, &args)?;
                refused(
                    &r,
                    &format!("bob's virsh {}", args.join(" ")),
                    "virt_manage",
                )?;
            }
            // Without his uid in any passwd entry or group, the same.
            let r = f.virsh(&IDS.nobody(), &["list", "--all"])?;
            refused(&r, "a user of no group's virsh list", "virt_manage")?;
            let after = f.alice(&["list", "--all"])?.out;
            check(
                after == before,
                format!("alice's list before bob: {before:?}, after: {after:?}"),
            )?;
            check(
                listed(&after, name).is_some_and(|(_, s)| s == "running"),
                format!("list: {after:?}"),
            )?;
            f.alice(&["destroy", name])?;
            f.alice(&["undefine", name])?;
            Ok(())
        },
    );
}

#[test]
fn read_only_connections_list_but_refuse_start() {
    with_fixture("read_only_connections_list_but_refuse_start", |f| {
        let name = "virshro";
        f.define_boot_sector(name)?;
        let alice = IDS.alice();
        let rw = virsh::uri(&virsh::socket(f.stack.root()));
        let ro = virsh::uri(&virsh::socket_ro(f.stack.root()));
        // virsh -r on the read-write socket, and the -ro socket opened
        // normally: the client refuses the first, virtd the second.
        for (uri, flag, what) in [
            (rw.as_str(), Some("-r"), "virsh -r"),
            (ro.as_str(), None, "the -ro socket"),
        ] {
            let with = |args: &[&str]| -> Vec<String> {
                flag.into_iter()
                    .chain(args.iter().copied())
                    .map(String::from)
                    .collect()
            };
            let list = with(&["list", "--all"]);
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            let r = virsh::virsh(&f.stack, &alice, uri, &list)?;
            check(
                r.code == 0 && listed(&r.out, name) == Some(("-".into(), "shut off".into())),
                format!("{what}: list --all: exit {}\n{}{}", r.code, r.out, r.err),
            )?;
            let start = with(&["start", name]);
            let start: Vec<&str> = start.iter().map(String::as_str).collect();
            let r = virsh::virsh(&f.stack, &alice, uri, &start)?;
            refused(&r, &format!("{what}: start"), "read only access")?;
            let st = f.state(name)?;
            check(
                st == Some(("-".into(), "shut off".into())),
                format!("after {what}'s start: {st:?}"),
            )?;
        }
        f.alice(&["undefine", name])?;
        Ok(())
    });
}

#[test]
fn a_domain_xml_with_an_unknown_element_is_refused_at_its_line_and_column() {
    with_fixture(
        "a_domain_xml_with_an_unknown_element_is_refused_at_its_line_and_column",
        |f| {
            let name = "virshbad";
            let img = f.stack.root().join("var/lib/xend/storage/test.img");
            let good = boot_sector_xml(name, &img);
            let bad = good.replacen(
                "  <devices>\n",
                "  <devices>\n    <watchdog model='i6300esb'/>\n",
                1,
            );
            let line = bad[..bad.find("<watchdog").unwrap_or(0)]
                .matches('\n')
                .count()
                + 1;
            let path = write_xml(f.stack.tree.base(), "bad", &bad)?;
            let r = f.virsh(&IDS.alice(), &["define", &path.display().to_string()])?;
            refused(&r, "define of a watchdog", "watchdog")?;
            refused(
                &r,
                "define of a watchdog",
                &format!("line {line}, column 5"),
            )?;
            let all = f.alice(&["list", "--all"])?.out;
            check(
                listed(&all, name).is_none(),
                format!("list --all after a refused define: {all:?}"),
            )
        },
    );
}

#[test]
fn virtd_runs_as_xvm_with_no_capability_and_no_new_privileges() {
    with_fixture(
        "virtd_runs_as_xvm_with_no_capability_and_no_new_privileges",
        |f| {
            let pid = f.virtd.pid();
            let xvm = IDS.xvm.to_string();
            for k in ["Uid", "Gid"] {
                let v = status_field(pid, k)?;
                check(
                    v.split_whitespace().all(|u| u == xvm),
                    format!("virtd {k}: {v}"),
                )?;
            }
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                let c = caps(pid, set)?;
                check(c == 0, format!("virtd {set}: {c:#x}"))?;
            }
            let nnp = status_field(pid, "NoNewPrivs")?;
            check(nnp == "1", format!("virtd NoNewPrivs: {nnp}"))?;
            // And it answers: virsh's connection procedures.
            let r = f.alice(&["uri"])?;
            check(
                r.out.trim().starts_with("xen"),
                format!("virsh uri: {:?}", r.out),
            )
        },
    );
}

#[test]
fn the_shipped_manifests_run_virtd_under_svc_startd_and_virsh_reaches_it() {
    let test = "the_shipped_manifests_run_virtd_under_svc_startd_and_virsh_reaches_it";
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(test, "virsh", "libvirt-clients")
    {
        return;
    }
    let _g = serial();
    let t = Instant::now();
    let r = (|| -> Result<(), Error> {
        let ids = Accounts::from_base(47_800);
        let tree = Hermetic::new("virsh-startd", ids)?;
        let manifests = shipped_manifests(tree.base(), ids.dm_base)?;
        let startd = Startd::spawn(&tree, &manifests)?;
        let sock = virsh::socket(tree.root());
        let svcs = || {
            Command::new(bin("svcs").unwrap_or_default())
                .arg("-x")
                .env("XVM_ROOT", tree.root())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        wait_for_socket(&sock, Duration::from_secs(30)).map_err(|e| {
            Error::Check(format!(
                "{e}\nsvcs -x: {}\nsvc-startd: {}",
                svcs(),
                startd.0.log_text()
            ))
        })?;
        // The directory as fixperms lays it out: xvm's, every user may
        // pass it to reach the 0666 sockets.
        let m =
            std::fs::metadata(sock.parent().unwrap_or(&sock)).map_err(Error::io("stat", &sock))?;
        check(
            m.uid() == ids.xvm && m.permissions().mode() & 0o001 == 0o001,
            format!(
                "run/libvirt: uid {} mode {:o}",
                m.uid(),
                m.permissions().mode()
            ),
        )?;
        let pid = process_named("virtd", ids.xvm)?;
        check(
            caps(pid, "CapEff")? == 0 && status_field(pid, "NoNewPrivs")? == "1",
            "virtd under svc-startd holds a capability or may gain privileges",
        )?;
        let o = tree
            .command(std::path::Path::new("setpriv"))
            .args(setpriv_args(&ids.alice()))
            .args(["virsh", "-q", "-c", &virsh::uri(&sock), "list", "--all"])
            .output()
            .map_err(|source| Error::Spawn {
                program: "virsh".into(),
                source,
            })?;
        check(
            o.status.success(),
            format!(
                "alice's virsh list under svc-startd: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })();
    eprintln!("{test}: {:.1} s", t.elapsed().as_secs_f64());
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// The process named `comm` running as `uid`.
fn process_named(comm: &str, uid: u32) -> Result<i32, Error> {
    xvm_tests::procfs::processes_of(uid)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .ok_or_else(|| Error::Check(format!("no {comm} runs as uid {uid}")))
}
