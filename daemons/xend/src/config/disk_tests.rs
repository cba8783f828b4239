//! Disk specs read back: the positional and `key=value` forms, the
//! deprecated xm-era syntax (prefixes, `target,vdev,access`), and each
//! refusal naming the spec and what was wrong.

use std::path::Path;

use super::*;

#[test]
fn formats_are_named_once_and_read_back() {
    for f in Format::ALL {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
    assert_eq!(Format::from_name(""), Some(Format::Raw));
    let e = parse_disk("/a,vmdk,hda,rw").expect_err("vmdk");
    assert_eq!(
        e.fault,
        DiskFault::Format {
            name: "vmdk".into(),
            known: "raw, qcow2".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "disk \"/a,vmdk,hda,rw\": format vmdk is not supported (raw, qcow2)"
    );
}

#[test]
fn each_refusal_is_its_fault() {
    for (spec, want) in [
        ("/a,raw,hda,rw,x", DiskFault::TooManyParts),
        (
            "/a,raw,hda:floppy,rw",
            DiskFault::VdevKind {
                vdev: "hda:floppy".into(),
                kind: "floppy".into(),
            },
        ),
        ("/a,raw,hda,rx", DiskFault::Access("rx".into())),
        (
            "vdev=hda,devtype=tape,target=/a",
            DiskFault::Devtype("tape".into()),
        ),
        (
            "vdev=hda,backend=phy,target=/a",
            DiskFault::Unsupported("backend".into()),
        ),
        ("vdev=hda", DiskFault::NoTarget),
        ("/a,raw", DiskFault::NoVdev),
        ("/a,raw,hde,rw", DiskFault::NoSlot("hde".into())),
    ] {
        let e = parse_disk(spec).expect_err(spec);
        assert_eq!(e.fault, want, "{spec}");
        assert!(
            e.to_string().starts_with(&format!("disk \"{spec}\": ")),
            "{e}"
        );
    }
}

#[test]
fn a_spec_reads_back_as_the_same_disk() {
    for spec in [
        "/x/a.img,qcow2,xvdb,ro",
        "vdev=hdc,devtype=cdrom,target=/i,so",
    ] {
        let d = parse_disk(spec).expect(spec);
        assert_eq!(parse_disk(&d.to_spec()).expect("again"), d, "{spec}");
    }
    assert_eq!(ide_index("xvdd"), Some(3));
    assert_eq!(ide_index("sde"), None);
    let d = parse_disk("/x,raw,sda,rw").expect("sda");
    assert_eq!(d.target, Path::new("/x"));
}

#[test]
fn disk_flags_and_slots() {
    let d = parse_disk("vdev=hdd,cdrom,target=/i.iso").expect("cdrom flag");
    assert!(d.cdrom && d.read_only && d.target == Path::new("/i.iso"));
    let d = parse_disk("/i.iso,raw,hdc:cdrom,r").expect("legacy cdrom");
    assert!(d.cdrom && d.read_only && d.vdev == "hdc");
    assert!(
        parse_disk("/a,raw,hde,rw")
            .expect_err("slot")
            .to_string()
            .contains("hda to hdd")
    );
}

fn disk(target: &str, format: Format, vdev: &str, read_only: bool, cdrom: bool) -> Disk {
    Disk {
        target: PathBuf::from(target),
        format,
        vdev: vdev.into(),
        read_only,
        cdrom,
    }
}

#[test]
fn the_deprecated_syntax_of_xm_era_configs_reads() {
    use Format::{Qcow2, Raw};
    for (spec, want) in [
        (
            "phy:/dev/vg0/web01,hda,w",
            disk("/dev/vg0/web01", Raw, "hda", false, false),
        ),
        ("phy:sdb1,hdb,r", disk("/dev/sdb1", Raw, "hdb", true, false)),
        (
            " phy: /dev/x , hda , w ",
            disk("/dev/x", Raw, "hda", false, false),
        ),
        (
            "file:/var/lib/xen/images/x.img,xvda,w",
            disk("/var/lib/xen/images/x.img", Raw, "xvda", false, false),
        ),
        (
            "tap:aio:/img/a.img,xvdb,w",
            disk("/img/a.img", Raw, "xvdb", false, false),
        ),
        (
            "tap2:aio:/img/a.img,sda,w",
            disk("/img/a.img", Raw, "sda", false, false),
        ),
        (
            "aio:/img/a.img,hdb,w",
            disk("/img/a.img", Raw, "hdb", false, false),
        ),
        (
            "tap:qcow2:/img/a.qcow2,hda,w",
            disk("/img/a.qcow2", Qcow2, "hda", false, false),
        ),
        (
            "qcow2:/img/a.qcow2,hda,r",
            disk("/img/a.qcow2", Qcow2, "hda", true, false),
        ),
        (
            "tap:tapdisk:qcow2:/a,hda,w",
            disk("/a", Qcow2, "hda", false, false),
        ),
        (
            "raw:/img/a.img,hdd,w",
            disk("/img/a.img", Raw, "hdd", false, false),
        ),
        (
            "file:/iso/x.iso,hdc:cdrom,r",
            disk("/iso/x.iso", Raw, "hdc", true, true),
        ),
        (
            "raw:/root/image.iso,hdc:cdrom,ro",
            disk("/root/image.iso", Raw, "hdc", true, true),
        ),
        // Without a prefix: a second part that reads as a vdev.
        (
            "/img/a.img,hda,w",
            disk("/img/a.img", Raw, "hda", false, false),
        ),
        ("/i.iso,hdc:cdrom,r", disk("/i.iso", Raw, "hdc", true, true)),
        // A prefix with all four parts, and the format twice alike.
        (
            "phy:/dev/sdb,raw,hda,w",
            disk("/dev/sdb", Raw, "hda", false, false),
        ),
        (
            "qcow2:/a,qcow2,hda,w",
            disk("/a", Qcow2, "hda", false, false),
        ),
        ("ioemu:/a,,hdb", disk("/a", Raw, "hdb", false, false)),
        // xl's own forms still read as before.
        (
            "/dev/vg/guest-volume,,hda",
            disk("/dev/vg/guest-volume", Raw, "hda", false, false),
        ),
        (
            "/root/image.iso,,hdc,,cdrom",
            disk("/root/image.iso", Raw, "hdc", true, true),
        ),
        (
            "/root/image.iso,raw,hdc,devtype=cdrom",
            disk("/root/image.iso", Raw, "hdc", true, true),
        ),
        // A colon after the first slash is the path's.
        (
            "phy:/dev/disk/by-path/pci-0000:00:1f.2-ata-1,hda,w",
            disk(
                "/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
                Raw,
                "hda",
                false,
                false,
            ),
        ),
        // target= is taken as written, prefix and all.
        (
            "vdev=hda,target=phy:/dev/x",
            disk("phy:/dev/x", Raw, "hda", false, false),
        ),
    ] {
        let d = parse_disk(spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d, want, "{spec}");
        assert_eq!(parse_disk(&d.to_spec()).expect("again"), d, "{spec}");
    }
}

#[test]
fn each_deprecated_refusal_is_its_fault() {
    for (spec, want) in [
        (",hdc:cdrom,r", DiskFault::EmptyCdrom),
        ("file:,hdc:cdrom,r", DiskFault::EmptyCdrom),
        ("vdev=hdc,devtype=cdrom", DiskFault::EmptyCdrom),
        (",hda,w", DiskFault::NoTarget),
        ("phy:,hda,w", DiskFault::NoTarget),
        (
            "vhd:/a.vhd,hda,w",
            DiskFault::Format {
                name: "vhd".into(),
                known: "raw, qcow2".into(),
            },
        ),
        (
            "tap:qcow:/a,hda,w",
            DiskFault::Format {
                name: "qcow".into(),
                known: "raw, qcow2".into(),
            },
        ),
        (
            "iscsi:iqn.2001-04.com.example:disk,hda,w",
            DiskFault::ScriptPrefix("iscsi".into()),
        ),
        ("drbd:r0,hda,w", DiskFault::ScriptPrefix("drbd".into())),
        ("nfs:/a,hda,w", DiskFault::UnknownPrefix("nfs".into())),
        ("C:x,hda,w", DiskFault::UnknownPrefix("C".into())),
        (
            "raw:/a,qcow2,hda,w",
            DiskFault::FormatTwice {
                first: "raw",
                second: "qcow2",
            },
        ),
        (
            "raw:qcow2:/a,hda,w",
            DiskFault::FormatTwice {
                first: "raw",
                second: "qcow2",
            },
        ),
        (
            "/a,raw,hda,w,format=qcow2",
            DiskFault::FormatTwice {
                first: "raw",
                second: "qcow2",
            },
        ),
        ("phy:/a,hda,w,x", DiskFault::TooManyParts),
        ("phy:/a,xvda1,w", DiskFault::NoSlot("xvda1".into())),
        (
            "tap: cow2:/a,hda,w",
            DiskFault::UnknownPrefix("cow2".into()),
        ),
        ("/a,hda,w,discard", DiskFault::Unsupported("discard".into())),
        (
            "/a,hda:floppy,w",
            DiskFault::VdevKind {
                vdev: "hda:floppy".into(),
                kind: "floppy".into(),
            },
        ),
    ] {
        let e = parse_disk(spec).expect_err(spec);
        assert_eq!(e.fault, want, "{spec}");
        assert!(
            e.to_string().starts_with(&format!("disk \"{spec}\": ")),
            "{e}"
        );
    }
    let e = parse_disk(",hdc:cdrom,r").expect_err("empty");
    assert!(
        e.to_string()
            .contains("an empty CD-ROM drive (no target) is not supported here"),
        "{e}"
    );
}
