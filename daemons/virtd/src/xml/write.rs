//! Writing a domain XML the way libvirt lays one out (the elements in
//! libvirt's order, two-space indent, single-quoted attributes), from
//! only what the subset reads back.

use std::fmt::Write as _;

use xend::api::{DefAction, DefFormat, DefNicModel, Definition};

use super::parse::VNC_BASE;

/// Escapes `s` for an attribute's value or text: XML's five, and the
/// whitespace a parser would otherwise normalise (tab, newline and
/// carriage return in attributes, carriage return in text).
fn esc(s: &str, attr: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\'' => o.push_str("&apos;"),
            '"' => o.push_str("&quot;"),
            '\r' => o.push_str("&#13;"),
            '\t' if attr => o.push_str("&#9;"),
            '\n' if attr => o.push_str("&#10;"),
            c => o.push(c),
        }
    }
    o
}

fn a(s: &str) -> String {
    esc(s, true)
}

fn t(s: &str) -> String {
    esc(s, false)
}

fn action(a: DefAction) -> &'static str {
    match a {
        DefAction::Destroy => "destroy",
        DefAction::Restart => "restart",
        DefAction::Preserve => "preserve",
    }
}

/// See [`super::write`].
pub(super) fn write(def: &Definition, id: Option<u32>) -> String {
    let mut x = String::new();
    // Writing to a String cannot fail; the results are ignored below.
    match id {
        Some(id) => _ = writeln!(x, "<domain type='xen' id='{id}'>"),
        None => x.push_str("<domain type='xen'>\n"),
    }
    _ = writeln!(x, "  <name>{}</name>", t(&def.name));
    if let Some(u) = &def.uuid {
        _ = writeln!(x, "  <uuid>{}</uuid>", t(u));
    }
    match def.memory_mib.checked_mul(1024) {
        Some(kib) => {
            _ = writeln!(x, "  <memory unit='KiB'>{kib}</memory>");
            _ = writeln!(x, "  <currentMemory unit='KiB'>{kib}</currentMemory>");
        }
        None => {
            let m = def.memory_mib;
            _ = writeln!(x, "  <memory unit='MiB'>{m}</memory>");
            _ = writeln!(x, "  <currentMemory unit='MiB'>{m}</currentMemory>");
        }
    }
    _ = writeln!(x, "  <vcpu placement='static'>{}</vcpu>", def.vcpus);
    x.push_str("  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
    if let Some(k) = &def.kernel {
        _ = writeln!(x, "    <kernel>{}</kernel>", t(k));
    }
    if let Some(r) = &def.ramdisk {
        _ = writeln!(x, "    <initrd>{}</initrd>", t(r));
    }
    if let Some(c) = &def.cmdline {
        _ = writeln!(x, "    <cmdline>{}</cmdline>", t(c));
    }
    for b in def.boot.chars() {
        let dev = match b {
            'c' => "hd",
            'd' => "cdrom",
            'n' => "network",
            _ => continue,
        };
        _ = writeln!(x, "    <boot dev='{dev}'/>");
    }
    x.push_str("  </os>\n");
    if def.acpi || def.apic {
        x.push_str("  <features>\n");
        if def.acpi {
            x.push_str("    <acpi/>\n");
        }
        if def.apic {
            x.push_str("    <apic/>\n");
        }
        x.push_str("  </features>\n");
    }
    _ = writeln!(
        x,
        "  <on_poweroff>{}</on_poweroff>",
        action(def.on_poweroff)
    );
    _ = writeln!(x, "  <on_reboot>{}</on_reboot>", action(def.on_reboot));
    _ = writeln!(x, "  <on_crash>{}</on_crash>", action(def.on_crash));
    devices(&mut x, def);
    x.push_str("</domain>\n");
    x
}

fn devices(x: &mut String, def: &Definition) {
    x.push_str("  <devices>\n");
    for d in &def.disks {
        // A block device's path is under /dev; the XML's disk type
        // follows it (Definition keeps only the path).
        let (ty, attr) = if d.target.starts_with("/dev/") {
            ("block", "dev")
        } else {
            ("file", "file")
        };
        let device = if d.cdrom { "cdrom" } else { "disk" };
        let format = match d.format {
            DefFormat::Raw => "raw",
            DefFormat::Qcow2 => "qcow2",
        };
        _ = writeln!(x, "    <disk type='{ty}' device='{device}'>");
        _ = writeln!(x, "      <driver name='qemu' type='{format}'/>");
        _ = writeln!(x, "      <source {attr}='{}'/>", a(&d.target));
        _ = writeln!(x, "      <target dev='{}' bus='ide'/>", a(&d.vdev));
        if d.read_only {
            x.push_str("      <readonly/>\n");
        }
        x.push_str("    </disk>\n");
    }
    for n in &def.nics {
        match &n.bridge {
            Some(b) => {
                x.push_str("    <interface type='bridge'>\n");
                if let Some(m) = &n.mac {
                    _ = writeln!(x, "      <mac address='{}'/>", a(m));
                }
                _ = writeln!(x, "      <source bridge='{}'/>", a(b));
            }
            None => {
                x.push_str("    <interface type='user'>\n");
                if let Some(m) = &n.mac {
                    _ = writeln!(x, "      <mac address='{}'/>", a(m));
                }
            }
        }
        let model = match n.model {
            DefNicModel::E1000 => "e1000",
            DefNicModel::VirtioNet => "virtio",
            DefNicModel::Rtl8139 => "rtl8139",
        };
        _ = writeln!(x, "      <model type='{model}'/>");
        x.push_str("    </interface>\n");
    }
    if def.serial_pty {
        x.push_str("    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n");
        x.push_str(
            "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n",
        );
    }
    if let Some(v) = &def.vnc {
        let l = a(&v.listen);
        let port = v.display.and_then(|d| d.checked_add(VNC_BASE));
        match port {
            Some(p) => {
                _ = writeln!(
                    x,
                    "    <graphics type='vnc' port='{p}' autoport='no' listen='{l}'>"
                )
            }
            None => {
                _ = writeln!(
                    x,
                    "    <graphics type='vnc' port='-1' autoport='yes' listen='{l}'>"
                )
            }
        }
        _ = writeln!(x, "      <listen type='address' address='{l}'/>");
        x.push_str("    </graphics>\n");
    }
    x.push_str("  </devices>\n");
}
