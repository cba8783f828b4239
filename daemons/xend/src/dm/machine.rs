//! The machine qemu emulates for a domain's config: the board and its
//! accelerator, ACPI and the APIC, memory, vcpus, the boot order and the
//! USB controller with its devices.

use crate::config::DomainConfig;

/// The CPU model qemu's `pc` board has when none is named, under KVM and
/// TCG alike; named only to take the APIC away from it (`apic = 0`).
const CPU: &str = "qemu64";

/// The id of the USB controller; its bus is `usb.0`.
const USB: &str = "usb";

/// The machine's part of qemu's command line for `c`, with KVM or TCG.
///
/// - `-machine pc,accel=..`, with `acpi=off` for `acpi = 0`;
/// - `-cpu qemu64,-apic` for `apic = 0` (the board's own CPU model,
///   without the local APIC);
/// - `-smp N`, with `maxcpus=M` for `maxvcpus`;
/// - `-boot order=..`: xl.cfg's letters are qemu's (c disk, d CD-ROM,
///   n network);
/// - `usb = 1`: a PIIX3 UHCI controller, as Xen's device model gives HVM
///   guests (USB 1.1, which every guest has a driver for), and one device
///   per `usbdevice` on its bus.
pub fn args(c: &DomainConfig, kvm: bool) -> Vec<String> {
    let accel = if kvm { "kvm" } else { "tcg" };
    let mut machine = format!("pc,accel={accel}");
    if !c.acpi {
        machine.push_str(",acpi=off");
    }
    let mut a = vec!["-machine".to_string(), machine];
    if !c.apic {
        a.extend(["-cpu".to_string(), format!("{CPU},-apic")]);
    }
    let smp = match c.maxvcpus {
        Some(m) => format!("{},maxcpus={m}", c.vcpus),
        None => c.vcpus.to_string(),
    };
    a.extend([
        "-m".to_string(),
        c.memory_mib.to_string(),
        "-smp".to_string(),
        smp,
        "-boot".to_string(),
        format!("order={}", c.boot),
    ]);
    if c.usb {
        a.extend(["-device".to_string(), format!("piix3-usb-uhci,id={USB}")]);
        for d in &c.usbdevices {
            a.extend([
                "-device".to_string(),
                format!("{},bus={USB}.0", d.qemu_device()),
            ]);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn cfg(extra: &str) -> DomainConfig {
        crate::config::parse(
            Path::new("m.cfg"),
            &format!("name = \"m\"\ntype = \"hvm\"\n{extra}"),
        )
        .expect("parses")
    }

    #[test]
    fn the_defaults_are_a_pc_with_acpi_an_apic_and_no_usb() {
        assert_eq!(
            args(&cfg(""), true),
            [
                "-machine",
                "pc,accel=kvm",
                "-m",
                "128",
                "-smp",
                "1",
                "-boot",
                "order=cd"
            ]
        );
        let tcg = args(&cfg("memory = 256\nvcpus = 2\n"), false);
        assert_eq!(tcg[..2], ["-machine", "pc,accel=tcg"]);
        assert_eq!(tcg[2..6], ["-m", "256", "-smp", "2"]);
    }

    #[test]
    fn each_machine_key_is_its_argument() {
        let a = args(
            &cfg(
                "vcpus = 2\nmaxvcpus = 4\nboot = \"dc\"\nacpi = 0\napic = 0\n\
                 usbdevice = [ 'tablet', 'keyboard' ]\n",
            ),
            false,
        );
        assert_eq!(
            a,
            [
                "-machine",
                "pc,accel=tcg,acpi=off",
                "-cpu",
                "qemu64,-apic",
                "-m",
                "128",
                "-smp",
                "2,maxcpus=4",
                "-boot",
                "order=dc",
                "-device",
                "piix3-usb-uhci,id=usb",
                "-device",
                "usb-tablet,bus=usb.0",
                "-device",
                "usb-kbd,bus=usb.0"
            ]
        );
        // usb alone is the controller; a mouse is usb-mouse.
        let a = args(&cfg("usb = 1\n"), false);
        assert_eq!(a[a.len() - 2..], ["-device", "piix3-usb-uhci,id=usb"]);
        let a = args(&cfg("usbdevice = 'mouse'\nboot = 'n'\n"), false);
        assert!(a.contains(&"usb-mouse,bus=usb.0".to_string()), "{a:?}");
        assert!(a.contains(&"order=n".to_string()), "{a:?}");
    }
}
