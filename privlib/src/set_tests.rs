//! Privilege set expressions and set operations.

use super::*;
use crate::caps::num;

fn p(s: &str) -> PrivSet {
    PrivSet::parse(s, 40).expect(s)
}

#[test]
fn expressions_read_left_to_right() {
    let s = p("basic,!proc_info,file_chown");
    assert!(s.has(names::lookup("file_chown").expect("known")));
    assert!(!s.has(names::lookup("proc_info").expect("known")));
    assert!(s.has(names::lookup("proc_fork").expect("known")));
    assert_eq!(p("all,!all"), PrivSet::none());
    assert_eq!(p("none"), PrivSet::none());
    assert_eq!(p("PRIV_FILE_CHOWN,Priv_Net_PrivAddr").iter().count(), 2);
    assert_eq!(p("-proc_fork,basic").iter().count(), 9);
}

#[test]
fn unknown_words_are_named() {
    assert_eq!(
        PrivSet::parse("basic,file_chwon", 40),
        Err(SetError::Unknown("file_chwon".into()))
    );
    assert!(PrivSet::parse("basic,,file_chown", 40).is_err());
    assert!(PrivSet::parse("", 40).is_err());
}

#[test]
fn all_covers_newer_capabilities_and_narrower_sets_do_not() {
    let all = PrivSet::parse("all", 45).expect("all");
    assert_eq!(all.caps(45), CapMask::upto(45));
    let narrower = PrivSet::parse("all,!file_chown", 45).expect("narrower");
    assert!(
        !narrower.caps(45).has(41),
        "a new capability must not survive narrowing"
    );
    assert!(!narrower.caps(45).has(num::CHOWN));
    assert!(narrower.caps(45).has(num::SETUID));
    // An older kernel: caps beyond last_cap are never asked for.
    assert_eq!(all.caps(37), CapMask::upto(37));
}

#[test]
fn caps_round_trip_through_privileges() {
    let s = p("file_chown,proc_setid");
    let caps = s.caps(40);
    assert_eq!(
        caps,
        CapMask::of(&[num::CHOWN, num::SETUID, num::SETGID, num::SETPCAP])
    );
    assert_eq!(PrivSet::from_caps(caps), s);
    // A partial backing (cap_setuid alone) is no proc_setid.
    assert!(PrivSet::from_caps(CapMask::of(&[num::SETUID])).is_empty());
}

#[test]
fn a_privilege_sharing_its_capability_is_held_anyway() {
    let read = names::lookup("file_dac_read").expect("known");
    let search = names::lookup("file_dac_search").expect("known");
    let s = p("all,!file_dac_read");
    let held = s.held_anyway(40);
    assert_eq!(
        held,
        [HeldAnyway {
            privilege: read,
            caps: CapMask::of(&[num::DAC_READ_SEARCH]),
            by: vec![search],
        }]
    );
    assert_eq!(
        held[0].to_string(),
        "file_dac_read cannot be left out while file_dac_search stays: on Linux both are cap_dac_read_search, which a set holds for all of them or for none (take out file_dac_read,file_dac_search together, or neither)"
    );
    assert!(
        p("all,!file_dac_read,!file_dac_search")
            .held_anyway(40)
            .is_empty()
    );
    assert!(p("all,!file_chown").held_anyway(40).is_empty());
    assert!(p("basic").held_anyway(40).is_empty());
    assert_eq!(p("basic,file_dac_search").held_anyway(40).len(), 1);
    // Another pair: the four privileges backed by CAP_NET_ADMIN.
    let net = p("all,!sys_ip_config").held_anyway(40);
    assert_eq!(net.len(), 1, "{net:?}");
    assert!(net[0].by.len() >= 2, "{net:?}");
}

#[test]
fn short_and_literal_forms() {
    assert_eq!(p("all").to_string(), "all");
    assert_eq!(p("none").to_string(), "none");
    assert_eq!(p("basic").to_string(), "basic");
    assert_eq!(
        p("basic,!proc_info,net_rawaccess").to_string(),
        "basic,!proc_info,net_rawaccess"
    );
    assert_eq!(p("all,!sys_admin").to_string(), "all,!sys_admin");
    assert_eq!(p("file_chown").to_string(), "file_chown");
    assert_eq!(
        p("file_chown,file_read").to_literal(),
        "file_chown,file_read"
    );
    assert_eq!(p("none").to_literal(), "none");
}

#[test]
fn specs_follow_ppriv() {
    let mut sets = PrivSets {
        effective: p("all"),
        inheritable: p("basic"),
        permitted: p("all"),
        limit: p("all"),
    };
    SetSpec::parse("L=basic,file_chown", 40)
        .expect("spec")
        .apply(&mut sets);
    assert_eq!(sets.limit, p("basic,file_chown"));
    assert_eq!(sets.effective, p("all"));
    SetSpec::parse("a-proc_fork", 40)
        .expect("spec")
        .apply(&mut sets);
    assert!(
        !sets
            .effective
            .has(names::lookup("proc_fork").expect("known"))
    );
    assert!(!sets.limit.has(names::lookup("proc_fork").expect("known")));
    SetSpec::parse("EI+net_privaddr", 40)
        .expect("spec")
        .apply(&mut sets);
    assert!(
        sets.inheritable
            .has(names::lookup("net_privaddr").expect("known"))
    );
    assert!(SetSpec::parse("X=basic", 40).is_err());
    assert!(SetSpec::parse("Ebasic", 40).is_err());
    assert_eq!(
        SetSpec::parse("E=basic,bogus", 40),
        Err(SetError::Unknown("bogus".into()))
    );
}
