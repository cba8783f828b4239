//! The `vif` key as a config writes it: cards read with their keys,
//! keys not acted on named at their card, each refusal at its place, and
//! the bound on cards.

use std::path::Path;

use super::{HEAD, ok, refused, round_trip};
use crate::config::{Mac, NicModel, Pos, Vif, parse};

fn card(bridge: Option<&str>, mac: Option<[u8; 6]>, model: NicModel) -> Vif {
    Vif {
        bridge: bridge.map(str::to_string),
        mac: mac.map(Mac),
        model,
    }
}

#[test]
fn vif_cards_are_read_with_their_keys() {
    let c = ok("vif = [ '' ]\n");
    assert_eq!(c.vifs, [card(None, None, NicModel::E1000)]);
    assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);
    round_trip(&c);
    let c = ok(concat!(
        "vif = [ 'bridge=xenbr0,mac=00:16:3E:74:3d:76,model=rtl8139,type=ioemu',\n",
        "  'mac=02:00:00:00:00:01, model=virtio-net, type=vif, script=/etc/xen/scripts/vif-bridge',\n",
        "  ' model = virtio , bridge = br-lan.1 ,', 'script=vif-bridge,model=e1000' ]\n",
    ));
    assert_eq!(
        c.vifs,
        [
            card(
                Some("xenbr0"),
                Some([0, 0x16, 0x3e, 0x74, 0x3d, 0x76]),
                NicModel::Rtl8139
            ),
            card(None, Some([2, 0, 0, 0, 0, 1]), NicModel::VirtioNet),
            card(Some("br-lan.1"), None, NicModel::VirtioNet),
            card(None, None, NicModel::E1000),
        ]
    );
    assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);
    assert_eq!(
        c.vifs[0].mac.map(|m| m.to_string()).as_deref(),
        Some("00:16:3e:74:3d:76")
    );
    round_trip(&c);
}

#[test]
fn vif_keys_not_acted_on_are_named_at_their_card() {
    let c = ok(concat!(
        "vif = [ 'bridge=xenbr0,ip=10.0.0.2,rate=10Mb/s,vifname=web0',\n",
        "        'script=vif-route,ip=10.0.0.3,ip=10.0.0.4,trusted,mtu=9000' ]\n",
        "vga = 'stdvga'\n",
    ));
    assert_eq!(c.vifs.len(), 2);
    let at = |line, column| Pos { line, column };
    let want: Vec<(String, Pos)> = [
        ("vif:ip", at(3, 9)),
        ("vif:rate", at(3, 9)),
        ("vif:vifname", at(3, 9)),
        ("vif:script", at(4, 9)),
        ("vif:ip", at(4, 9)),
        ("vif:trusted", at(4, 9)),
        ("vif:mtu", at(4, 9)),
        ("vga", at(5, 1)),
    ]
    .into_iter()
    .map(|(k, p)| (k.to_string(), p))
    .collect();
    assert_eq!(c.unsupported, want);
    round_trip(&c);
}

#[test]
fn each_vif_refusal_names_its_place_and_fault() {
    for (text, want) in [
        (
            "vif = 'bridge=xenbr0'\n",
            "g:3:1: vif must be a list of vif specs",
        ),
        ("vif = [ 1 ]\n", "g:3:9: a vif spec is a string"),
        (
            "vif = [ '', 'xenbr0' ]\n",
            "g:3:13: vif \"xenbr0\": \"xenbr0\" is not KEY=VALUE",
        ),
        (
            "vif = [ 'bridge=xenbr0,colour=red' ]\n",
            "g:3:9: vif \"bridge=xenbr0,colour=red\": unknown key \"colour\"",
        ),
        (
            "vif = [ 'model=ne2k_pci' ]\n",
            "g:3:9: vif \"model=ne2k_pci\": model \"ne2k_pci\": e1000, virtio-net (or virtio) or rtl8139",
        ),
        (
            "vif = [ 'type=netfront' ]\n",
            "g:3:9: vif \"type=netfront\": type \"netfront\": ioemu or vif",
        ),
        (
            "vif = [\n  'mac=00:16:3e:00:00:01',\n  'mac=00:16:3E:00:00:01' ]\n",
            "g:5:3: vif \"mac=00:16:3E:00:00:01\": another card has mac 00:16:3e:00:00:01",
        ),
        (
            "vif = [ 'bridge=xenbr0\\n' ]\n",
            "g:3:9: vif \"bridge=xenbr0\\n\": a control character (U+000A)",
        ),
    ] {
        refused(text, want);
    }
    for b in [
        "",
        "a/b",
        "br 0",
        "sixteen-chars-xx",
        ".",
        "..",
        "br:0",
        "bré",
        "$(reboot)",
    ] {
        refused(
            &format!("vif = [ 'bridge={b}' ]\n"),
            &format!("g:3:9: vif \"bridge={b}\": bridge \"{b}\": an interface name is 1 to 15"),
        );
    }
    for (m, why) in [
        ("", "six pairs"),
        ("00:16:3e:1:2:3", "six pairs"),
        ("00:16:3e:01:02", "six pairs"),
        ("00:16:3e:01:02:03:04", "six pairs"),
        ("00:16:3e:01:02:03:", "six pairs"),
        ("00-16-3e-01-02-03", "six pairs"),
        ("00:16:3e:01:02:0g", "six pairs"),
        ("00:16:3e:01:02:+3", "six pairs"),
        ("0x0:16:3e:01:02:03", "six pairs"),
        ("００:16:3e:01:02:03", "six pairs"),
        ("001:6:3e:01:02:03", "six pairs"),
        ("01:00:5e:00:00:fb", "a multicast address"),
        ("ff:ff:ff:ff:ff:ff", "a multicast address"),
        ("03:16:3e:01:02:03", "a multicast address"),
        ("00:00:00:00:00:00", "all zeros"),
    ] {
        refused(
            &format!("vif = [ 'mac={m}' ]\n"),
            &format!("g:3:9: vif \"mac={m}\": mac \"{m}\": {why}"),
        );
    }
}

#[test]
fn at_most_eight_cards_and_a_huge_list_is_refused_at_once() {
    let eight = ["''"; 8].join(", ");
    assert_eq!(ok(&format!("vif = [ {eight} ]\n")).vifs.len(), 8);
    refused(
        "vif = [ '', '', '', '', '', '', '', '',\n '' ]\n",
        "g:4:2: vif: more than 8 network cards",
    );
    // A list as long as the file allows: refused by its length, before
    // any spec is read.
    let many = vec!["'bridge=xenbr0'"; 60_000].join(",");
    let e = parse(Path::new("g"), &format!("{HEAD}vif = [ {many} ]\n")).expect_err("many");
    assert!(e.to_string().contains("more than 8 network cards"), "{e}");
    // One spec of many keys not acted on: each is named once.
    let spec = vec!["ip=10.0.0.1"; 50_000].join(",");
    let c = ok(&format!("vif = [ 'rate=1Mb/s,{spec},rate=2Mb/s' ]\n"));
    let keys: Vec<&str> = c.unsupported.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["vif:rate", "vif:ip"]);
    // A spec of nothing but commas is one card with the defaults.
    let commas = ",".repeat(500_000);
    assert_eq!(
        ok(&format!("vif = [ '{commas}' ]\n")).vifs,
        [card(None, None, NicModel::E1000)]
    );
}
