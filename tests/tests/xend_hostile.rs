//! Hostile local users against xend's 0666 socket (system mode, hermetic,
//! root only): 2,000 held connections and a connect flood of a user
//! without privilege, and a virt_manage client stalled with half a
//! request line while an `xm create` and an `xm destroy` are in flight:
//! `xm list` is served at once all the while.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use privlib::testing::{Attack, Hostile};
use xvm_tests::hermetic::User;
use xvm_tests::{Accounts, Error, Stack, check, require_program, require_root, wait_until};

/// Two stacks, run side by side: ids of their own.
const HOLD: Accounts = Accounts::from_base(48_700);
const STALL: Accounts = Accounts::from_base(48_750);

/// What "served at once" means here: well above a loaded machine's
/// scheduling noise, far below the seconds one stalled peer used to cost.
const PROMPT: Duration = Duration::from_secs(1);

fn stack(name: &str, ids: Accounts) -> Result<Stack, Error> {
    Stack::start(
        name,
        ids,
        &xend::testguest::image(),
        &["--shutdown-timeout", "2"],
    )
}

/// `xm list` as `who`, answered within [`PROMPT`].
fn list_promptly(s: &Stack, who: &User, what: &str) -> Result<xvm_tests::Xm, Error> {
    let t = Instant::now();
    let r = s.xm(who, &["list"])?;
    let took = t.elapsed();
    check(r.code == 0, format!("{what}: xm list: {}", r.err))?;
    check(
        took < PROMPT,
        format!("{what}: xm list answered after {took:?}"),
    )?;
    Ok(r)
}

fn alice_and_root_served(s: &Stack) -> Result<(), Error> {
    list_promptly(s, &User::root(), "root")?;
    list_promptly(s, &s.accounts().alice(), "alice")?;
    Ok(())
}

fn verdict(r: Result<(), Error>) {
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn held_connections_and_floods_of_a_user_without_privilege_lock_nobody_out() {
    let test = "held_connections_and_floods_of_a_user_without_privilege_lock_nobody_out";
    if !require_root(test) {
        return;
    }
    verdict((|| {
        let s = stack("xend-hostile-hold", HOLD)?;
        let sock = s.root().join("run/xend/xmlrpc.sock");
        let bob = HOLD.bob;
        let held = Hostile::start(bob, &sock, Attack::Hold(2000, b""))?;
        check(held.opened == 2000, format!("bob opened {}", held.opened))?;
        alice_and_root_served(&s)?;
        let half = Hostile::start(bob, &sock, Attack::Hold(2000, b"{\"jsonrpc\":"))?;
        alice_and_root_served(&s)?;
        let flood = Hostile::start(bob, &sock, Attack::Flood(b"{}\n"))?;
        for _ in 0..3 {
            alice_and_root_served(&s)?;
        }
        // A user without privilege (other than the attacker) gets the one
        // clear refusal naming what is missing.
        let r = s.xm(&HOLD.nobody(), &["list"])?;
        check(
            r.code == 1
                && r.err
                    .contains("permission denied: xvm_control or virt_manage required"),
            format!("carol: {} {}", r.code, r.err),
        )?;
        flood.stop()?;
        half.stop()?;
        held.stop()?;
        alice_and_root_served(&s)?;
        check(s.xend.alive(), "xend died under the attack")
    })());
}

#[test]
fn a_stalled_client_and_long_operations_do_not_delay_list() {
    let test = "a_stalled_client_and_long_operations_do_not_delay_list";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    verdict((|| {
        let s = stack("xend-hostile-stall", STALL)?;
        let sock = s.root().join("run/xend/xmlrpc.sock");
        let alice = STALL.alice();
        let root = User::root();
        // Alice's client sends half a request line and stops.
        let stalled = {
            let (sock, alice) = (sock.clone(), alice.clone());
            std::thread::spawn(move || {
                privlib::testing::as_user(alice.uid, &alice.groups, move || {
                    let mut s = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
                    s.write_all(b"{\"jsonrpc\": \"2.0\", \"method\": \"domain.li")
                        .map_err(|e| e.to_string())?;
                    // xend gives up on the line after its read timeout,
                    // answers why, and closes: that holds only this thread.
                    s.set_read_timeout(Some(Duration::from_secs(30)))
                        .map_err(|e| e.to_string())?;
                    let mut answer = String::new();
                    let _ = s.read_to_string(&mut answer);
                    check(
                        answer.contains("not complete within"),
                        format!("the stalled client's answer: {answer:?}"),
                    )?;
                    Ok(())
                })
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        list_promptly(&s, &alice, "alice, one of her clients stalled")?;

        // An `xm create` in flight, and `xm list` meanwhile.
        let create = {
            let (r, cfg, alice) = (s.root().to_path_buf(), s.test_cfg(), alice.clone());
            std::thread::spawn(move || xvm_tests::stack::xm(&r, &alice, &["create", &cfg]))
        };
        let mut lists = 0;
        while !create.is_finished() {
            list_promptly(&s, &root, "root, while a create runs")?;
            lists += 1;
        }
        create
            .join()
            .map_err(|_| Error::Check("create thread panicked".into()))??
            .ok("xm create")?;
        check(lists > 0, "no list ran while the create was in flight")?;
        let r = list_promptly(&s, &root, "root")?;
        check(r.lists("testguest", "1"), format!("xm list:\n{}", r.out))?;

        // A shutdown the test guest ignores: xend waits 2 s, then destroys;
        // a destroy meanwhile; list answers throughout.
        s.xm(&alice, &["shutdown", "testguest"])?
            .ok("xm shutdown")?;
        let destroy = {
            let (r, alice) = (s.root().to_path_buf(), alice.clone());
            std::thread::spawn(move || xvm_tests::stack::xm(&r, &alice, &["destroy", "testguest"]))
        };
        while !destroy.is_finished() {
            list_promptly(&s, &root, "root, while a destroy runs")?;
        }
        let _ = destroy.join();
        wait_until(Duration::from_secs(15), "the domain to end", || {
            Ok(!list_promptly(&s, &root, "root")?.lists("testguest", "1"))
        })?;
        stalled
            .join()
            .map_err(|_| Error::Check("stalled client panicked".into()))??;
        Ok(())
    })());
}
