//! The machine keys as a config writes them: `vif`, `boot`, `acpi`,
//! `apic`, `maxvcpus`, `usb`, `usbdevice`, `sdl` and
//! `device_model_privileges`; every refusal at its file, line and column.

use std::path::Path;

use crate::config::{DomainConfig, Mac, NicModel, Pos, UsbDevice, Vif, parse};

const HEAD: &str = "name = \"a\"\ntype = \"hvm\"\n";

fn ok(text: &str) -> DomainConfig {
    parse(Path::new("g"), &format!("{HEAD}{text}")).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Refused, and the message starts with `want` (which names the place).
fn refused(text: &str, want: &str) {
    let e = parse(Path::new("g"), &format!("{HEAD}{text}"))
        .expect_err(text)
        .to_string();
    assert!(e.starts_with(want), "{text:?}:\n want {want}\n  got {e}");
    assert!(!e.contains('\n'), "{e}");
}

/// What `to_text` prints reads back as the same config.
fn round_trip(c: &DomainConfig) {
    let mut c = c.clone();
    c.unsupported.clear();
    let printed = c.to_text();
    let again = parse(Path::new("p"), &printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again, c, "{printed}");
    assert_eq!(again.to_text(), printed);
}

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

#[test]
fn a_huge_privilege_list_keeps_each_name_once() {
    let many = vec!["proc_prioup"; 60_000].join(",");
    let c = ok(&format!(
        "device_model_privileges = [ '{many}', 'proc_lock_memory', '{many}' ]\n"
    ));
    assert_eq!(c.dm_privileges, ["proc_prioup", "proc_lock_memory"]);
    // The first word refused ends the reading, wherever it is.
    let e = parse(
        Path::new("g"),
        &format!("{HEAD}device_model_privileges = '{many},sys_admin,{many}'\n"),
    )
    .expect_err("sys_admin");
    assert!(
        e.to_string()
            .starts_with("g:3:1: device_model_privileges: sys_admin is refused"),
        "{e}"
    );
}

#[test]
fn boot_is_an_order_of_c_d_and_n() {
    assert_eq!(ok("").boot, "cd");
    for b in ["c", "d", "n", "dc", "ncd", "dn"] {
        let c = ok(&format!("boot = \"{b}\"\n"));
        assert_eq!(c.boot, b);
        round_trip(&c);
    }
    for (b, why) in [
        ("", "no boot device; c (disk), d (CD-ROM) and n (network)"),
        (
            "a",
            "'a' is not a boot device; c (disk), d (CD-ROM) or n (network)",
        ),
        ("dca", "'a' is not a boot device"),
        ("C", "'C' is not a boot device"),
        ("d c", "' ' is not a boot device"),
        ("dé", "'\\u{e9}' is not a boot device"),
        ("cdc", "'c' is given twice"),
    ] {
        refused(
            &format!("boot = \"{b}\"\n"),
            &format!("g:3:1: boot = \"{b}\": {why}"),
        );
    }
    refused("boot = 1\n", "g:3:1: boot must be a string (the boot order");
    refused("boot = [ 'c' ]\n", "g:3:1: boot must be a string");
}

#[test]
fn acpi_apic_usb_and_sdl_are_zero_or_one() {
    let c = ok("");
    assert!(c.acpi && c.apic && !c.usb && !c.vnc);
    let c = ok("acpi = 0\napic = 0\nusb = 1\n");
    assert!(!c.acpi && !c.apic && c.usb && c.usbdevices.is_empty());
    round_trip(&c);
    for key in ["acpi", "apic", "usb", "sdl"] {
        for v in ["2", "-1", "'yes'", "[ 1 ]"] {
            refused(
                &format!("{key} = {v}\n"),
                &format!("g:3:1: {key} must be a number from 0 to 1"),
            );
        }
    }
}

#[test]
fn sdl_is_shown_through_the_vnc_gate_on_loopback() {
    let c = ok("sdl = 1\n");
    assert!(c.vnc);
    assert_eq!(c.vnclisten, "127.0.0.1");
    assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);
    round_trip(&c);
    // Whatever the order, and even with vnc = 0: sdl asks for a screen.
    assert!(ok("sdl = 1\nvnc = 0\n").vnc);
    assert!(!ok("sdl = 0\n").vnc);
    // An address the administrator chose stays.
    assert_eq!(ok("vnclisten = '[::1]:5'\nsdl = 1\n").vnclisten, "[::1]:5");
}

#[test]
fn maxvcpus_is_at_least_vcpus_and_at_most_128() {
    let c = ok("maxvcpus = 4\nvcpus = 2\n");
    assert_eq!((c.vcpus, c.maxvcpus), (2, Some(4)));
    round_trip(&c);
    assert_eq!(ok("vcpus = 3\nmaxvcpus = 3\n").maxvcpus, Some(3));
    assert_eq!(ok("").maxvcpus, None);
    refused(
        "maxvcpus = 2\nvcpus = 4\n",
        "g:3:1: maxvcpus = 2 is less than vcpus = 4",
    );
    refused(
        "vcpus = 2\nmaxvcpus = 1\n",
        "g:4:1: maxvcpus = 1 is less than vcpus = 2",
    );
    refused(
        "maxvcpus = 129\n",
        "g:3:1: maxvcpus must be a number from 1 to 128, not 129",
    );
    refused(
        "maxvcpus = 0\n",
        "g:3:1: maxvcpus must be a number from 1 to 128",
    );
}

#[test]
fn usbdevice_is_one_or_a_list_and_brings_its_controller() {
    let c = ok("usbdevice = 'tablet'\n");
    assert!(c.usb);
    assert_eq!(c.usbdevices, [UsbDevice::Tablet]);
    assert!(c.unsupported.is_empty());
    round_trip(&c);
    let c = ok("usb = 0\nusbdevice = [ 'mouse', 'keyboard', 'tablet' ]\n");
    assert!(c.usb);
    assert_eq!(
        c.usbdevices,
        [UsbDevice::Mouse, UsbDevice::Keyboard, UsbDevice::Tablet]
    );
    round_trip(&c);
    for (text, want) in [
        (
            "usbdevice = 'host:1234:5678'\n",
            "g:3:1: usbdevice \"host:1234:5678\": tablet, mouse or keyboard (the device model reaches no host device)",
        ),
        (
            "usbdevice = [ 'tablet',\n  'disk:/x.img' ]\n",
            "g:4:3: usbdevice \"disk:/x.img\": tablet, mouse",
        ),
        (
            "usbdevice = [ 'tablet', 'tablet' ]\n",
            "g:3:25: usbdevice \"tablet\" is named twice",
        ),
        (
            "usbdevice = 1\n",
            "g:3:1: usbdevice must be a string or a list of strings",
        ),
        (
            "usbdevice = [ 'tablet', 2 ]\n",
            "g:3:25: usbdevice must be a string or a list",
        ),
        (
            "usbdevice = 'Tablet'\n",
            "g:3:1: usbdevice \"Tablet\": tablet",
        ),
    ] {
        refused(text, want);
    }
    // A list as long as the file allows stops at the first repeat.
    let many = vec!["'tablet'"; 100_000].join(",");
    let e = parse(Path::new("g"), &format!("{HEAD}usbdevice = [ {many} ]\n")).expect_err("many");
    assert!(e.to_string().contains("named twice"), "{e}");
}

#[test]
fn device_model_privileges_are_only_the_grantable_ones() {
    assert!(ok("").dm_privileges.is_empty());
    for (v, want) in [
        ("'proc_lock_memory'", &["proc_lock_memory"][..]),
        (
            "[ 'PRIV_PROC_PRIOUP', 'proc_lock_memory', 'proc_prioup' ]",
            &["proc_prioup", "proc_lock_memory"],
        ),
        (
            "'proc_lock_memory, proc_prioup'",
            &["proc_lock_memory", "proc_prioup"],
        ),
        ("'none'", &[]),
        ("[ ]", &[]),
    ] {
        let c = ok(&format!("device_model_privileges = {v}\n"));
        assert_eq!(c.dm_privileges, want, "{v}");
        round_trip(&c);
    }
    let grantable = crate::features::DM_GRANTABLE;
    assert!(grantable.contains("proc_lock_memory"), "{grantable}");
    for (name, why) in [
        ("sys_admin", "would give the device model CAP_SYS_ADMIN"),
        ("sys_mount", "would give the device model CAP_SYS_ADMIN"),
        ("proc_setid", "would let the device model change its ids"),
        ("file_dac_read", "would bypass file permissions"),
        ("file_dac_write", "would bypass file permissions"),
        ("file_dac_search", "would bypass file permissions"),
        ("file_dac_execute", "would bypass file permissions"),
        ("file_owner", "would bypass file permissions"),
        ("file_chown", "would let the device model give files away"),
        ("file_setid", "would let the device model give files away"),
        ("sys_net_config", "would configure the host's network"),
        ("sys_ip_config", "would configure the host's network"),
        ("sys_dl_config", "would configure the host's network"),
        (
            "net_rawaccess",
            "would let the device model use the network itself",
        ),
        (
            "net_privaddr",
            "would let the device model use the network itself",
        ),
        ("proc_owner", "would let the device model signal and trace"),
        ("proc_chroot", "would let the device model change the root"),
        (
            "sys_config",
            "would let the device model change the host's kernel",
        ),
        (
            "sys_devices",
            "would let the device model change the host's kernel",
        ),
        (
            "sys_time",
            "would let the device model change the host's kernel",
        ),
        ("file_read", "is a basic privilege"),
        ("proc_fork", "is a basic privilege"),
        ("net_access", "is a basic privilege"),
        (
            "xvm_control",
            "would let the device model drive the stack's daemons",
        ),
        ("virt_manage", "would let the device model drive"),
        ("contract_event", "has nothing behind it on Linux"),
        ("proc_priocntl", "is not one a device model needs"),
    ] {
        refused(
            &format!("device_model_privileges = [ 'proc_prioup', '{name}' ]\n"),
            &format!("g:3:44: device_model_privileges: {name} is refused: it {why}"),
        );
        let e = parse(
            Path::new("g"),
            &format!(
                "{HEAD}device_model_privileges = '{}'\n",
                name.to_uppercase()
            ),
        )
        .expect_err(name)
        .to_string();
        assert!(
            e.starts_with(&format!(
                "g:3:1: device_model_privileges: {name} is refused"
            )) && e.ends_with(&format!("; a device model may be given only {grantable}")),
            "{e}"
        );
    }
    for (v, want) in [
        (
            "'sys_module'",
            "g:3:1: device_model_privileges: \"sys_module\" is not a privilege (see ppriv -l)",
        ),
        (
            "'all'",
            "g:3:1: device_model_privileges: \"all\" is not a privilege",
        ),
        (
            "'basic'",
            "g:3:1: device_model_privileges: \"basic\" is not a privilege",
        ),
        (
            "'!proc_fork'",
            "g:3:1: device_model_privileges: \"!proc_fork\" is not a privilege",
        ),
        (
            "'proc_prioup,,'",
            "g:3:1: device_model_privileges: \"\" is not a privilege",
        ),
        (
            "[ '' ]",
            "g:3:29: device_model_privileges: \"\" is not a privilege",
        ),
        (
            "1",
            "g:3:1: device_model_privileges must be a privilege name or a list",
        ),
        (
            "[ 'proc_prioup', 1 ]",
            "g:3:44: device_model_privileges must be",
        ),
        (
            "'proc_prioup\\t'",
            "g:3:1: device_model_privileges \"proc_prioup\\t\": a control character",
        ),
    ] {
        refused(&format!("device_model_privileges = {v}\n"), want);
    }
}

#[test]
fn every_machine_key_prints_and_reads_back() {
    let c = ok(concat!(
        "vcpus = 2\nmaxvcpus = 8\nboot = 'nd'\nacpi = 0\napic = 0\n",
        "usbdevice = [ 'keyboard', 'tablet' ]\nsdl = 1\n",
        "vif = [ 'mac=00:16:3e:aa:bb:cc,bridge=xenbr0,model=virtio', '', 'ip=1.2.3.4' ]\n",
        "device_model_privileges = [ 'proc_lock_memory' ]\n",
    ));
    round_trip(&c);
    let printed = c.to_text();
    for line in [
        "maxvcpus = 8\n",
        "vif = [ \"bridge=xenbr0,mac=00:16:3e:aa:bb:cc,model=virtio-net\", \"model=e1000\", \"model=e1000\" ]\n",
        "boot = \"nd\"\nacpi = 0\napic = 0\nusb = 1\n",
        "usbdevice = [ \"keyboard\", \"tablet\" ]\n",
        "vnc = 1\n",
        "device_model_privileges = [ \"proc_lock_memory\" ]\n",
    ] {
        assert!(printed.contains(line), "{line}\n{printed}");
    }
}

/// Whether 1-based `line` and `column` name a character of `text` or the
/// place just past the end of a line (as the fuzz target checks).
fn inside(text: &str, line: u32, column: u32) -> bool {
    let (Ok(line), Ok(column)) = (usize::try_from(line), usize::try_from(column)) else {
        return false;
    };
    line > 0
        && column > 0
        && text
            .split('\n')
            .nth(line - 1)
            .is_some_and(|l| column <= l.chars().count() + 1)
}

/// Whether `text` keeps the fuzz target's promises
/// (fuzz/fuzz_targets/xl_cfg.rs): an error is placed in the text, a key
/// not acted on too, and what parses prints as text that reads back the
/// same and prints the same again. Whether it parsed.
fn keeps_the_promises(text: &str) -> bool {
    let c = match parse(Path::new("f"), text) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                inside(text, e.pos.line, e.pos.column),
                "{e} outside {text:?}"
            );
            return false;
        }
    };
    for (k, p) in &c.unsupported {
        assert!(inside(text, p.line, p.column), "{k} {p:?} in {text:?}");
    }
    // What to_text leaves out (as the fuzz target's `kept`).
    let mut kept = c.clone();
    kept.unsupported.clear();
    if !kept.vnc {
        kept.vnclisten = "127.0.0.1".into();
        kept.vncdisplay = None;
    }
    let printed = kept.to_text();
    let again =
        parse(Path::new("p"), &printed).unwrap_or_else(|e| panic!("{e}\n{printed}\nfrom {text:?}"));
    assert_eq!(again, kept, "{printed}\nfrom {text:?}");
    assert_eq!(again.to_text(), printed);
    true
}

const MACHINE: &str = concat!(
    "name = 'm'\ntype = 'hvm'\nvcpus = 2\nmaxvcpus = 3\nboot = 'dc'\nacpi = 0\napic = 1\n",
    "usb = 1\nusbdevice = [ 'tablet', 'mouse' ]\nsdl = 1\n",
    "vif = [ 'bridge=xenbr0,mac=00:16:3e:0a:0b:0c,model=virtio,ip=1.2.3.4', '' ]\n",
    "disk = [ 'phy:/dev/vg0/m,hda,w', 'tap:qcow2:/i/m.qcow2,xvdb,r', ",
    "'file:/iso/m.iso,hdc:cdrom,r' ]\n",
    "device_model_privileges = 'proc_lock_memory,proc_prioup'\n",
);

const XM_ERA: &str = concat!(
    "builder = 'hvm'\nname = 'w'\nvif = [ 'type=ioemu,script=vif-bridge,trusted,rate=1Mb/s' ]\n",
    "disk = [ 'file:/i.iso,hdc:cdrom,r', 'raw:/a,hda,w', 'vdev=hdb,target=phy:/x' ]\n",
    "usbdevice = 'keyboard'\nvnc = 1\nvnclisten = '[::1]:5900'\nserial = 'tcp:127.0.0.1:4555'\n",
    "kernel = '/usr/lib/xen/boot/hvmloader'\n",
);

/// The promises kept over every one-byte change (a character replaced,
/// or one inserted) of a config with every machine key.
#[test]
fn every_small_change_of_a_machine_config_keeps_the_parsers_promises() {
    let subs = [
        "", ",", ":", "=", "'", "\"", "\n", "[", "0", "f", "a", "c", "\\n", " ", "é",
    ];
    let mut parsed = 0;
    for (base, i) in [MACHINE, XM_ERA].into_iter().flat_map(|b| {
        (0..b.len())
            .filter(|i| b.is_char_boundary(*i))
            .map(move |i| (b, i))
    }) {
        let next = (i + 1..=base.len())
            .find(|j| base.is_char_boundary(*j))
            .unwrap_or(base.len());
        for s in subs {
            for text in [
                format!("{}{s}{}", &base[..i], &base[next..]),
                format!("{}{s}{}", &base[..i], &base[i..]),
            ] {
                parsed += usize::from(keeps_the_promises(&text));
            }
        }
    }
    assert!(parsed > 2000, "{parsed}");
}

/// The promises kept over many changes of a few words each, at places a
/// fixed generator picks (the same run every time): the words the
/// machine keys are made of, spliced into and cut out of both configs.
#[test]
fn many_spliced_changes_keep_the_parsers_promises() {
    let words = [
        "bridge=",
        "mac=",
        "model=",
        "ip=",
        "type=vif",
        "script=vif-route",
        "00:16:3e:",
        "virtio",
        ",",
        "'",
        "\"",
        " ",
        "\n",
        "[",
        "]",
        "phy:",
        "file:",
        "tap:aio:",
        "qcow2:",
        "raw:",
        "vhd:",
        ":cdrom",
        "hdc",
        "xvda",
        "target=",
        "format=",
        "cdrom",
        "boot = ",
        "'dcn'",
        "usbdevice = ",
        "'tablet'",
        "maxvcpus = 1",
        "vcpus = 128",
        "sdl = 1",
        "vnc = 0",
        "device_model_privileges = ",
        "'sys_admin'",
        "'priv_proc_prioup'",
        "none",
        "kernel = '/k'",
        "hvmloader",
        "+=",
        "#",
        ";",
        "=",
        "é",
        "\\",
        "0x10",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    };
    let mut parsed = 0;
    for round in 0..6000 {
        let mut text = String::from(if round % 2 == 0 { MACHINE } else { XM_ERA });
        for _ in 0..1 + next(3) {
            let at = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .nth(next(text.chars().count() + 1))
                .unwrap_or(0);
            if next(3) == 0 {
                let end = (at + 1 + next(6)..=text.len())
                    .find(|j| text.is_char_boundary(*j))
                    .unwrap_or(text.len());
                text.replace_range(at..end, "");
            } else {
                text.insert_str(at, words[next(words.len())]);
            }
        }
        parsed += usize::from(keeps_the_promises(&text));
    }
    assert!(parsed > 200, "{parsed}");
}
