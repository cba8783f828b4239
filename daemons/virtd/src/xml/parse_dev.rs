//! Reading `<devices>`: disks, network cards, the serial port and
//! console, the VNC screen.

use roxmltree::Node;
use xend::api::{DefDisk, DefFormat, DefNic, DefNicModel, DefVnc};

use super::Why;
use super::parse::{Doc, R, VNC_BASE, VNC_LISTEN, value};

/// `<devices>`'s parts.
#[derive(Default)]
pub(super) struct Devices {
    pub(super) disks: Vec<DefDisk>,
    pub(super) nics: Vec<DefNic>,
    pub(super) serial: bool,
    pub(super) console: bool,
    pub(super) vnc: Option<DefVnc>,
}

pub(super) fn devices(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<Devices> {
    d.attrs(n, &[])?;
    let mut dev = Devices::default();
    let (mut serial, mut console) = (None, None);
    for c in d.children(n)? {
        match c.tag_name().name() {
            "disk" => dev.disks.push(disk(d, c)?),
            "interface" => dev.nics.push(interface(d, c)?),
            "serial" => {
                pty(d, c, None)?;
                d.once(c, &mut serial, ())?;
            }
            "console" => {
                pty(d, c, Some("serial"))?;
                d.once(c, &mut console, ())?;
            }
            "graphics" => {
                let g = graphics(d, c)?;
                d.once(c, &mut dev.vnc, g)?;
            }
            // <emulator> among them: xend chooses the device model.
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    dev.serial = serial.is_some();
    dev.console = console.is_some();
    Ok(dev)
}

fn disk(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<DefDisk> {
    d.attrs(n, &["type", "device"])?;
    let (ty, a) = d.need(n, "type", "type='file' or 'block'")?;
    let source_attr = match ty {
        "file" => "file",
        "block" => "dev",
        _ => return Err(d.attr(n, &a, value(ty, "file or block"))),
    };
    let cdrom = d.one_of(n, "device", &["disk", "cdrom"], "disk or cdrom")? == Some("cdrom");
    let (mut format, mut source, mut vdev, mut ro) = (None, None, None, None);
    for c in d.children(n)? {
        match c.tag_name().name() {
            "driver" => {
                d.empty(c, &["name", "type"])?;
                d.one_of(c, "name", &["qemu"], "qemu")?;
                let f = match d.one_of(c, "type", &["raw", "qcow2"], "raw or qcow2")? {
                    Some("qcow2") => DefFormat::Qcow2,
                    _ => DefFormat::Raw,
                };
                d.once(c, &mut format, f)?;
            }
            "source" => {
                d.empty(c, &[source_attr])?;
                let what = if ty == "file" {
                    "file='PATH'"
                } else {
                    "dev='PATH'"
                };
                let (p, a) = d.need(c, source_attr, what)?;
                if !p.starts_with('/') {
                    return Err(d.attr(c, &a, value(p, "an absolute path")));
                }
                d.once(c, &mut source, p.to_string())?;
            }
            "target" => {
                d.empty(c, &["dev", "bus"])?;
                d.one_of(c, "bus", &["ide"], "ide (xend puts every disk on IDE)")?;
                let (v, a) = d.need(c, "dev", "dev='hda' (the guest's name for it)")?;
                if v.is_empty() {
                    return Err(d.attr(c, &a, value(v, "a device name such as hda")));
                }
                d.once(c, &mut vdev, v.to_string())?;
            }
            "readonly" => {
                d.empty(c, &[])?;
                d.once(c, &mut ro, ())?;
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    Ok(DefDisk {
        target: source.ok_or_else(|| d.el(n, Why::Missing("<source>")))?,
        format: format.unwrap_or(DefFormat::Raw),
        vdev: vdev.ok_or_else(|| d.el(n, Why::Missing("<target dev=...>")))?,
        read_only: ro.is_some(),
        cdrom,
    })
}

fn interface(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<DefNic> {
    d.attrs(n, &["type"])?;
    let (ty, a) = d.need(n, "type", "type='bridge' or 'user'")?;
    let bridged = match ty {
        "bridge" => true,
        "user" => false,
        _ => return Err(d.attr(n, &a, value(ty, "bridge or user"))),
    };
    let (mut bridge, mut mac, mut model) = (None, None, None);
    for c in d.children(n)? {
        match c.tag_name().name() {
            "source" if bridged => {
                d.empty(c, &["bridge"])?;
                let (b, a) = d.need(c, "bridge", "bridge='NAME'")?;
                if b.is_empty() {
                    return Err(d.attr(c, &a, value(b, "a bridge's name")));
                }
                d.once(c, &mut bridge, b.to_string())?;
            }
            "mac" => {
                d.empty(c, &["address"])?;
                let (m, a) = d.need(c, "address", "address='xx:xx:xx:xx:xx:xx'")?;
                if !is_mac(m) {
                    return Err(d.attr(c, &a, value(m, "a MAC xx:xx:xx:xx:xx:xx")));
                }
                d.once(c, &mut mac, m.to_string())?;
            }
            "model" => {
                d.empty(c, &["type"])?;
                let (m, a) = d.need(c, "type", "type='e1000', 'virtio' or 'rtl8139'")?;
                let m = match m {
                    "e1000" => DefNicModel::E1000,
                    "virtio" => DefNicModel::VirtioNet,
                    "rtl8139" => DefNicModel::Rtl8139,
                    _ => return Err(d.attr(c, &a, value(m, "e1000, virtio or rtl8139"))),
                };
                d.once(c, &mut model, m)?;
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    if bridged && bridge.is_none() {
        return Err(d.el(n, Why::Missing("<source bridge='NAME'/>")));
    }
    Ok(DefNic {
        bridge,
        mac,
        model: model.unwrap_or(DefNicModel::E1000),
    })
}

/// `xx:xx:xx:xx:xx:xx`, hex digits of either case.
fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, c)| match i % 3 {
            2 => *c == b':',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `<serial type='pty'>` (`target_type` None) or `<console type='pty'>`
/// (`target_type` `serial`), with an optional `<target port='0'>`.
fn pty(d: &Doc<'_, '_>, n: Node<'_, '_>, target_type: Option<&'static str>) -> R<()> {
    d.attrs(n, &["type"])?;
    let (ty, a) = d.need(n, "type", "type='pty'")?;
    if ty != "pty" {
        return Err(d.attr(n, &a, value(ty, "pty")));
    }
    let mut target = None;
    for c in d.children(n)? {
        match c.tag_name().name() {
            "target" => {
                match target_type {
                    Some(t) => {
                        d.empty(c, &["type", "port"])?;
                        d.one_of(c, "type", &[t], "serial")?;
                    }
                    None => d.empty(c, &["port"])?,
                }
                d.one_of(c, "port", &["0"], "0 (one serial port)")?;
                d.once(c, &mut target, ())?;
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    Ok(())
}

fn graphics(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<DefVnc> {
    d.attrs(n, &["type", "port", "autoport", "listen"])?;
    let (ty, a) = d.need(n, "type", "type='vnc'")?;
    if ty != "vnc" {
        return Err(d.attr(n, &a, value(ty, "vnc")));
    }
    let auto = d.one_of(n, "autoport", &["yes", "no"], "yes or no")?;
    let display = match d.get(n, "port") {
        None | Some(("-1", _)) => None,
        Some((p, a)) => {
            let port = p.parse::<u32>().ok().filter(|v| {
                (VNC_BASE..=65535).contains(v) && p.bytes().all(|b| b.is_ascii_digit())
            });
            let port = port.ok_or_else(|| d.attr(n, &a, value(p, "-1 or a port 5900 to 65535")))?;
            Some(port - VNC_BASE)
        }
    };
    match (auto, display) {
        (Some("yes"), Some(_)) => {
            return Err(d.el(n, Why::Conflict("autoport='yes' with a port")));
        }
        (Some("no"), None) => {
            return Err(d.el(n, Why::Conflict("autoport='no' needs a port 5900 or up")));
        }
        _ => {}
    }
    let attr_listen = d.get(n, "listen").map(|(v, _)| v);
    let mut child_listen = None;
    for c in d.children(n)? {
        match c.tag_name().name() {
            "listen" => {
                d.empty(c, &["type", "address"])?;
                let (t, a) = d.need(c, "type", "type='address'")?;
                if t != "address" {
                    return Err(d.attr(c, &a, value(t, "address")));
                }
                let (v, _) = d.need(c, "address", "address='ADDR'")?;
                if attr_listen.is_some_and(|l| l != v) {
                    return Err(d.el(c, Why::Conflict("differs from <graphics listen=...>")));
                }
                d.once(c, &mut child_listen, v)?;
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    let listen = attr_listen.or(child_listen).unwrap_or(VNC_LISTEN);
    if listen.is_empty() {
        return Err(d.el(n, value(listen, "an address to listen on")));
    }
    Ok(DefVnc {
        listen: listen.to_string(),
        display,
    })
}
