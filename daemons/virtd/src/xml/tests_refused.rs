//! What `virsh define` is refused, and that the refusal says where and
//! what: line, column, the element's or attribute's name.

use super::tests::EXAMPLE;
use super::{MAX_XML, Why, XmlError, parse};

fn refused(x: &str) -> XmlError {
    match parse(x) {
        Ok(d) => panic!("accepted {x}\nas {d:?}"),
        Err(e) => e,
    }
}

/// The example with `from` replaced by `to` (which must be there once).
fn edited(from: &str, to: &str) -> String {
    assert_eq!(EXAMPLE.matches(from).count(), 1, "{from}");
    EXAMPLE.replace(from, to)
}

/// 1-based line and column of `needle`'s first byte in `x`.
fn pos(x: &str, needle: &str) -> (u32, u32) {
    let at = x.find(needle).expect("needle");
    let before = &x[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).expect("line"),
        u32::try_from(col).expect("column"),
    )
}

#[test]
fn an_unknown_element_is_named_with_its_line_and_column() {
    let x = edited(
        "<devices>\n",
        "<devices>\n    <emulator>/usr/bin/qemu</emulator>\n",
    );
    let e = refused(&x);
    assert_eq!((e.line, e.column), pos(&x, "<emulator>"));
    assert_eq!(
        e.to_string(),
        format!(
            "domain XML line {}, column 5: element <emulator>: not part of the domain XML xvm serves",
            e.line
        )
    );
}

#[test]
fn an_unknown_attribute_is_named_with_its_line_and_column() {
    let x = edited(
        "<target dev='hda' bus='ide'/>",
        "<target dev='hda' bus='virtio'/>",
    );
    let e = refused(&x);
    assert_eq!((e.line, e.column), pos(&x, "bus='virtio'"));
    assert_eq!(e.what, "attribute bus of <target>");
    assert!(e.to_string().contains("\"virtio\": expected ide"), "{e}");

    let x = edited(
        "<vcpu placement='static'>",
        "<vcpu placement='static' current='1'>",
    );
    let e = refused(&x);
    assert_eq!((e.line, e.column), pos(&x, "current="));
    assert_eq!(e.what, "attribute current of <vcpu>");
    assert!(matches!(e.why, Why::Outside));
}

#[test]
fn everything_outside_the_subset_is_refused_by_name() {
    for (from, to, what) in [
        (
            "<on_crash>",
            "<clock offset='utc'/>\n  <on_crash>",
            "element <clock>",
        ),
        ("<acpi/>", "<acpi/><pae/>", "element <pae>"),
        ("<apic/>", "<apic eoi='on'/>", "attribute eoi of <apic>"),
        (
            "<readonly/>",
            "<readonly/><shareable/>",
            "element <shareable>",
        ),
        (
            "<driver name='qemu' type='qcow2'/>",
            "<driver name='qemu' type='qcow2' cache='none'/>",
            "attribute cache of <driver>",
        ),
        (
            "<model type='virtio'/>",
            "<model type='virtio'/><target dev='vif1'/>",
            "element <target>",
        ),
        (
            "</devices>",
            "<input type='tablet' bus='usb'/></devices>",
            "element <input>",
        ),
        (
            "<boot dev='cdrom'/>",
            "<boot dev='cdrom'/><loader>/x</loader>",
            "element <loader>",
        ),
        (
            "<serial type='pty'>",
            "<serial type='pty'><source path='/dev/pts/1'/>",
            "element <source>",
        ),
        (
            "autoport='no'",
            "autoport='no' passwd='x'",
            "attribute passwd of <graphics>",
        ),
        (
            "<domain type='kvm'>",
            "<domain type='kvm' xmlns:q='urn:q'><q:x/>",
            "element <x>",
        ),
        ("<name>", "<title>t</title><name>", "element <title>"),
    ] {
        let x = edited(from, to);
        let e = refused(&x);
        assert_eq!(e.what, what, "{to}: {e}");
    }
}

#[test]
fn values_xend_cannot_honour_are_refused() {
    for (from, to, what, value) in [
        (
            "<domain type='kvm'>",
            "<domain type='lxc'>",
            "attribute type of <domain>",
            "lxc",
        ),
        (">hvm<", ">xen<", "element <type>", "xen"),
        (
            "arch='x86_64'",
            "arch='aarch64'",
            "attribute arch of <type>",
            "aarch64",
        ),
        (
            "machine='pc'",
            "machine='q35'",
            "attribute machine of <type>",
            "q35",
        ),
        (
            "<boot dev='hd'/>",
            "<boot dev='fd'/>",
            "attribute dev of <boot>",
            "fd",
        ),
        (
            "<on_crash>preserve",
            "<on_crash>coredump-destroy",
            "element <on_crash>",
            "coredump-destroy",
        ),
        (
            "type='qcow2'",
            "type='vmdk'",
            "attribute type of <driver>",
            "vmdk",
        ),
        (
            "<disk type='block'",
            "<disk type='network'",
            "attribute type of <disk>",
            "network",
        ),
        (
            "device='cdrom'",
            "device='floppy'",
            "attribute device of <disk>",
            "floppy",
        ),
        (
            "<interface type='user'/>",
            "<interface type='network'/>",
            "attribute type of <interface>",
            "network",
        ),
        (
            "<model type='virtio'/>",
            "<model type='ne2k_pci'/>",
            "attribute type of <model>",
            "ne2k_pci",
        ),
        (
            "<serial type='pty'>",
            "<serial type='file'>",
            "attribute type of <serial>",
            "file",
        ),
        (
            "<target port='0'/>",
            "<target port='1'/>",
            "attribute port of <target>",
            "1",
        ),
        (
            "type='serial' port",
            "type='virtio' port",
            "attribute type of <target>",
            "virtio",
        ),
        (
            "port='5901'",
            "port='5899'",
            "attribute port of <graphics>",
            "5899",
        ),
        (
            "<mac address='00:16:3e:11:22:33'/>",
            "<mac address='00:16:3e'/>",
            "attribute address of <mac>",
            "00:16:3e",
        ),
        (
            "<vcpu placement='static'>2",
            "<vcpu placement='static'>0",
            "element <vcpu>",
            "0",
        ),
        (
            "4dea22b3-1d52",
            "4dea22b3_1d52",
            "element <uuid>",
            "4dea22b3_1d52-d8f3-2516-782e98ab3fa0",
        ),
        (
            "<memory unit='MiB'>",
            "<memory unit='pages'>",
            "attribute unit of <memory>",
            "pages",
        ),
        (
            "<source file='/srv/guest/disk.qcow2'/>",
            "<source file='disk.qcow2'/>",
            "attribute file of <source>",
            "disk.qcow2",
        ),
    ] {
        let x = edited(from, to);
        let e = refused(&x);
        assert_eq!(e.what, what, "{to}: {e}");
        match &e.why {
            Why::Value { value: v, .. } => assert_eq!(v, value, "{e}"),
            w => panic!("{to}: {w:?}"),
        }
    }
}

#[test]
fn contradictions_and_repeats_are_refused() {
    let e = refused(&edited(
        "<currentMemory unit='KiB'>524288",
        "<currentMemory unit='KiB'>262144",
    ));
    assert_eq!(e.what, "element <currentMemory>");
    assert!(e.to_string().contains("must equal <memory>"), "{e}");
    let e = refused(&edited(
        "<memory unit='MiB'>512</memory>",
        "<memory unit='MiB'>512.5</memory>",
    ));
    assert_eq!(e.what, "element <memory>");
    let e = refused(&edited(
        "<name>guest1</name>",
        "<name>guest1</name><name>b</name>",
    ));
    assert_eq!(
        (e.what.as_str(), matches!(e.why, Why::Repeated)),
        ("element <name>", true)
    );
    let e = refused(&edited(
        "<serial type='pty'>",
        "<serial type='pty'></serial><serial type='pty'>",
    ));
    assert!(matches!(e.why, Why::Repeated), "{e}");
    let e = refused(&edited("autoport='no'", "autoport='yes'"));
    assert!(matches!(e.why, Why::Conflict(_)), "{e}");
    let e = refused(&edited(
        "<listen type='address' address='127.0.0.1'/>",
        "<listen type='address' address='0.0.0.0'/><listen type='address' address='0.0.0.0'/>",
    ));
    assert!(matches!(e.why, Why::Repeated), "{e}");
    let x = edited("autoport='no'>", "autoport='no' listen='10.1.1.1'>");
    assert!(
        matches!(refused(&x).why, Why::Conflict(_)),
        "two listen addresses"
    );
    let e = refused(&edited("<name>guest1</name>", "<name>guest1</name>text"));
    assert_eq!(
        (e.what.as_str(), matches!(e.why, Why::Text)),
        ("element <domain>", true)
    );
}

#[test]
fn whats_required_is_asked_for() {
    for (from, to, what) in [
        ("<name>guest1</name>", "", "<name>"),
        ("<memory unit='MiB'>512</memory>", "", "<memory>"),
        (
            "<type arch='x86_64' machine='pc'>hvm</type>",
            "",
            "<type>hvm</type>",
        ),
        ("<source bridge='xenbr0'/>", "", "<source bridge='NAME'/>"),
        ("<source file='/srv/guest/disk.qcow2'/>", "", "<source>"),
        (
            "<target dev='hdc'/>",
            "<target/>",
            "dev='hda' (the guest's name for it)",
        ),
        (
            "<domain type='kvm'>",
            "<domain>",
            "type='xen', 'kvm' or 'qemu'",
        ),
    ] {
        let e = refused(&edited(from, to));
        match e.why {
            Why::Missing(m) => assert_eq!(m, what, "{e}"),
            w => panic!("{to}: {w:?}"),
        }
    }
    let e = refused("<domain type='xen'><name>a</name><memory>1024</memory></domain>");
    assert!(matches!(e.why, Why::Missing("<os>")), "{e}");
}

#[test]
fn bad_xml_is_refused_where_it_breaks() {
    let e = refused("<domain type='xen'>\n  <name>a</nome>\n</domain>");
    assert!(matches!(e.why, Why::Syntax(_)), "{e}");
    assert_eq!(e.line, 2, "{e}");
    let e = refused("<!DOCTYPE domain [<!ENTITY x 'y'>]><domain type='xen'/>");
    assert!(matches!(e.why, Why::Syntax(_)), "a DTD: {e}");
    let e = refused("<?xml version='1.0'?><?php x?><domain type='xen'/>");
    assert!(matches!(e.why, Why::Outside), "a PI: {e}");
    let e = refused("<nodomain/>");
    assert_eq!(e.what, "element <nodomain>");
    let e = refused(&" ".repeat(MAX_XML + 1));
    assert!(matches!(e.why, Why::TooLong { .. }), "{e}");
    let many = format!("<domain type='xen'>{}</domain>", "<!---->".repeat(20_000));
    assert!(
        matches!(refused(&many).why, Why::Syntax(_)),
        "too many nodes"
    );
    let deep = format!("{}{}", "<a>".repeat(30_000), "</a>".repeat(30_000));
    assert!(deep.len() < MAX_XML);
    let e = refused(&deep);
    assert!(matches!(e.why, Why::Conflict(_)), "{e}");
    assert_eq!((e.line, e.column), (1, 3 * 16 + 1), "{e}");
}
