//! The machine keys as a config writes them: `boot`, `acpi`, `apic`,
//! `maxvcpus`, `usb`, `usbdevice`, `sdl` and `device_model_privileges`;
//! every refusal at its file, line and column. `vif` is in [`vif`], the
//! parser's promises over changed configs in [`promises`].

use std::path::Path;

use crate::config::{DomainConfig, UsbDevice, parse};

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

#[test]
fn a_huge_privilege_list_keeps_each_name_once() {
    let many = vec!["proc_lock_memory"; 60_000].join(",");
    let c = ok(&format!(
        "device_model_privileges = [ '{many}', 'proc_lock_memory', '{many}' ]\n"
    ));
    assert_eq!(c.dm_privileges, ["proc_lock_memory"]);
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
            "[ 'PRIV_PROC_LOCK_MEMORY', 'proc_lock_memory' ]",
            &["proc_lock_memory"],
        ),
        (
            "'proc_lock_memory, PRIV_PROC_LOCK_MEMORY'",
            &["proc_lock_memory"],
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
        ("proc_prioup", "is not one a device model needs"),
    ] {
        refused(
            &format!("device_model_privileges = [ 'proc_lock_memory', '{name}' ]\n"),
            &format!("g:3:49: device_model_privileges: {name} is refused: it {why}"),
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
            "'proc_lock_memory,,'",
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
            "[ 'proc_lock_memory', 1 ]",
            "g:3:49: device_model_privileges must be",
        ),
        (
            "'proc_lock_memory\\t'",
            "g:3:1: device_model_privileges \"proc_lock_memory\\t\": a control character",
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

#[path = "hvm_vif_tests.rs"]
mod vif;

#[path = "hvm_promise_tests.rs"]
mod promises;
