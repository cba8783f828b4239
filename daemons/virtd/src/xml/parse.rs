//! Reading a domain XML: roxmltree builds the tree (no DTD, XML's own
//! entities only, bounded nodes); this walks it along the subset, one
//! function per element, refusing whatever it does not name.

use roxmltree::{Attribute, Document, Node, NodeType, ParsingOptions};
use xend::api::{DefAction, Definition};

use super::units::{check_unit, shown, to_mib};
use super::{MAX_NODES, MAX_XML, Why, XmlError};
use super::{depth, parse_dev};

/// VNC's first port (display 0).
pub(super) const VNC_BASE: u32 = 5900;

/// The listen address when none is given (xl.cfg's `vnclisten` default).
pub(super) const VNC_LISTEN: &str = "127.0.0.1";

/// The document, for positions.
pub(super) struct Doc<'a, 'i> {
    doc: &'a Document<'i>,
}

pub(super) type R<T> = Result<T, XmlError>;

impl<'a, 'i> Doc<'a, 'i> {
    pub(super) fn at(&self, pos: usize, what: String, why: Why) -> XmlError {
        let p = self.doc.text_pos_at(pos);
        XmlError {
            line: p.row,
            column: p.col,
            what,
            why,
        }
    }

    pub(super) fn el(&self, n: Node<'a, 'i>, why: Why) -> XmlError {
        let what = format!("element <{}>", n.tag_name().name());
        self.at(n.range().start, what, why)
    }

    pub(super) fn attr(&self, n: Node<'a, 'i>, a: &Attribute<'a, 'i>, why: Why) -> XmlError {
        let what = format!("attribute {} of <{}>", a.name(), n.tag_name().name());
        self.at(a.range().start, what, why)
    }

    /// Refuses every attribute of `n` not in `allowed`, and namespaced ones.
    pub(super) fn attrs(&self, n: Node<'a, 'i>, allowed: &[&str]) -> R<()> {
        for a in n.attributes() {
            if a.namespace().is_some() || !allowed.contains(&a.name()) {
                return Err(self.attr(n, &a, Why::Outside));
            }
        }
        Ok(())
    }

    /// An attribute's value.
    pub(super) fn get(&self, n: Node<'a, 'i>, name: &str) -> Option<(&'a str, Attribute<'a, 'i>)> {
        n.attributes()
            .find(|a| a.name() == name && a.namespace().is_none())
            .map(|a| (a.value(), a))
    }

    /// An attribute that must be there.
    pub(super) fn need(
        &self,
        n: Node<'a, 'i>,
        name: &str,
        what: &'static str,
    ) -> R<(&'a str, Attribute<'a, 'i>)> {
        self.get(n, name)
            .ok_or_else(|| self.el(n, Why::Missing(what)))
    }

    /// An attribute that must be one of `values`, if present.
    pub(super) fn one_of(
        &self,
        n: Node<'a, 'i>,
        name: &str,
        values: &[&str],
        expected: &'static str,
    ) -> R<Option<&'a str>> {
        match self.get(n, name) {
            None => Ok(None),
            Some((v, _)) if values.contains(&v) => Ok(Some(v)),
            Some((v, a)) => Err(self.attr(n, &a, value(v, expected))),
        }
    }

    /// `n`'s element children, refusing text (but whitespace) and PIs.
    pub(super) fn children(&self, n: Node<'a, 'i>) -> R<Vec<Node<'a, 'i>>> {
        let mut out = Vec::new();
        for c in n.children() {
            match c.node_type() {
                NodeType::Element => {
                    if c.tag_name().namespace().is_some() {
                        return Err(self.el(c, Why::Outside));
                    }
                    out.push(c);
                }
                NodeType::Text => {
                    if !c.text().unwrap_or("").trim().is_empty() {
                        return Err(self.el(n, Why::Text));
                    }
                }
                NodeType::Comment => {}
                NodeType::PI | NodeType::Root => {
                    let what = "a processing instruction".to_string();
                    return Err(self.at(c.range().start, what, Why::Outside));
                }
            }
        }
        Ok(out)
    }

    /// A leaf element: no attributes but `allowed`, no children, its text.
    pub(super) fn leaf(&self, n: Node<'a, 'i>, allowed: &[&str]) -> R<String> {
        self.attrs(n, allowed)?;
        let mut text = String::new();
        for c in n.children() {
            match c.node_type() {
                NodeType::Text => text.push_str(c.text().unwrap_or("")),
                NodeType::Comment => {}
                NodeType::Element => return Err(self.el(c, Why::Outside)),
                NodeType::PI | NodeType::Root => {
                    let what = "a processing instruction".to_string();
                    return Err(self.at(c.range().start, what, Why::Outside));
                }
            }
        }
        Ok(text)
    }

    /// An empty element: attributes `allowed`, no children.
    pub(super) fn empty(&self, n: Node<'a, 'i>, allowed: &[&str]) -> R<()> {
        let t = self.leaf(n, allowed)?;
        if !t.trim().is_empty() {
            return Err(self.el(n, Why::Text));
        }
        Ok(())
    }

    /// A leaf's text that must not be empty.
    pub(super) fn text(&self, n: Node<'a, 'i>, allowed: &[&str], what: &'static str) -> R<String> {
        let t = self.leaf(n, allowed)?;
        if t.is_empty() {
            return Err(self.el(n, Why::Missing(what)));
        }
        Ok(t)
    }

    /// Keeps `v` in `slot`, refusing a second one.
    pub(super) fn once<T>(&self, n: Node<'a, 'i>, slot: &mut Option<T>, v: T) -> R<()> {
        if slot.is_some() {
            return Err(self.el(n, Why::Repeated));
        }
        *slot = Some(v);
        Ok(())
    }
}

pub(super) fn value(v: &str, expected: &'static str) -> Why {
    Why::Value {
        value: shown(v),
        expected,
    }
}

/// See [`super::parse`].
pub(super) fn parse(text: &str) -> R<Definition> {
    if text.len() > MAX_XML {
        return Err(XmlError {
            line: 1,
            column: 1,
            what: "the text".to_string(),
            why: Why::TooLong {
                len: text.len(),
                max: MAX_XML,
            },
        });
    }
    if let Some(at) = depth::too_deep(text) {
        let why = Why::Conflict("nested deeper than the domain XML goes");
        return Err(position(text, at, why));
    }
    let opt = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let doc = Document::parse_with_options(text, opt).map_err(|e| {
        let p = e.pos();
        XmlError {
            line: p.row,
            column: p.col,
            what: "the text".to_string(),
            why: Why::Syntax(e),
        }
    })?;
    let d = Doc { doc: &doc };
    for c in doc.root().children() {
        if c.node_type() == NodeType::PI {
            let what = "a processing instruction".to_string();
            return Err(d.at(c.range().start, what, Why::Outside));
        }
    }
    domain(&d, doc.root_element())
}

/// An error at byte `at` of `text`, before there is a document.
fn position(text: &str, at: usize, why: Why) -> XmlError {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    XmlError {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(col).unwrap_or(u32::MAX),
        what: "an element".to_string(),
        why,
    }
}

/// What `<domain>`'s children give, before the required ones are checked.
#[derive(Default)]
struct Parts {
    name: Option<String>,
    uuid: Option<String>,
    memory: Option<u64>,
    current: Option<(u64, usize)>,
    vcpus: Option<u32>,
    os: Option<Os>,
    features: Option<(bool, bool)>,
    on_poweroff: Option<DefAction>,
    on_reboot: Option<DefAction>,
    on_crash: Option<DefAction>,
    devices: Option<parse_dev::Devices>,
}

fn domain(d: &Doc<'_, '_>, root: Node<'_, '_>) -> R<Definition> {
    if root.tag_name().name() != "domain" || root.tag_name().namespace().is_some() {
        return Err(d.el(root, Why::Outside));
    }
    d.attrs(root, &["type", "id"])?;
    let (ty, a) = d.need(root, "type", "type='xen', 'kvm' or 'qemu'")?;
    if !["xen", "kvm", "qemu"].contains(&ty) {
        return Err(d.attr(root, &a, value(ty, "xen, kvm or qemu")));
    }
    if let Some((id, a)) = d.get(root, "id") {
        let ok = id == "-1"
            || (!id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && id.parse::<u32>().is_ok());
        if !ok {
            return Err(d.attr(root, &a, value(id, "a domain id")));
        }
    }
    let mut p = Parts::default();
    for c in d.children(root)? {
        match c.tag_name().name() {
            "name" => {
                let v = d.text(c, &[], "the domain's name")?;
                d.once(c, &mut p.name, v)?;
            }
            "uuid" => {
                let v = d.text(c, &[], "a UUID")?;
                let v = v.trim().to_string();
                if !is_uuid(&v) {
                    return Err(d.el(c, value(&v, "a UUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")));
                }
                d.once(c, &mut p.uuid, v)?;
            }
            "memory" | "currentMemory" => {
                let unit = match d.get(c, "unit") {
                    Some((u, a)) => {
                        check_unit(u).map_err(|w| d.attr(c, &a, w))?;
                        Some(u)
                    }
                    None => None,
                };
                let v = d.text(c, &["unit"], "a size")?;
                let mib = to_mib(&v, unit).map_err(|w| d.el(c, w))?;
                if c.tag_name().name() == "memory" {
                    d.once(c, &mut p.memory, mib)?;
                } else {
                    d.once(c, &mut p.current, (mib, c.range().start))?;
                }
            }
            "vcpu" => {
                d.one_of(c, "placement", &["static"], "static")?;
                let v = d.text(c, &["placement"], "a number of CPUs")?;
                let n = v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1 && v.trim().bytes().all(|b| b.is_ascii_digit()));
                let n = n.ok_or_else(|| d.el(c, value(&v, "a number of CPUs, at least one")))?;
                d.once(c, &mut p.vcpus, n)?;
            }
            "os" => {
                let os = os(d, c)?;
                d.once(c, &mut p.os, os)?;
            }
            "features" => {
                let f = features(d, c)?;
                d.once(c, &mut p.features, f)?;
            }
            "on_poweroff" => {
                let a = action(d, c)?;
                d.once(c, &mut p.on_poweroff, a)?;
            }
            "on_reboot" => {
                let a = action(d, c)?;
                d.once(c, &mut p.on_reboot, a)?;
            }
            "on_crash" => {
                let a = action(d, c)?;
                d.once(c, &mut p.on_crash, a)?;
            }
            "devices" => {
                let dev = parse_dev::devices(d, c)?;
                d.once(c, &mut p.devices, dev)?;
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    let name = p.name.ok_or_else(|| d.el(root, Why::Missing("<name>")))?;
    let memory_mib = p
        .memory
        .ok_or_else(|| d.el(root, Why::Missing("<memory>")))?;
    if let Some((cur, pos)) = p.current
        && cur != memory_mib
    {
        let what = "element <currentMemory>".to_string();
        return Err(d.at(pos, what, Why::Conflict("must equal <memory> (no balloon)")));
    }
    let os = p.os.ok_or_else(|| d.el(root, Why::Missing("<os>")))?;
    let (acpi, apic) = p.features.unwrap_or((false, false));
    let dev = p.devices.unwrap_or_default();
    Ok(Definition {
        name,
        uuid: p.uuid,
        memory_mib,
        vcpus: p.vcpus.unwrap_or(1),
        kernel: os.kernel,
        ramdisk: os.initrd,
        cmdline: os.cmdline,
        boot: os.boot,
        acpi,
        apic,
        on_poweroff: p.on_poweroff.unwrap_or(DefAction::Destroy),
        on_reboot: p.on_reboot.unwrap_or(DefAction::Restart),
        on_crash: p.on_crash.unwrap_or(DefAction::Destroy),
        disks: dev.disks,
        nics: dev.nics,
        serial_pty: dev.serial || dev.console,
        vnc: dev.vnc,
    })
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits of either case.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `<os>`'s parts.
struct Os {
    kernel: Option<String>,
    initrd: Option<String>,
    cmdline: Option<String>,
    boot: String,
}

/// The most `<boot>` elements (one per device class, with room).
const MAX_BOOT: usize = 8;

fn os(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<Os> {
    d.attrs(n, &[])?;
    let mut ty = None;
    let (mut kernel, mut initrd, mut cmdline) = (None, None, None);
    let mut boot = String::new();
    for c in d.children(n)? {
        match c.tag_name().name() {
            "type" => {
                d.one_of(c, "arch", &["x86_64"], "x86_64")?;
                if let Some((m, a)) = d.get(c, "machine")
                    && m != "pc"
                    && !m.starts_with("pc-i440fx-")
                {
                    return Err(d.attr(c, &a, value(m, "pc or pc-i440fx-* (xend's board)")));
                }
                let t = d.text(c, &["arch", "machine"], "the OS type hvm")?;
                if t.trim() != "hvm" {
                    return Err(d.el(c, value(&t, "hvm")));
                }
                d.once(c, &mut ty, ())?;
            }
            "kernel" => {
                let v = d.text(c, &[], "a path")?;
                d.once(c, &mut kernel, v)?;
            }
            "initrd" => {
                let v = d.text(c, &[], "a path")?;
                d.once(c, &mut initrd, v)?;
            }
            "cmdline" => {
                let v = d.leaf(c, &[])?;
                d.once(c, &mut cmdline, v)?;
            }
            "boot" => {
                d.empty(c, &["dev"])?;
                let (v, a) = d.need(c, "dev", "dev='hd', 'cdrom' or 'network'")?;
                let letter = match v {
                    "hd" => 'c',
                    "cdrom" => 'd',
                    "network" => 'n',
                    _ => return Err(d.attr(c, &a, value(v, "hd, cdrom or network"))),
                };
                if boot.len() >= MAX_BOOT {
                    return Err(d.el(c, Why::Repeated));
                }
                boot.push(letter);
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    if ty.is_none() {
        return Err(d.el(n, Why::Missing("<type>hvm</type>")));
    }
    // No <boot>: libvirt boots from the first disk (and a direct-boot
    // kernel needs none); xend wants the order said.
    if boot.is_empty() {
        boot.push('c');
    }
    Ok(Os {
        kernel,
        initrd,
        cmdline,
        boot,
    })
}

fn features(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<(bool, bool)> {
    d.attrs(n, &[])?;
    let (mut acpi, mut apic) = (None, None);
    for c in d.children(n)? {
        match c.tag_name().name() {
            "acpi" => {
                d.empty(c, &[])?;
                d.once(c, &mut acpi, ())?;
            }
            "apic" => {
                d.empty(c, &[])?;
                d.once(c, &mut apic, ())?;
            }
            _ => return Err(d.el(c, Why::Outside)),
        }
    }
    Ok((acpi.is_some(), apic.is_some()))
}

fn action(d: &Doc<'_, '_>, n: Node<'_, '_>) -> R<DefAction> {
    let t = d.text(n, &[], "destroy, restart or preserve")?;
    match t.trim() {
        "destroy" => Ok(DefAction::Destroy),
        "restart" => Ok(DefAction::Restart),
        "preserve" => Ok(DefAction::Preserve),
        _ => Err(d.el(n, value(&t, "destroy, restart or preserve"))),
    }
}
