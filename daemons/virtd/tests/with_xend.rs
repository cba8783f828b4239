//! virtd beside a real xend and xenstored (root, hermetic), driven by
//! Debian's virsh, with a domain defined through xm (so no domain XML is
//! read): alice (virt_manage by group) lists it shut off, starts it,
//! sees it running with its id, destroys it; through `virsh -r` and the
//! `-ro` socket she lists and is refused `start` as read-only; bob is
//! refused naming virt_manage and changes nothing.

use xvm_tests::virsh::{listed, socket, socket_ro, start_virtd, uri, virsh};
use xvm_tests::{Accounts, Error, Stack, Xm, check, require_program, require_root};

const NAME: &str = "testguest";

fn ran(r: &Xm, what: &str, log: &str) -> Result<(), Error> {
    check(
        r.code == 0,
        format!("virsh {what}: exit {}\n{}{}\n{log}", r.code, r.out, r.err),
    )
}

fn with_xend() -> Result<(), Error> {
    let s = Stack::start(
        "virtd-xend",
        Accounts::from_base(47_800),
        &xend::testguest::image(),
        &[],
    )?;
    // The test guest's config as xm's users write it, with no uuid: xend
    // stores one with it, so the domain virsh starts is the one it listed.
    let text = std::fs::read_to_string(s.test_cfg()).map_err(Error::io("read", s.test_cfg()))?;
    check(
        !text.contains("uuid"),
        format!("the test config has a uuid: {text}"),
    )?;
    s.alice(&["new", &s.test_cfg()])?.ok("xm new")?;
    let virtd = start_virtd(&s, "virtd.log", &[])?;
    let log = || format!("{}\n{}", virtd.log_text(), s.xend_log());
    let (alice, bob) = (s.accounts().alice(), s.accounts().bob());
    let rw = uri(&socket(s.root()));
    let ro = uri(&socket_ro(s.root()));

    let l = virsh(&s, &alice, &rw, &["list", "--all"])?;
    ran(&l, "list --all", &log())?;
    check(
        listed(&l.out, NAME).is_some_and(|(id, st)| id == "-" && st == "shut off"),
        format!("list --all: {:?}", l.out),
    )?;

    // Read-only, by flag and by socket: the list, never a start.
    for (u, extra) in [(&rw, true), (&ro, false)] {
        let mut args = Vec::new();
        if extra {
            args.push("-r");
        }
        let mut list = args.clone();
        list.extend(["list", "--all"]);
        let l = virsh(&s, &alice, u, &list)?;
        ran(&l, "-r list --all", &log())?;
        check(
            listed(&l.out, NAME).is_some(),
            format!("read-only list: {:?}", l.out),
        )?;
        let mut start = args.clone();
        start.extend(["start", NAME]);
        let r = virsh(&s, &alice, u, &start)?;
        check(
            r.code != 0 && r.err.contains("read only"),
            format!("read-only start: {}{}\n{}", r.out, r.err, log()),
        )?;
    }

    // bob: refused, naming the privilege; nothing started.
    let r = virsh(&s, &bob, &rw, &["start", NAME])?;
    check(
        r.code != 0 && r.err.contains("virt_manage"),
        format!("bob's start: {}{}", r.out, r.err),
    )?;

    let u = virsh(&s, &alice, &rw, &["domuuid", NAME])?;
    ran(&u, "domuuid", &log())?;
    let uuid = u.out.trim().to_string();
    check(uuid.len() == 36, format!("domuuid: {:?}", u.out))?;
    let r = virsh(&s, &alice, &rw, &["start", NAME])?;
    ran(&r, "start", &log())?;
    let u = virsh(&s, &alice, &rw, &["domuuid", NAME])?;
    check(
        u.out.trim() == uuid,
        format!("uuid {uuid} before start, {:?} after", u.out),
    )?;
    let l = virsh(&s, &alice, &rw, &["list"])?;
    ran(&l, "list", &log())?;
    let id = listed(&l.out, NAME)
        .filter(|(_, st)| st == "running")
        .map(|(id, _)| id)
        .ok_or_else(|| Error::Check(format!("not running after start: {:?}", l.out)))?;
    let d = virsh(&s, &alice, &rw, &["domid", NAME])?;
    check(d.out.trim() == id, format!("domid {:?}, list {id}", d.out))?;
    let i = virsh(&s, &alice, &rw, &["dominfo", NAME])?;
    ran(&i, "dominfo", &log())?;
    check(
        i.out.contains("running") && i.out.contains("xvm-uid"),
        format!("dominfo: {}", i.out),
    )?;
    let r = virsh(&s, &bob, &rw, &["destroy", NAME])?;
    check(r.code != 0, format!("bob destroyed it: {}", r.out))?;

    let r = virsh(&s, &alice, &rw, &["destroy", NAME])?;
    ran(&r, "destroy", &log())?;
    let l = virsh(&s, &alice, &rw, &["list", "--all"])?;
    check(
        listed(&l.out, NAME).is_some_and(|(_, st)| st == "shut off"),
        format!("after destroy: {:?}", l.out),
    )
}

#[test]
fn virsh_lists_starts_and_destroys_an_xm_defined_domain_through_virtd() {
    let test = "virsh_lists_starts_and_destroys_an_xm_defined_domain_through_virtd";
    if !require_root(test) || !require_program(test, "virsh", "libvirt-clients") {
        return;
    }
    let _g = xvm_tests::serial();
    if let Err(e) = with_xend() {
        panic!("{e}");
    }
}
