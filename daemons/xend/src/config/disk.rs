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

/// Whether a positional part reads as a vdev (`hda`, `xvdb`, `sdc`, with
/// an optional `:KIND`): the deprecated syntax leaves the format out, so
/// its second part is the vdev.
fn looks_like_vdev(item: &str) -> bool {
    let base = item.split(':').next().unwrap_or("");
    ["xvd", "hd", "sd"].iter().any(|p| {
        base.strip_prefix(p)
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase()))
    })
}

/// A target with its deprecated prefixes (xl-disk-configuration(5),
/// "Deprecated Parameters, Prefixes And Syntaxes") read off.
struct Prefixed<'a> {
    /// What is left: the path.
    path: &'a str,
    /// Whether it had any prefix (the deprecated syntax then leaves the
    /// format out: the next part is the vdev unless it names a format).
    any: bool,
    /// `phy:` (a block device; a relative path is under /dev, as xm had it).
    phy: bool,
    /// The format a `raw:` or `qcow2:` prefix names.
    format: Option<Format>,
}

/// Reads the prefixes off a positional target: `phy:`, `file:`, `tap:`,
/// `tap2:`, `aio:`, `tapdisk:`, `ioemu:` say how xend of old reached the
/// image and mean nothing here (every image is opened by xend and handed
/// over as an fd); `raw:` and `qcow2:` name the format (`tap:aio:`,
/// `tap:qcow2:`, ... are two of them). A prefix is a word of letters and
/// digits before a `:`; the path is what follows the last one (a path
/// starting with `/` has none). A target given as `target=` is taken as
/// written, prefixes and all, as xl-disk-configuration(5) says.
fn prefixes(mut t: &str) -> Result<Prefixed<'_>, DiskFault> {
    let mut p = Prefixed {
        path: t,
        any: false,
        phy: false,
        format: None,
    };
    while let Some((word, rest)) = t.split_once(':') {
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphanumeric()) {
            break;
        }
        match word {
            "phy" => p.phy = true,
            "file" | "tap" | "tap2" | "aio" | "tapdisk" | "ioemu" => {}
            "raw" | "qcow2" => {
                let f = Format::from_name(word).unwrap_or(Format::Raw);
                if let Some(had) = p.format.filter(|had| *had != f) {
                    return Err(DiskFault::FormatTwice {
                        first: had.name(),
                        second: f.name(),
                    });
                }
                p.format = Some(f);
            }
            "qcow" | "vhd" | "qed" => return Err(format_fault(word)),
            "iscsi" | "nbd" | "enbd" | "drbd" => {
                return Err(DiskFault::ScriptPrefix(word.to_string()));
            }
            w => return Err(DiskFault::UnknownPrefix(w.to_string())),
        }
        p.any = true;
        // `phy: /dev/x` is `phy:/dev/x`: a positional part is read
        // trimmed, and so is each part of it.
        t = rest.trim_start();
    }
    p.path = t;
    Ok(p)
}

fn format_fault(name: &str) -> DiskFault {
    DiskFault::Format {
        name: name.to_string(),
        known: Format::ALL.map(Format::name).join(", "),
    }
}

/// Flags xl-disk-configuration(5) has that this stack does not act on.
const FLAGS_NOT_ACTED_ON: &[&str] = &[
    "direct-io-safe",
    "discard",
    "no-discard",
    "trusted",
    "untrusted",
    "colo",
];

/// Reads a disk spec (xl-disk-configuration(5)): positional
/// `target,format,vdev,access`, the `key=value` form (`target=` last, as
/// it may hold commas), the `cdrom` flag, and the deprecated syntax of
/// xm-era configs: `[PREFIX:]target,vdev[:cdrom],access` (a prefix, or a
/// second part that reads as a vdev, leaves the format out), e.g.
/// `phy:/dev/vg0/web01,hda,w` or `file:/iso/x.iso,hdc:cdrom,r`.
///
/// Positional parts fill the parts not yet given, in that order. The
/// format may be given once (a prefix, a part or `format=`; the same one
/// again is no matter). An empty target is an empty CD-ROM drive in xl;
/// it is refused here ([`DiskFault::EmptyCdrom`]): every drive is backed
/// by an image xend opens and hands over, and the device model gets no
/// drive without one.
pub fn parse_disk(spec: &str) -> Result<Disk, DiskSpecError> {
    let bad = |fault: DiskFault| DiskSpecError {
        spec: spec.to_string(),
        fault,
    };
    let mut target = None;
    let mut format: Option<Format> = None;
    let mut vdev = None;
    let mut read_only = false;
    let mut cdrom = false;
    // Which of target, format, vdev, access are given.
    let mut given = [false; 4];
    // Whether the target had a deprecated prefix.
    let mut prefixed = false;
    let mut set_format = |f: Format| match format {
        Some(had) if had != f => Err(DiskFault::FormatTwice {
            first: had.name(),
            second: f.name(),
        }),
        _ => {
            format = Some(f);
            Ok(())
        }
    };
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
        if FLAGS_NOT_ACTED_ON.contains(&item) {
            return Err(bad(DiskFault::Unsupported(item.to_string())));
        }
        let (key, val) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => {
                let mut slot = given
                    .iter()
                    .position(|g| !g)
                    .ok_or_else(|| bad(DiskFault::TooManyParts))?;
                if slot == 1
                    && Format::from_name(item).is_none()
                    && (prefixed || looks_like_vdev(item))
                {
                    given[1] = true;
                    slot = 2;
                }
                if given[slot] {
                    return Err(bad(DiskFault::TooManyParts));
                }
                given[slot] = true;
                match slot {
                    0 => {
                        let p = prefixes(item).map_err(bad)?;
                        if let Some(f) = p.format {
                            set_format(f).map_err(bad)?;
                        }
                        // The deprecated syntax has no format part: what
                        // follows is the vdev unless it names a format.
                        prefixed = p.any;
                        target = Some(if p.phy && !p.path.is_empty() && !p.path.starts_with('/') {
                            format!("/dev/{}", p.path)
                        } else {
                            p.path.to_string()
                        });
                        continue;
                    }
                    1 => ("format", item),
                    2 => ("vdev", item),
                    _ => ("access", item),
                }
            }
        };
        match key {
            "target" => target = Some(val.to_string()),
            "format" => {
                if !val.is_empty() {
                    let f = Format::from_name(val).ok_or_else(|| bad(format_fault(val)))?;
                    set_format(f).map_err(bad)?;
                }
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
        if let Some(i) = ["target", "format", "vdev", "access"]
            .iter()
            .position(|k| *k == key)
        {
            given[i] = true;
        }
    }
    let target = match target.filter(|t| !t.is_empty()) {
        Some(t) => t,
        None if cdrom => return Err(bad(DiskFault::EmptyCdrom)),
        None => return Err(bad(DiskFault::NoTarget)),
    };
    let vdev = vdev.ok_or_else(|| bad(DiskFault::NoVdev))?;
    ide_index(&vdev).ok_or_else(|| bad(DiskFault::NoSlot(vdev.clone())))?;
    if cdrom {
        read_only = true;
    }
    Ok(Disk {
        target: PathBuf::from(target),
        format: format.unwrap_or(Format::Raw),
        vdev,
        read_only,
        cdrom,
    })
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
