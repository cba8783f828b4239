//! Disk specs (xl-disk-configuration(5)): positional
//! `target,format,vdev,access` or `key=value`, and the disk formats qemu
//! is told about, named in one place ([`Format::name`]).

use std::path::PathBuf;

use super::error::{DiskFault, DiskSpecError};

/// A disk image format qemu is told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Raw bytes.
    Raw,
    /// qcow2.
    Qcow2,
}

impl Format {
    /// Every format, for messages.
    pub const ALL: [Format; 2] = [Format::Raw, Format::Qcow2];

    /// Its name in a disk spec and on qemu's command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }

    /// The format `name` names (`""` is raw, as in xl.cfg).
    pub fn from_name(name: &str) -> Option<Format> {
        if name.is_empty() {
            return Some(Format::Raw);
        }
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// One disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// The image (a file or block device).
    pub target: PathBuf,
    /// Its format.
    pub format: Format,
    /// The guest's name for it (`hda`, `xvda`, ...).
    pub vdev: String,
    /// Read-only.
    pub read_only: bool,
    /// A CD-ROM.
    pub cdrom: bool,
}

impl Disk {
    /// The disk as a `key=value` spec that [`parse_disk`] reads back as
    /// this disk (`target=` last: it takes the rest, commas and all).
    pub fn to_spec(&self) -> String {
        format!(
            "format={},vdev={},access={}{},target={}",
            self.format.name(),
            self.vdev,
            if self.read_only { "ro" } else { "rw" },
            if self.cdrom { ",devtype=cdrom" } else { "" },
            self.target.display()
        )
    }
}

/// The IDE slot (0 to 3) a vdev names: `hda`..`hdd`, `sda`..`sdd`,
/// `xvda`..`xvdd`.
pub fn ide_index(vdev: &str) -> Option<usize> {
    let letter = vdev
        .strip_prefix("xvd")
        .or_else(|| vdev.strip_prefix("hd"))
        .or_else(|| vdev.strip_prefix("sd"))?;
    match letter {
        "a" => Some(0),
        "b" => Some(1),
        "c" => Some(2),
        "d" => Some(3),
        _ => None,
    }
}

/// Reads a disk spec: positional `target,format,vdev,access` or the
/// `key=value` form (`target=` last, as it may hold commas).
pub fn parse_disk(spec: &str) -> Result<Disk, DiskSpecError> {
    let bad = |fault: DiskFault| DiskSpecError {
        spec: spec.to_string(),
        fault,
    };
    let mut target = None;
    let mut format = Format::Raw;
    let mut vdev = None;
    let mut read_only = false;
    let mut cdrom = false;
    let mut positional = 0;
    let mut rest = spec.trim();
    while !rest.is_empty() {
        if let Some(t) = rest.strip_prefix("target=") {
            target = Some(t.trim().to_string());
            break;
        }
        let (item, more) = rest.split_once(',').unwrap_or((rest, ""));
        rest = more.trim_start();
        let item = item.trim();
        // Bare keywords are flags, never positional parts.
        if item == "cdrom" {
            cdrom = true;
            continue;
        }
        let (key, val) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => {
                positional += 1;
                match positional {
                    1 => ("target", item),
                    2 => ("format", item),
                    3 => ("vdev", item),
                    4 => ("access", item),
                    _ => return Err(bad(DiskFault::TooManyParts)),
                }
            }
        };
        match key {
            "target" => target = Some(val.to_string()),
            "format" => {
                format = Format::from_name(val).ok_or_else(|| {
                    bad(DiskFault::Format {
                        name: val.to_string(),
                        known: Format::ALL.map(Format::name).join(", "),
                    })
                })?;
            }
            "vdev" => {
                // The legacy `hdc:cdrom` spelling.
                let (v, kind) = val.split_once(':').unwrap_or((val, ""));
                match kind {
                    "" => {}
                    "cdrom" => cdrom = true,
                    "disk" => {}
                    o => {
                        return Err(bad(DiskFault::VdevKind {
                            vdev: val.to_string(),
                            kind: o.to_string(),
                        }));
                    }
                }
                vdev = Some(v.to_string());
            }
            "access" => {
                read_only = match val {
                    "ro" | "r" => true,
                    "rw" | "w" | "" => false,
                    o => return Err(bad(DiskFault::Access(o.to_string()))),
                }
            }
            "devtype" => {
                cdrom = match val {
                    "cdrom" => true,
                    "disk" | "" => false,
                    o => return Err(bad(DiskFault::Devtype(o.to_string()))),
                }
            }
            k => return Err(bad(DiskFault::Unsupported(k.to_string()))),
        }
    }
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad(DiskFault::NoTarget))?;
    let vdev = vdev.ok_or_else(|| bad(DiskFault::NoVdev))?;
    ide_index(&vdev).ok_or_else(|| bad(DiskFault::NoSlot(vdev.clone())))?;
    if cdrom {
        read_only = true;
    }
    Ok(Disk {
        target: PathBuf::from(target),
        format,
        vdev,
        read_only,
        cdrom,
    })
}

#[cfg(test)]
mod tests {
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
}
