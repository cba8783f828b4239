//! The example configs Debian's xen-utils-common ships, and an xm-era
//! HVM config as administrators kept them: the HVM ones parse with
//! nothing ignored, the PV ones are refused with the reason; and the
//! machine such a config asks for (boot order, ACPI, APIC, vcpus, a USB
//! tablet) is what a real, unprivileged qemu runs (root, hermetic).

mod support;

use std::path::{Path, PathBuf};

use privlib::testing::in_private_tmpfs;
use serde_json::{Value, json};
use support::{Domain, prepare_in, test_guest_banner, with_device_model};
use xend::config::{Format, Mac, NicModel, UsbDevice, Vif};
use xend::qmp::Qmp;
use xvm_tests::procfs::check_unprivileged_qemu;
use xvm_tests::skip::require_file;
use xvm_tests::{Error, check, require_program, require_root};

/// The device models' uids (base + domid), this binary's own range.
const BASE: u32 = 49_700;

#[test]
fn debians_examples_parse_or_are_refused_with_the_reason() {
    let test = "debians_examples_parse_or_are_refused_with_the_reason";
    if !require_file(test, "/etc/xen/xlexample.hvm", "xen-utils-common") {
        return;
    }
    let c = xend::config::load(Path::new("/etc/xen/xlexample.hvm")).expect("xlexample.hvm parses");
    assert_eq!(
        (c.name.as_str(), c.memory_mib, c.vcpus),
        ("example.hvm", 128, 2)
    );
    assert_eq!(c.disks.len(), 1);
    assert_eq!(c.disks[0].vdev, "xvda");
    // Every key it has is acted on: `vif = [ '' ]` is one card with the
    // defaults, and `sdl = 1` is the screen through the VNC gate.
    assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);
    assert_eq!(
        c.vifs,
        [Vif {
            bridge: None,
            mac: None,
            model: NicModel::E1000
        }]
    );
    assert!(c.vnc);
    assert_eq!(c.vnclisten, "127.0.0.1");
    for pv in ["/etc/xen/xlexample.pvlinux", "/etc/xen/xlexample.pvhlinux"] {
        if Path::new(pv).exists() {
            let e = xend::config::load(Path::new(pv)).expect_err(pv).to_string();
            assert!(e.starts_with(pv) && e.contains("not supported here"), "{e}");
        }
    }
}

/// An HVM guest as an xm-era config has it: the legacy disk syntax with
/// `phy:` and `file:`, an installer CD first in the boot order, a tablet
/// for VNC and a card on a bridge.
const XM_ERA: &str = r#"# web01: installed from the CD, then booted from its disk
builder = 'hvm'
name = "web01"
memory = 512
vcpus = 2
maxvcpus = 4
acpi = 1
apic = 1
vif = [ 'type=ioemu, bridge=xenbr0, mac=00:16:3e:5f:48:e4, model=e1000, script=vif-bridge' ]
disk = [ 'phy:/dev/vg0/web01,hda,w',
         'file:/var/lib/xen/images/web01-data.img,hdb,w',
         'tap:aio:/var/lib/xen/images/web01-logs.img,xvdd,w',
         'file:/var/lib/xen/images/debian-12.iso,hdc:cdrom,r' ]
boot = "dc"
usb = 1
usbdevice = 'tablet'
vnc = 1
vnclisten = "127.0.0.1"
serial = 'pty'
on_poweroff = 'destroy'
on_reboot = 'restart'
on_crash = 'restart'
"#;

#[test]
fn an_xm_era_hvm_config_parses_with_nothing_ignored() {
    let c = xend::config::parse(Path::new("web01.cfg"), XM_ERA).expect("parses");
    assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);
    assert_eq!((c.memory_mib, c.vcpus, c.maxvcpus), (512, 2, Some(4)));
    assert_eq!(c.boot, "dc");
    assert!(c.acpi && c.apic && c.usb && c.vnc);
    assert_eq!(c.usbdevices, [UsbDevice::Tablet]);
    assert_eq!(
        c.vifs,
        [Vif {
            bridge: Some("xenbr0".into()),
            mac: Some(Mac([0x00, 0x16, 0x3e, 0x5f, 0x48, 0xe4])),
            model: NicModel::E1000
        }]
    );
    let disks: Vec<(PathBuf, &str, bool, bool)> = c
        .disks
        .iter()
        .map(|d| (d.target.clone(), d.vdev.as_str(), d.read_only, d.cdrom))
        .collect();
    assert_eq!(
        disks,
        [
            (PathBuf::from("/dev/vg0/web01"), "hda", false, false),
            (
                PathBuf::from("/var/lib/xen/images/web01-data.img"),
                "hdb",
                false,
                false
            ),
            (
                PathBuf::from("/var/lib/xen/images/web01-logs.img"),
                "xvdd",
                false,
                false
            ),
            (
                PathBuf::from("/var/lib/xen/images/debian-12.iso"),
                "hdc",
                true,
                true
            ),
        ]
    );
    assert!(c.disks.iter().all(|d| d.format == Format::Raw));
    // What `xm create -n` prints (and xend keeps) reads back the same.
    let again = xend::config::parse(Path::new("printed.cfg"), &c.to_text()).expect("again");
    assert_eq!(again, c);
}

/// What Xen's xmexample.hvm had besides: the firmware loader named as
/// the kernel, qemu-dm's path, `vncunused`. They are named with their
/// place as not acted on; the guest boots from qemu's own firmware.
#[test]
fn xm_era_keys_of_xens_own_loader_are_named_not_refused() {
    let text = format!(
        "kernel = \"/usr/lib/xen/boot/hvmloader\"\n{XM_ERA}device_model = '/usr/lib/xen/bin/qemu-dm'\nvncunused = 1\n"
    );
    let c = xend::config::parse(Path::new("web01.cfg"), &text).expect("parses");
    let named: Vec<(&str, u32)> = c
        .unsupported
        .iter()
        .map(|(k, p)| (k.as_str(), p.line))
        .collect();
    assert_eq!(
        named,
        [
            ("kernel=hvmloader", 1),
            ("device_model", 24),
            ("vncunused", 25)
        ]
    );
    assert_eq!(c.kernel, None);
    assert_eq!(c.disks.len(), 4);
}

/// The xm-era config's machine keys, on the test guest (a boot sector on
/// hda): `boot = "dc"` finds no CD and boots the disk; qemu (as base +
/// domid, with no privilege) has the tablet on its USB bus, ACPI off, a
/// CPU without its APIC, and room for `maxvcpus` CPUs.
#[test]
fn an_xm_era_machine_runs_under_an_unprivileged_qemu() {
    let test = "an_xm_era_machine_runs_under_an_unprivileged_qemu";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let verdict = in_private_tmpfs("xend-xl-machine", |dir| {
        let e = |e: std::io::Error| e.to_string();
        let img = dir.join("guest.img");
        std::fs::write(&img, xend::testguest::image()).map_err(e)?;
        let text = format!(
            "builder = 'hvm'\nname = 'xmera'\nmemory = 32\nvcpus = 1\nmaxvcpus = 3\n\
             disk = [ 'file:{},hda,w' ]\nboot = \"dc\"\nacpi = 0\napic = 0\n\
             usbdevice = [ 'tablet', 'keyboard' ]\n",
            img.display()
        );
        let cfg = xend::config::parse(Path::new("xmera.cfg"), &text).map_err(|e| e.to_string())?;
        if !cfg.unsupported.is_empty() {
            return Err(format!("ignored: {:?}", cfg.unsupported).into());
        }
        let domid = 3;
        let d = Domain {
            domid,
            uuid: "00000000-0000-4000-8000-000000000003",
            source: "xmera.cfg",
            text: &text,
            config: &cfg,
        };
        let prepared = prepare_in(dir, BASE, None, d)?;
        let result = with_device_model(dir, &prepared, |pid| -> Result<(), Error> {
            test_guest_banner(dir)?;
            check_unprivileged_qemu(pid, BASE + domid)?;
            // xend's own QMP client: greeting, capabilities, bounded
            // replies, events skipped.
            let mut q = Qmp::connect(&dir.join("qmp")).map_err(|e| Error::Check(e.to_string()))?;
            let mut qmp = |cmd: &str, args: Value| {
                q.call(cmd, args)
                    .map_err(|e| Error::Check(format!("{cmd}: {e}")))
            };
            let mice = qmp("query-mice", json!({}))?;
            check(
                mice.as_array().is_some_and(|m| {
                    m.iter().any(|d| {
                        d["name"].as_str().is_some_and(|n| n.contains("Tablet"))
                            && d["absolute"] == json!(true)
                    })
                }),
                format!("no USB tablet: {mice}"),
            )?;
            let acpi = qmp("qom-get", json!({"path": "/machine", "property": "acpi"}))?;
            check(acpi == json!("off"), format!("acpi: {acpi}"))?;
            let cpus = qmp("query-hotpluggable-cpus", json!({}))?;
            check(
                cpus.as_array().map(Vec::len) == Some(3),
                format!("room for 3 vcpus: {cpus}"),
            )?;
            let running = qmp("query-cpus-fast", json!({}))?;
            let cpu0 = running[0]["qom-path"].as_str().unwrap_or("").to_string();
            check(
                running.as_array().map(Vec::len) == Some(1),
                format!("{running}"),
            )?;
            let apic = qmp("qom-get", json!({"path": cpu0, "property": "apic"}))?;
            check(apic == json!(false), format!("apic: {apic}"))?;
            let usb = qmp("qom-list", json!({"path": "/machine/peripheral"}))?;
            check(
                usb.to_string().contains("\"usb\""),
                format!("no controller usb: {usb}"),
            )
        })?;
        Ok(result?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
