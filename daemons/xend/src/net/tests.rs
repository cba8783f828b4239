//! What `plan` refuses and chooses (no root: asking whether an interface
//! is a bridge needs no privilege, and nothing is made).

use std::path::Path;

use super::*;
use crate::config::NicModel;
use crate::domain::test_settings;
use crate::features::Features;

fn vif(bridge: Option<&str>, mac: Option<[u8; 6]>) -> Vif {
    Vif {
        bridge: bridge.map(str::to_string),
        mac: mac.map(Mac),
        model: NicModel::E1000,
    }
}

fn system() -> Settings {
    let mut s = test_settings(Path::new("/nonexistent"));
    s.system = true;
    s.dm_range = true;
    s
}

#[test]
fn no_vif_is_no_card() {
    assert!(plan(&system(), &[]).expect("none").is_empty());
}

#[test]
fn chosen_macs_are_xens_unicast_and_distinct_from_every_other_card() {
    let s = test_settings(Path::new("/nonexistent"));
    let given = [0x00, 0x16, 0x3e, 0x01, 0x02, 0x03];
    let mut vifs = vec![vif(None, Some(given))];
    vifs.extend((0..7).map(|_| vif(None, None)));
    let p = plan(&s, &vifs).expect("session mode: passt, no bridge asked");
    assert_eq!(p[0].mac, Mac(given));
    for (i, n) in p.iter().enumerate() {
        assert_eq!(n.index, i);
        assert_eq!(n.kind, BackendKind::Passt);
        assert_eq!(n.mac.0[..3], XEN_OUI);
        assert!(n.mac.0[3] < 0x80, "{}", n.mac);
        assert!(p[..i].iter().all(|o| o.mac != n.mac), "{} twice", n.mac);
    }
    assert_eq!(
        p[1].device_arg(),
        format!("e1000,netdev=net1,mac={},id=nic1", p[1].mac)
    );
    assert_eq!(
        mac_from([0xff, 0xab, 0xcd]).to_string(),
        "00:16:3e:7f:ab:cd"
    );
}

#[test]
fn a_multicast_a_shared_mac_and_a_ninth_card_are_refused() {
    let s = test_settings(Path::new("/nonexistent"));
    let m = [0x01, 0x16, 0x3e, 0x01, 0x02, 0x03];
    let e = plan(&s, &[vif(None, Some(m))]).expect_err("multicast");
    assert!(
        e.to_string()
            .contains("vif 0: mac=01:16:3e:01:02:03 is a multicast"),
        "{e}"
    );
    let m = [0x00, 0x16, 0x3e, 0x01, 0x02, 0x03];
    let e = plan(
        &s,
        &[vif(None, None), vif(None, Some(m)), vif(None, Some(m))],
    )
    .expect_err("shared");
    assert!(
        e.to_string()
            .contains("vif 2: mac=00:16:3e:01:02:03 is vif 1's too"),
        "{e}"
    );
    let e = plan(&s, &vec![vif(None, None); MAX_NICS + 1]).expect_err("too many");
    assert!(matches!(e, NetError::TooMany { count: 9 }), "{e}");
}

#[test]
fn in_system_mode_a_missing_bridge_or_one_that_is_none_is_named() {
    let e = plan(&system(), &[vif(Some("xvm-nobr9"), None)]).expect_err("missing");
    assert_eq!(
        e.to_string(),
        "vif 0: bridge xvm-nobr9 does not exist (create it, e.g. `ip link add xvm-nobr9 type bridge`, or name another with bridge=)"
    );
    // Every network namespace has lo, and it is no bridge.
    let e = plan(&system(), &[vif(Some("lo"), None)]).expect_err("not a bridge");
    assert!(
        matches!(&e, NetError::NotBridge { bridge, .. } if bridge == "lo"),
        "{e}"
    );
    assert!(
        e.to_string().starts_with("vif 0: lo is not a bridge"),
        "{e}"
    );
    let e = plan(&system(), &[vif(Some("a/b"), None)]).expect_err("no name");
    assert!(matches!(e, NetError::BridgeName { .. }), "{e}");
}

#[test]
fn the_default_bridge_is_xenbr0() {
    // Where the host has no xenbr0 the refusal names it; where it has
    // one, the plan does.
    match plan(&system(), &[vif(None, None)]) {
        Ok(p) => assert_eq!(
            p[0].kind,
            BackendKind::Tap {
                bridge: DEFAULT_BRIDGE.into()
            }
        ),
        Err(e) => assert!(e.to_string().contains("xenbr0"), "{e}"),
    }
}

#[test]
fn networking_off_refuses_a_vif_in_system_mode_only() {
    let mut s = system();
    s.features = Features::only(&[]);
    let e = plan(&s, &[vif(Some("lo"), None)]).expect_err("off");
    assert!(matches!(e, NetError::Disabled(_)), "{e}");
    assert!(e.to_string().contains("networking"), "{e}");
    let mut s = test_settings(Path::new("/nonexistent"));
    s.features = Features::only(&[]);
    assert_eq!(
        plan(&s, &[vif(None, None)]).expect("session")[0].kind,
        BackendKind::Passt
    );
}

#[test]
fn ifnames_are_xens() {
    assert_eq!(ifname(1, 0), "vif1.0");
    assert_eq!(ifname(4_294_967_295, 7), "vif4294967295.7");
    assert!(privlib::os::net::valid_name(&ifname(
        u32::MAX,
        MAX_NICS - 1
    )));
}

#[test]
fn backends_on_qemus_command_line_and_in_netdev_add() {
    assert_eq!(netdev_arg(false, "net0", "71"), "tap,id=net0,fd=71");
    assert_eq!(
        netdev_arg(true, "net1", "72"),
        "stream,id=net1,server=off,addr.type=fd,addr.str=72"
    );
    assert_eq!(
        backend::netdev_add(false, "net2", "fd-net2"),
        serde_json::json!({"type": "tap", "id": "net2", "fd": "fd-net2"})
    );
    assert_eq!(
        backend::netdev_add(true, "net2", "fd-net2"),
        serde_json::json!({
            "type": "stream", "id": "net2", "server": false,
            "addr": {"type": "fd", "str": "fd-net2"}
        })
    );
}

#[test]
fn only_vif_domid_dot_digits_names_a_domains_tap() {
    for yes in ["vif9.0", "vif9.7", "vif9.10"] {
        assert!(is_tap_of(yes, 9), "{yes}");
    }
    for no in [
        "vif9.", "vif9", "vif90.0", "vif19.0", "vif9.0x", "vif9.-1", "vif9.+1", "vif9.0.1",
        "xvif9.0", "vif9. 0", "eth0",
    ] {
        assert!(!is_tap_of(no, 9), "{no}");
    }
}

#[test]
fn session_mode_releases_nothing_and_lists_nothing() {
    // Session mode makes no taps: the host's vifN.M are not its own.
    assert_eq!(release_left_taps(false, 1), 0);
}
