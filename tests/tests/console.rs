//! The consoles of a real Linux guest, end to end (root, hermetic): xend
//! boots the Debian kernel and busybox initramfs by direct kernel boot,
//! xenconsoled attaches to its serial stream, and users reach it through
//! `xm console` (the setuid xenconsole) on a pty the test drives, through
//! the loopback TCP serial gate and through xend's VNC gate. alice holds
//! `virt_manage` by group alone; bob holds nothing. One guest, booted by
//! the first test, serves every test of this binary (tests serialized);
//! under KVM where KVM boots it, else TCG (`console::kvm_boots_linux`).

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use privlib::testing::ChildFailure;
use xvm_tests::console::own_store;
use xvm_tests::console::{DETACH, Terminal, find};
use xvm_tests::console::{jpeg_len, pids_named, rss_kib, tcp_console, vnc_snapshot};
use xvm_tests::guest::{LINUX_BANNER, LINUX_PROMPT, require_linux_guest};
use xvm_tests::hermetic::User;
use xvm_tests::procfs::{caps, runs_as, status_field};
use xvm_tests::stack::xs;
use xvm_tests::stack::{ConsoleGuest, GUEST, token};
use xvm_tests::{Accounts, Error, bin, check, require_program, require_root, serial, wait_until};

const IDS: Accounts = Accounts::from_base(47_500);
/// xenconsoled's log bound here: small, so a flood the TCG guest prints
/// in seconds rotates it several times.
const LOG_MAX: u64 = 256 * 1024;
const LOG_BACKUPS: u64 = 3;
/// What the flooding guest prints: past every log's bound and past the
/// 1 MiB console buffer, and done in about 30 s under TCG (whose UART
/// gave `yes | head` about 40 kB/s here). xenconsoled's own test floods
/// 100 MiB from a stand-in socket.
const FLOOD: u64 = 1_200_000;
const BOOT: Duration = Duration::from_secs(180);
const ANSWER: Duration = Duration::from_secs(60);

/// The booted guest, and what its console log held once it booted.
struct Fixture {
    guest: ConsoleGuest,
    boot_log: String,
}

/// The stack and its booted guest; a boot failure panics every test.
fn fixture(test: &str) -> Option<(MutexGuard<'static, ()>, &'static Fixture)> {
    static FIXTURE: OnceLock<Result<Fixture, Error>> = OnceLock::new();
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(test, "xenstore-read", "xenstore-utils")
        || !require_program(test, "vncsnapshot", "vncsnapshot")
    {
        return None;
    }
    let linux = require_linux_guest(test)?;
    let guard = serial();
    let f = FIXTURE.get_or_init(|| {
        let t = Instant::now();
        let max = LOG_MAX.to_string();
        let backups = LOG_BACKUPS.to_string();
        let args = [
            "--log=guest",
            "--log-max-size",
            &max,
            "--log-max-backups",
            &backups,
        ];
        let guest = ConsoleGuest::create(
            "console",
            IDS,
            &xend::testguest::image(),
            Some(&args),
            &linux,
        )?;
        let boot_log = guest.wait_booted(BOOT)?;
        eprintln!(
            "console: the Linux guest booted in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        Ok(Fixture { guest, boot_log })
    });
    match f {
        Ok(f) => Some((guard, f)),
        Err(e) => panic!("the guest did not boot: {e}"),
    }
}

/// Runs `body` on the booted guest (each test in turn holds it), and
/// fails the test with the error it returns; skips as [`fixture`] does.
fn with_fixture(test: &str, body: impl FnOnce(&Fixture) -> Result<(), Error>) {
    let Some((_g, f)) = fixture(test) else { return };
    let t0 = Instant::now();
    verdict(test, t0, body(f));
}

fn verdict(test: &str, t: Instant, r: Result<(), Error>) {
    eprintln!("{test}: {:.1} s", t.elapsed().as_secs_f64());
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// A file for a client's stderr, and its path.
fn stderr_file(f: &Fixture, name: &str) -> Result<(Stdio, PathBuf), Error> {
    let p = f.guest.stack.tree.base().join(name);
    let file = std::fs::File::create(&p).map_err(Error::io("create", &p))?;
    Ok((Stdio::from(file), p))
}

/// Checks that a refused client said one `prefix` line on stderr, exited
/// non-zero and showed not one byte on its terminal.
fn refused(t: &mut Terminal, err: &Path, who: &str) -> Result<(), Error> {
    let code = t.wait_exit(Duration::from_secs(20))?;
    let text = std::fs::read_to_string(err).map_err(Error::io("read", err))?;
    check(
        code != 0 && text.lines().count() == 1 && text.starts_with("xenconsole: "),
        format!("{who}: exit {code}, stderr {text:?}"),
    )?;
    // A guest byte would have come first had the client been let in.
    std::thread::sleep(Duration::from_millis(300));
    let shown = t.output();
    check(
        shown.is_empty(),
        format!(
            "{who}'s terminal showed {:?}",
            String::from_utf8_lossy(&shown)
        ),
    )
}

#[test]
fn alice_types_into_the_guest_through_xm_console_and_ctrl_bracket_restores_her_terminal() {
    with_fixture(
        "alice_types_into_the_guest_through_xm_console_and_ctrl_bracket_restores_her_terminal",
        |f| {
            let s = &f.guest.stack;
            let alice = IDS.alice();
            let mut t = f.guest.xm_console(&alice, None)?;
            t.send(b"\r")?;
            t.expect(LINUX_PROMPT.as_bytes(), ANSWER)?;
            let (sum, expr) = token();
            t.send(format!("echo xvm-{expr}\r").as_bytes())?;
            t.expect(format!("xvm-{sum}").as_bytes(), ANSWER)?;
            check(t.is_raw()?, "the terminal is not raw while attached")?;

            // xm exec'd the setuid xenconsole: the pid is the client's.
            let pid = t.pid();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            check(
                comm.trim_end() == "xenconsole",
                format!("pid {pid} is {comm:?}"),
            )?;
            let uid = status_field(pid, "Uid")?;
            check(runs_as(pid, IDS.alice)?, format!("xenconsole Uid: {uid}"))?;
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                check(
                    caps(pid, set)? == 0,
                    format!("xenconsole {set}: {:#x}", caps(pid, set)?),
                )?;
            }
            let consoled = s.xenconsoled.as_ref().map_or(0, |d| d.pid());
            check(
                runs_as(consoled, IDS.xvm)?,
                "xenconsoled does not run as xvm",
            )?;
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                let c = caps(consoled, set)?;
                check(c == 0, format!("xenconsoled {set}: {c:#x}"))?;
            }
            let nnp = status_field(consoled, "NoNewPrivs")?;
            check(nnp == "1", format!("xenconsoled NoNewPrivs: {nnp}"))?;

            // One client per domain: a second one names the first.
            let (err, err_path) = stderr_file(f, "second.err")?;
            let mut second =
                Terminal::spawn(&s.tree, &alice, &s.xenconsole(), &[GUEST], &[], Some(err))?;
            let code = second.wait_exit(Duration::from_secs(20))?;
            let text = std::fs::read_to_string(&err_path).map_err(Error::io("read", &err_path))?;
            check(
                code == 1
                    && text == format!("xenconsole: domain {GUEST}: console in use by pid {pid}\n"),
                format!("a second client: exit {code}, {text:?}"),
            )?;

            t.send(&[DETACH])?;
            let code = t.wait_exit(Duration::from_secs(10))?;
            check(code == 0, format!("xm console after Ctrl-]: exit {code}"))?;
            let (now, before) = t.modes()?;
            check(
                now == before,
                format!("terminal modes after: {now}, before: {before}"),
            )
        },
    );
}

#[test]
fn bob_gets_one_line_and_not_one_byte_of_the_guest() {
    with_fixture("bob_gets_one_line_and_not_one_byte_of_the_guest", |f| {
        let s = &f.guest.stack;
        // Output waits in the pty for whoever opens it next.
        f.guest.run("echo xvm-pending", ANSWER)?;
        let xm = bin("xm")?;
        for (prog, what) in [
            (xm.as_path(), "xm console"),
            (s.xenconsole().as_path(), "xenconsole"),
        ] {
            let args: &[&str] = if what == "xm console" {
                &["console", GUEST]
            } else {
                &[GUEST]
            };
            let (err, path) = stderr_file(f, "bob.err")?;
            let mut t = Terminal::spawn(&s.tree, &IDS.bob(), prog, args, &[], Some(err))?;
            refused(&mut t, &path, &format!("bob's {what}"))?;
        }
        Ok(())
    });
}

/// The control of the test below: the store `who` started in `dir` does
/// reach a client that honours the environment (xenconsole run without
/// set-id, `--session`) once its tty key names a pty of `who`'s own:
/// that client shows the bytes waiting there, so the set-id client's
/// not showing them is a result, not a lure that could never work.
fn lure_works(f: &Fixture, who: &User, dir: &Path) -> Result<(), Error> {
    let lure = privlib::os::tty::open_pty(who.uid, who.uid)
        .map_err(Error::io("open a pty", "/dev/ptmx"))?;
    let mut master = std::fs::File::from(lure.master);
    std::io::Write::write_all(&mut master, b"XVM-LURE\r\n")
        .map_err(Error::io("write", &lure.path))?;
    for k in ["console/tty", "serial/0/tty"] {
        let key = format!("/local/domain/{}/{k}", f.guest.domid);
        xvm_tests::console::write_as(who, dir, &key, &lure.path.display().to_string())?;
    }
    let sock = dir.join("socket").display().to_string();
    let plain = bin("xenconsole")?;
    let envs = [("XENSTORED_PATH", sock.as_str())];
    let s = &f.guest.stack;
    let mut t = Terminal::spawn(&s.tree, who, &plain, &["--session", GUEST], &envs, None)?;
    t.expect(b"XVM-LURE", Duration::from_secs(20))?;
    t.send(&[DETACH])?;
    let code = t.wait_exit(Duration::from_secs(10))?;
    check(
        code == 0,
        format!("the plain client after Ctrl-]: exit {code}"),
    )
}

#[test]
fn a_store_and_a_policy_named_in_the_environment_are_not_read_by_the_setuid_client() {
    with_fixture(
        "a_store_and_a_policy_named_in_the_environment_are_not_read_by_the_setuid_client",
        |f| {
            let s = &f.guest.stack;
            let base = s.tree.base();
            // A pty that passes every check of the client (xvm's, 0600), with
            // bytes waiting in it: shown only if the client believed the store.
            let fake = privlib::os::tty::open_pty(IDS.xvm, IDS.xvm)
                .map_err(Error::io("open a pty", "/dev/ptmx"))?;
            let mut master = std::fs::File::from(fake.master);
            std::io::Write::write_all(&mut master, b"XVM-FAKE-STORE\r\n")
                .map_err(Error::io("write", &fake.path))?;
            for (who, name) in [(IDS.alice(), "alice"), (IDS.bob(), "bob")] {
                let dir = base.join(format!("{name}-store"));
                // Killed when dropped, at the end of this user's turn.
                let _store = own_store(&who, &dir, f.guest.domid, GUEST, &fake.path)?;
                // A policy beside it granting the user everything (root's and
                // 0644, so only where it lies can make the client ignore it).
                let root = base.join(format!("{name}-root"));
                privlib::testing::write_policy(
                    &root,
                    &format!(
                        "[virt_manage]\nuids = [{}]\n[xvm_control]\nuids = [{}]\n",
                        who.uid, who.uid
                    ),
                )?;
                let sock = dir.join("socket").display().to_string();
                let (dir_s, root_s) = (dir.display().to_string(), root.display().to_string());
                let envs = [
                    ("XENSTORED_PATH", sock.as_str()),
                    ("XENSTORED_RUNDIR", dir_s.as_str()),
                    ("XVM_ROOT", root_s.as_str()),
                ];
                let (err, err_path) = stderr_file(f, &format!("{name}-own.err"))?;
                let stderr = (name == "bob").then_some(err);
                let mut t =
                    Terminal::spawn(&s.tree, &who, &s.xenconsole(), &[GUEST], &envs, stderr)?;
                if name == "bob" {
                    refused(&mut t, &err_path, "bob with his own store and policy")?;
                    continue;
                }
                // alice gets the real guest: it computes what she asks.
                let (sum, expr) = token();
                t.send(format!("\recho xvm-{expr}\r").as_bytes())?;
                t.expect(format!("xvm-{sum}").as_bytes(), ANSWER)?;
                t.send(&[DETACH])?;
                let code = t.wait_exit(Duration::from_secs(10))?;
                let shown = t.output();
                check(
                    code == 0 && find(&shown, b"XVM-FAKE").is_none(),
                    format!(
                        "alice with her own store: exit {code}, {:?}",
                        String::from_utf8_lossy(&shown)
                    ),
                )?;
                lure_works(f, &who, &dir)?;
            }
            Ok(())
        },
    );
}

#[test]
fn the_store_names_the_pty_owned_by_xvm_mode_0600() {
    with_fixture("the_store_names_the_pty_owned_by_xvm_mode_0600", |f| {
        let sock = f.guest.stack.store_socket();
        let read = |k: &str| -> Result<String, Error> {
            let o = xs(
                &sock,
                "xenstore-read",
                &[&format!("/local/domain/{}/{k}", f.guest.domid)],
            );
            check(o.status.success(), format!("xenstore-read {k}: {o:?}"))?;
            Ok(String::from_utf8_lossy(&o.stdout).trim_end().to_string())
        };
        let (console, serial) = (read("console/tty")?, read("serial/0/tty")?);
        check(
            console == serial && console.starts_with("/dev/pts/"),
            format!("console/tty {console:?}, serial/0/tty {serial:?}"),
        )?;
        let m = std::fs::symlink_metadata(&console).map_err(Error::io("stat", &console))?;
        check(
            m.file_type().is_char_device()
                && privlib::os::tty::is_pty_slave_dev(m.rdev())
                && m.uid() == IDS.xvm
                && m.mode() & 0o7777 == 0o600,
            format!(
                "{console}: uid {} mode {:o} rdev {:#x}",
                m.uid(),
                m.mode(),
                m.rdev()
            ),
        )?;
        check(read("console/type")? == "xenconsoled", "console/type")?;
        check(
            read("serial/0/tcp")? == f.guest.serial.to_string(),
            "serial/0/tcp",
        )
    });
}

#[test]
fn tcp_serial_on_loopback_serves_alice_and_refuses_bob_before_any_byte() {
    with_fixture(
        "tcp_serial_on_loopback_serves_alice_and_refuses_bob_before_any_byte",
        |f| {
            let addr = f.guest.serial;
            let (sum, expr) = token();
            let alice = IDS.alice();
            privlib::testing::as_user(alice.uid, &alice.groups, || {
                let want = format!("xvm-tcp-{sum}");
                let typed = format!("\recho xvm-tcp-{expr}\r");
                let (got, _) = tcp_console(addr, typed.as_bytes(), want.as_bytes(), ANSWER)?;
                if find(&got, want.as_bytes()).is_none()
                    || find(&got, LINUX_PROMPT.as_bytes()).is_none()
                {
                    return Err(ChildFailure(format!(
                        "alice read {:?}",
                        String::from_utf8_lossy(&got)
                    )));
                }
                Ok(())
            })?;
            let bob = IDS.bob();
            privlib::testing::as_user(bob.uid, &bob.groups, || {
                let (got, closed) =
                    tcp_console(addr, b"\recho xvm-bob\r", b"\0", Duration::from_secs(15))?;
                let text = String::from_utf8_lossy(&got);
                if !closed
                    || text.lines().count() != 1
                    || !text.starts_with("xenconsoled: refused")
                    || text.contains(LINUX_PROMPT)
                {
                    return Err(ChildFailure(format!(
                        "bob read {text:?} (closed: {closed})"
                    )));
                }
                Ok(())
            })?;
            Ok(())
        },
    );
}

#[test]
fn vnc_on_loopback_gives_alice_a_picture_of_the_console_text_and_bob_nothing() {
    let test = "vnc_on_loopback_gives_alice_a_picture_of_the_console_text_and_bob_nothing";
    with_fixture(test, |f| {
        let base = f.guest.stack.tree.base();
        let mut dirs = Vec::new();
        for who in [IDS.alice(), IDS.bob()] {
            let d = base.join(format!("vnc-{}", who.uid));
            std::fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
            std::os::unix::fs::chown(&d, Some(who.uid), Some(who.uid))
                .map_err(Error::io("chown", &d))?;
            dirs.push(d);
        }
        // The screen cleared, then full of text: the pictures must differ
        // as a text screen's JPEG does from a blank one's (it is larger:
        // the edges of the glyphs).
        f.guest
            .run("printf '\\033[2J\\033[H' > /dev/tty1", ANSWER)?;
        let blank = dirs[0].join("blank.jpg");
        let code = vnc_snapshot(&IDS.alice(), f.guest.vnc_display, &blank)?;
        check(
            code == 0,
            format!("alice's vncsnapshot of the blank screen: exit {code}"),
        )?;
        f.guest.run(
            "i=0; while [ $i -lt 22 ]; do echo xvm-screen-$i-the-quick-brown-fox-jumps-over-the-lazy-dog; i=$((i+1)); done > /dev/tty1",
            ANSWER,
        )?;
        let text = dirs[0].join("text.jpg");
        let code = vnc_snapshot(&IDS.alice(), f.guest.vnc_display, &text)?;
        check(code == 0, format!("alice's vncsnapshot: exit {code}"))?;
        let (b, t) = (jpeg_len(&blank)?, jpeg_len(&text)?);
        eprintln!("{test}: blank screen {b} bytes, text screen {t} bytes");
        check(
            t > 2 * b,
            format!("the text screen's JPEG ({t} bytes) vs the blank one's ({b})"),
        )?;
        let denied = dirs[1].join("bob.jpg");
        let code = vnc_snapshot(&IDS.bob(), f.guest.vnc_display, &denied)?;
        check(
            code != 0 && !denied.exists(),
            format!("bob's vncsnapshot: exit {code}, file {}", denied.exists()),
        )
    });
}

#[test]
fn the_guest_log_holds_the_boot_and_is_reopened_on_sighup() {
    with_fixture(
        "the_guest_log_holds_the_boot_and_is_reopened_on_sighup",
        |f| {
            check(
                f.boot_log.contains(LINUX_BANNER) && f.boot_log.contains("Linux version"),
                format!(
                    "the boot's log: {:?}",
                    &f.boot_log[..f.boot_log.len().min(2000)]
                ),
            )?;
            let log = f.guest.log_path();
            let moved = f.guest.stack.tree.base().join("moved-guest.log");
            std::fs::rename(&log, &moved).map_err(Error::io("move", &log))?;
            let pid = f.guest.stack.xenconsoled.as_ref().map_or(0, |d| d.pid());
            let st = Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status();
            check(st.is_ok_and(|s| s.success()), "kill -HUP xenconsoled")?;
            let (sum, expr) = token();
            // The reopen happens in the daemon's loop: give it the signal first.
            std::thread::sleep(Duration::from_millis(500));
            f.guest.run(&format!("echo xvm-hup-{expr}"), ANSWER)?;
            let want = format!("xvm-hup-{sum}");
            wait_until(
                Duration::from_secs(10),
                "the answer in the reopened log",
                || Ok(std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&want))),
            )?;
            let old = std::fs::read_to_string(&moved).map_err(Error::io("read", &moved))?;
            check(
                !old.contains(&want),
                "the moved log was written after SIGHUP",
            )
        },
    );
}

#[test]
fn a_guest_printing_without_pause_leaves_xenconsoled_bounded_and_the_logs_within_size() {
    let test = "a_guest_printing_without_pause_leaves_xenconsoled_bounded_and_the_logs_within_size";
    with_fixture(test, |f| {
        let pid = f.guest.stack.xenconsoled.as_ref().map_or(0, |d| d.pid());
        let before = rss_kib(pid)?;
        let (sum, expr) = token();
        // Typed on the console, then detached: nobody reads the pty.
        let mut t = f.guest.xm_console(&IDS.alice(), None)?;
        t.send(
            format!("yes xvm-flood | head -c {FLOOD} > /dev/ttyS0; echo xvm-flood-{expr}\r")
                .as_bytes(),
        )?;
        t.expect(b"xvm-flood-$((", ANSWER)?;
        t.send(&[DETACH])?;
        check(
            t.wait_exit(Duration::from_secs(10))? == 0,
            "xm console after Ctrl-]",
        )?;
        let want = format!("xvm-flood-{sum}");
        let log = f.guest.log_path();
        let mut peak = before;
        let started = Instant::now();
        wait_until(
            Duration::from_secs(300),
            "the flood's end in the log",
            || {
                peak = peak.max(rss_kib(pid)?);
                Ok(std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&want)))
            },
        )?;
        let secs = started.elapsed().as_secs_f64();
        let dir = f.guest.stack.console_log_dir();
        let mut total = 0;
        let mut names = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let e = e.map_err(Error::io("list", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("guest-{GUEST}.log")) {
                total += e.metadata().map_err(Error::io("stat", e.path()))?.len();
                names.push(name);
            }
        }
        names.sort();
        eprintln!(
            "{test}: {FLOOD} bytes in {secs:.1} s; xenconsoled VmRSS {before} -> peak {peak} KiB; logs {total} bytes in {names:?}"
        );
        check(
            total <= LOG_MAX * (LOG_BACKUPS + 1),
            format!("logs hold {total} bytes: {names:?}"),
        )?;
        check(
            names.contains(&format!("guest-{GUEST}.log.{LOG_BACKUPS}"))
                && !names.contains(&format!("guest-{GUEST}.log.{}", LOG_BACKUPS + 1)),
            format!("the rotated logs: {names:?}"),
        )?;
        // The console buffer is 1 MiB (console/limit): the daemon may grow
        // by that and its bookkeeping, never by what the guest printed.
        check(
            peak <= before + 3 * 1024,
            format!("VmRSS {before} -> {peak} KiB"),
        )?;
        check(
            pids_named("xenconsoled").contains(&pid),
            "xenconsoled ended",
        )
    });
}
