//! Hostile local users against xenstored's two 0666 sockets (system mode,
//! hermetic, root only): thousands of held connections, a flood, a
//! privileged client stalled mid-frame, oversized and truncated frames,
//! one user past its connection limit. The privileged clients are root
//! (xvm_control by `uids = [0]`) and alice (virt_manage by group), and
//! Debian's `xenstore-read` where it is installed.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use xvm_tests::check;

use privlib::testing::{Attack, Hostile, as_user, fake_users, in_private_tmpfs, write_policy};
use xenstored::client::Client;
use xvm_tests::stack::Xenstored;
use xvm_tests::stack::xs;
use xvm_tests::{require_program, require_root};

const XVM: u32 = 48_520;
const ALICE: u32 = 48_121; // virt_manage by group
const BOB: u32 = 48_122; // nothing: the attacker
const CAROL: u32 = 48_123; // nothing either, and attacks nobody
const VIRT: u32 = 48_220;

/// What "served at once" means here: well above a loaded machine's
/// scheduling noise, far below the seconds the old accept path took.
const PROMPT: Duration = Duration::from_secs(1);

fn daemon(root: &Path, extra: &[&str]) -> Result<Xenstored, String> {
    fake_users(
        root,
        &[
            ("xvm", XVM),
            ("alice", ALICE),
            ("bob", BOB),
            ("carol", CAROL),
        ],
        &[("virt", VIRT, &["alice"])],
    )?;
    write_policy(
        root,
        "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\ngroups = [\"virt\"]\n",
    )?;
    Ok(Xenstored::start(
        &root.join("run/xenstored"),
        extra,
        &[("XVM_ROOT", root)],
    )?)
}

/// One whole round trip (connect, write or read, answer) on `sock`,
/// within [`PROMPT`]; `write` false: a read (for socket_ro).
fn served_promptly(sock: &Path, who: &str, write: bool) -> Result<(), String> {
    let t = Instant::now();
    let mut c = Client::connect(sock).map_err(|e| format!("{who}: connect: {e}"))?;
    if write {
        c.write(0, "/hostile/probe", b"here")
            .map_err(|e| format!("{who}: write: {e}"))?;
    }
    let v = c
        .read(0, "/hostile/probe")
        .map_err(|e| format!("{who}: read: {e}"))?;
    check(v == b"here", format!("{who}: read {v:?}"))?;
    let took = t.elapsed();
    Ok(check(
        took < PROMPT,
        format!("{who}: served after {took:?}, not within {PROMPT:?}"),
    )?)
}

/// Root, alice and (where installed) Debian's xenstore-read, each served
/// at once on both sockets.
fn everyone_served(d: &Xenstored) -> Result<(), String> {
    served_promptly(&d.socket(), "root", true)?;
    served_promptly(&d.socket_ro(), "root on socket_ro", false)?;
    let (rw, ro) = (d.socket(), d.socket_ro());
    as_user(ALICE, &[VIRT], || {
        served_promptly(&rw, "alice", true)?;
        Ok(served_promptly(&ro, "alice on socket_ro", false)?)
    })?;
    if which("xenstore-read") {
        let t = Instant::now();
        let o = xs(&d.socket(), "xenstore-read", &["/hostile/probe"]);
        let out = String::from_utf8_lossy(&o.stdout);
        check(
            o.status.success() && out.trim() == "here" && t.elapsed() < PROMPT,
            format!(
                "xenstore-read: {out} {:?} after {:?}",
                o.status,
                t.elapsed()
            ),
        )?;
    }
    Ok(())
}

fn which(p: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
}

/// Another user without privilege still gets the refusal's EACCES, not
/// a hang. (The attacker's own connections past the refusals one uid may
/// have waiting are answered and closed at once: a client that writes
/// first may see only the close.)
fn carol_refused(sock: &Path) -> Result<(), String> {
    let sock = sock.to_path_buf();
    as_user(CAROL, &[], move || match Client::connect(&sock) {
        Err(e) => Ok(check(
            e.to_string()
                .contains("permission denied: xvm_control or virt_manage required"),
            format!("carol: {e}"),
        )?),
        Ok(_) => Err("carol was served".into()),
    })
    .map_err(String::from)
}

#[test]
fn two_thousand_idle_connections_of_a_user_without_privilege_lock_nobody_out() {
    let test = "two_thousand_idle_connections_of_a_user_without_privilege_lock_nobody_out";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-hold", |root| {
        let d = daemon(root, &[])?;
        // 2,000 on each socket, held open, sending nothing.
        let held = Hostile::start(BOB, &d.socket(), Attack::Hold(2000, b""))?;
        let held_ro = Hostile::start(BOB, &d.socket_ro(), Attack::Hold(2000, b""))?;
        check(
            held.opened == 2000 && held_ro.opened == 2000,
            format!("bob opened {} and {}", held.opened, held_ro.opened),
        )?;
        // Served while the attacker still holds everything.
        everyone_served(&d)?;
        carol_refused(&d.socket())?;
        // Half a request on each of 2,000 more: the same.
        let half = Hostile::start(BOB, &d.socket(), Attack::Hold(2000, &[1, 0, 0, 0, 7]))?;
        everyone_served(&d)?;
        drop(half);
        held.stop()?;
        held_ro.stop()?;
        everyone_served(&d)?;
        Ok(check(
            d.alive(),
            format!("xenstored died: {}", d.log_text()),
        )?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn a_flood_of_connections_delays_no_privileged_client() {
    let test = "a_flood_of_connections_delays_no_privileged_client";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-flood", |root| {
        let d = daemon(root, &[])?;
        let floods = [
            Hostile::start(BOB, &d.socket(), Attack::Flood(b""))?,
            Hostile::start(BOB, &d.socket_ro(), Attack::Flood(&[0; 16]))?,
        ];
        for _ in 0..5 {
            everyone_served(&d)?;
        }
        for f in floods {
            f.stop()?;
        }
        Ok(check(d.alive(), "xenstored died")?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn a_privileged_client_stalled_mid_frame_delays_nobody_and_one_user_is_bounded() {
    let test = "a_privileged_client_stalled_mid_frame_delays_nobody_and_one_user_is_bounded";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-stall", |root| {
        let d = daemon(root, &["--max-conns-per-uid", "8"])?;
        let sock = d.socket();
        // Alice (virt_manage) sends half a header and stops.
        // Held until a byte comes on `hold` (a channel would not do: the
        // client runs in a forked child, which also has `hold` open).
        let (mut hold, mut held_by_child) = UnixStream::pair().map_err(|e| e.to_string())?;
        let stalled = {
            let sock = sock.clone();
            std::thread::spawn(move || {
                as_user(ALICE, &[VIRT], move || {
                    let mut s = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
                    s.write_all(&[2, 0, 0, 0, 9, 0])
                        .map_err(|e| e.to_string())?;
                    let mut b = [0u8; 1];
                    let _ = held_by_child.read(&mut b);
                    Ok(())
                })
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        everyone_served(&d)?;
        // One user is bounded: alice's ninth connection is refused, and
        // the refusal says so; root still gets in.
        let s2 = sock.clone();
        as_user(ALICE, &[VIRT], move || {
            let mut held = Vec::new();
            for _ in 0..7 {
                held.push(Client::connect(&s2).map_err(|e| format!("alice: {e}"))?);
            }
            match Client::connect(&s2) {
                Err(e) => Ok(check(
                    e.to_string().contains("permission denied"),
                    format!("9th: {e}"),
                )?),
                Ok(_) => Err("alice's ninth connection was served".into()),
            }
        })?;
        served_promptly(&sock, "root past alice's bound", true)?;
        hold.write_all(&[1]).map_err(|e| e.to_string())?;
        stalled
            .join()
            .map_err(|_| "stalled client panicked".to_string())??;
        Ok(check(d.alive(), "xenstored died")?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn oversized_and_truncated_frames_end_only_their_own_connection() {
    let test = "oversized_and_truncated_frames_end_only_their_own_connection";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-frames", |root| {
        let d = daemon(root, &[])?;
        let sock = d.socket();
        as_user(ALICE, &[VIRT], || {
            // A header announcing 1 GiB: the connection is dropped.
            let mut s = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
            let mut h = Vec::new();
            for v in [2u32, 1, 0, 1 << 30] {
                h.extend_from_slice(&v.to_le_bytes());
            }
            s.write_all(&h).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            check(b.is_empty(), format!("answered an oversized frame: {b:?}"))?;
            // A frame cut short, then the peer goes.
            let mut s = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
            let mut h = Vec::new();
            for v in [2u32, 2, 0, 100] {
                h.extend_from_slice(&v.to_le_bytes());
            }
            s.write_all(&h).map_err(|e| e.to_string())?;
            s.write_all(b"/short").map_err(|e| e.to_string())?;
            drop(s);
            Ok(())
        })?;
        everyone_served(&d)?;
        Ok(check(d.alive(), "xenstored died")?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn debian_xenstore_utils_are_served_during_an_attack() {
    let test = "debian_xenstore_utils_are_served_during_an_attack";
    if !require_root(test) || !require_program(test, "xenstore-read", "xenstore-utils") {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-utils", |root| {
        let d = daemon(root, &[])?;
        let held = Hostile::start(BOB, &d.socket(), Attack::Hold(2000, b""))?;
        let o = xs(&d.socket(), "xenstore-write", &["/hostile/probe", "here"]);
        check(o.status.success(), format!("xenstore-write: {o:?}"))?;
        everyone_served(&d)?;
        Ok(held.stop().map_err(String::from)?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

fn vm_rss_kib(pid: i32) -> Result<u64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no VmRSS".to_string())
}

#[test]
fn clients_that_do_not_read_their_replies_pin_no_more_than_the_bound() {
    let test = "clients_that_do_not_read_their_replies_pin_no_more_than_the_bound";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-unread", |root| {
        let d = daemon(root, &[])?;
        // A directory whose listing is about 4 KiB.
        let mut c = Client::connect(&d.socket()).map_err(|e| e.to_string())?;
        for i in 0..115 {
            c.write(0, &format!("/big/child-with-a-long-name-{i:04}"), b"")
                .map_err(|e| e.to_string())?;
        }
        let before = vm_rss_kib(d.pid())?;
        // 32 of alice's connections each send 16 KiB of DIRECTORY /big
        // requests in one go (about 3 MB of replies each) and never read.
        let mut req = Vec::new();
        for v in [1u32, 0, 0, 5] {
            req.extend_from_slice(&v.to_le_bytes());
        }
        req.extend_from_slice(b"/big\0");
        let burst: Vec<u8> = req.iter().copied().cycle().take(req.len() * 780).collect();
        let (mut hold, mut held_by_child) = UnixStream::pair().map_err(|e| e.to_string())?;
        let sock = d.socket();
        let (mut ready, mut ready_child) = UnixStream::pair().map_err(|e| e.to_string())?;
        let unread = std::thread::spawn(move || {
            as_user(ALICE, &[VIRT], move || {
                let mut conns = Vec::new();
                for _ in 0..32 {
                    let mut s = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
                    s.set_write_timeout(Some(Duration::from_secs(5)))
                        .map_err(|e| e.to_string())?;
                    let _ = s.write_all(&burst);
                    conns.push(s);
                }
                ready_child.write_all(&[1]).map_err(|e| e.to_string())?;
                let mut b = [0u8; 1];
                let _ = held_by_child.read(&mut b);
                Ok(())
            })
        });
        let mut b = [0u8; 1];
        ready
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        ready
            .read_exact(&mut b)
            .map_err(|e| format!("alice's clients: {e}"))?;
        std::thread::sleep(Duration::from_millis(500));
        let after = vm_rss_kib(d.pid())?;
        // Everyone else is still served at once.
        everyone_served(&d)?;
        hold.write_all(&[1]).map_err(|e| e.to_string())?;
        unread
            .join()
            .map_err(|_| "alice's thread panicked".to_string())??;
        // At most 1 MiB of replies waiting per connection (plus one reply
        // over it): 32 MiB, where unbounded replies took over 70 MiB.
        Ok(check(
            after.saturating_sub(before) < 40 * 1024,
            format!("xenstored grew from {before} KiB to {after} KiB"),
        )?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn a_device_model_range_inside_a_users_subordinate_ids_is_refused() {
    let test = "a_device_model_range_inside_a_users_subordinate_ids_is_refused";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("xs-hostile-subuid", |root| {
        // Bob may map 49,000-49,999 into a namespace of his own: with the
        // store's device models at 49,000 + N he could act as any domain.
        let ours = root.join("subuid");
        std::fs::write(&ours, "bob:49000:1000\n").map_err(|e| e.to_string())?;
        privlib::sys::ns::bind_mount(&ours, Path::new("/etc/subuid"))
            .map_err(|e| format!("bind /etc/subuid: {e}"))?;
        let e = match daemon(root, &["--dm-uid-base", "49000"]) {
            Ok(_) => return Err("xenstored started with bob's ids as device models".into()),
            Err(e) => e,
        };
        check(
            e.contains("overlaps /etc/subuid:1 (bob's 49000-49999)"),
            format!("xenstored's refusal: {e}"),
        )?;
        // Outside bob's range it starts.
        let d = daemon(root, &["--dm-uid-base", "60000"])?;
        Ok(served_promptly(&d.socket(), "root", true)?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
