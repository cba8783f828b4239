//! What a domain config means: [`DomainConfig`] read from xl.cfg
//! statements ([`super::syntax`]), every value checked.
//!
//! Keys this stack does not act on are reported by name (with their
//! place), never dropped silently; a PV guest is refused with a clear
//! message, as only HVM guests run here. No value acted on may hold a
//! control character, and [`DomainConfig::to_text`] prints every string
//! escaped, so what it prints reads back as the same config.
//!
//! Where its gates listen (`serial`'s TCP address, `vnclisten`) is read
//! in [`super::listen`]; the printing is in [`super::text`].

use std::path::Path;

use super::disk::{Disk, ide_index, parse_disk};
use super::error::{ConfigError, DomainFault, Pos};
use super::hvm;
use super::listen::{check_vnclisten, parse_serial};
use super::syntax::{Value, parse_statements, quoted};
use super::vif::{UsbDevice, Vif};

pub use super::action::Action;
pub use super::listen::TcpListen;

/// A domain's configuration, as this stack runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// `name`.
    pub name: String,
    /// `uuid`, if given.
    pub uuid: Option<String>,
    /// `memory`, in MiB.
    pub memory_mib: u64,
    /// `vcpus`.
    pub vcpus: u32,
    /// `disk`.
    pub disks: Vec<Disk>,
    /// `serial` as written: `pty` (the console daemon's pty), `none`,
    /// `tcp:HOST:PORT`, or qemu's `telnet:HOST:PORT[,server][,nowait]`.
    pub serial: String,
    /// Where the console daemon listens for `serial`'s TCP form (the
    /// device model never does: it keeps no network socket).
    pub serial_tcp: Option<TcpListen>,
    /// `kernel`: a Linux kernel for direct kernel boot, beneath an image
    /// directory (opened by xend, handed to qemu as an fd).
    pub kernel: Option<String>,
    /// `ramdisk`: its initial ramdisk (needs `kernel`).
    pub ramdisk: Option<String>,
    /// `cmdline` (or the legacy `root` and `extra`, joined as xl does):
    /// the kernel's command line (needs `kernel`).
    pub cmdline: Option<String>,
    /// `vnc`, or `sdl = 1`: the device model reaches no display server
    /// (no network, no files but its own), so SDL's window is shown the
    /// one way it can be, through xend's VNC gate.
    pub vnc: bool,
    /// `vnclisten` (`127.0.0.1`, or an address the administrator chose):
    /// where xend's VNC gate listens (`HOST[:PORT]`; qemu itself listens
    /// nowhere).
    pub vnclisten: String,
    /// `vncdisplay`, if fixed.
    pub vncdisplay: Option<u32>,
    /// `on_poweroff`.
    pub on_poweroff: Action,
    /// `on_reboot`.
    pub on_reboot: Action,
    /// `on_crash`.
    pub on_crash: Action,
    /// `vif`: the network cards, in order (card N is `vifDOMID.N`).
    pub vifs: Vec<Vif>,
    /// `boot`: the boot order as xl.cfg spells it (`c` disk, `d` CD-ROM,
    /// `n` network), e.g. `"dc"` to install from the CD first.
    pub boot: String,
    /// `acpi`.
    pub acpi: bool,
    /// `apic`.
    pub apic: bool,
    /// `maxvcpus` (`None`: as `vcpus`).
    pub maxvcpus: Option<u32>,
    /// `usb`: a USB controller.
    pub usb: bool,
    /// `usbdevice` (one or a list): devices on that controller.
    pub usbdevices: Vec<UsbDevice>,
    /// `device_model_privileges`: the privileges the device model may
    /// keep, from the short list xend accepts (default: none, `deny`).
    pub dm_privileges: Vec<String>,
    /// Keys present but not acted on here, with where they are; a key of
    /// a `vif` spec not acted on is `vif:KEY`, placed at its spec, and
    /// Xen's firmware loader named as the kernel is `kernel=hvmloader`.
    pub unsupported: Vec<(String, Pos)>,
}

/// Keys xl.cfg has that this stack knows it does not act on (they are
/// reported, not refused).
const KNOWN_UNSUPPORTED: &[&str] = &[
    "maxmem",
    "cpus",
    "pci",
    "bootloader",
    "pae",
    "viridian",
    "videoram",
    "vga",
    "stdvga",
    "soundhw",
    "localtime",
    "nographic",
    "keymap",
    "device_model_version",
    "device_model_override",
    "seclabel",
    "vtpm",
    "vfb",
    "channel",
    "rdm",
    "shadow_memory",
    "hap",
    "nestedhvm",
    "cpuid",
    "timer_mode",
    "hpet",
    "xen_platform_pci",
    "tsc_mode",
    // Keys of xm-era HVM configs (Xen's xmexample.hvm).
    "device_model",
    "opengl",
    "vncconsole",
    "vncpasswd",
    "vncunused",
    "rtc_timeoffset",
    "monitor",
    "vpt_align",
    "usbversion",
    "usbctrl",
    "usbdev",
];

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Str(s) => s.trim().parse().ok(),
        Value::List(_) => None,
    }
}

fn as_text(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// The first control character in `s` (C0, DEL or C1), if any.
fn control(s: &str) -> Option<char> {
    s.chars().find(|ch| ch.is_control())
}

impl DomainConfig {
    /// What a config that sets nothing but its name gets: xl.cfg's
    /// defaults as this stack applies them (no name yet).
    pub fn defaults() -> DomainConfig {
        DomainConfig {
            name: String::new(),
            uuid: None,
            memory_mib: 128,
            vcpus: 1,
            disks: Vec::new(),
            serial: "pty".into(),
            serial_tcp: None,
            kernel: None,
            ramdisk: None,
            cmdline: None,
            vnc: false,
            vnclisten: "127.0.0.1".into(),
            vncdisplay: None,
            on_poweroff: Action::Destroy,
            on_reboot: Action::Restart,
            on_crash: Action::Destroy,
            vifs: Vec::new(),
            boot: "cd".into(),
            acpi: true,
            apic: true,
            maxvcpus: None,
            usb: false,
            usbdevices: Vec::new(),
            dm_privileges: Vec::new(),
            unsupported: Vec::new(),
        }
    }
}

/// Parses a domain config read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<DomainConfig, ConfigError> {
    let stmts = parse_statements(file, text)?;
    let err = |pos: Pos, fault: DomainFault| ConfigError {
        file: file.to_path_buf(),
        pos,
        fault: fault.into(),
    };
    let mut c = DomainConfig::defaults();
    let mut name_seen = false;
    // `sdl = 1`, `maxvcpus` and where it is: settled after every key.
    let mut sdl = false;
    let mut maxvcpus_at = Pos::START;
    let placed = |(pos, fault): hvm::Placed| ConfigError {
        file: file.to_path_buf(),
        pos,
        fault,
    };
    let mut hvm = false;
    // `cmdline`, or else the legacy `root` and `extra` (xl.cfg(5)).
    let (mut cmdline, mut root, mut extra) = (None::<String>, None::<String>, None::<String>);
    // The first key that needs `kernel`, and where it is.
    let mut needs_kernel: Option<(String, Pos)> = None;
    for (key, v, pos) in &stmts {
        // No value acted on holds a control character: none has any use
        // for one, and each would reach names, paths and the text
        // `to_text` prints. (Keys not acted on are only reported.)
        if !KNOWN_UNSUPPORTED.contains(&key.as_str()) {
            let one = |s: &str, at: Pos| match control(s) {
                Some(ch) => Err(err(
                    at,
                    DomainFault::ControlChar {
                        key: key.clone(),
                        value: quoted(s),
                        code: u32::from(ch),
                    },
                )),
                None => Ok(()),
            };
            match v {
                Value::Str(s) => one(s, *pos)?,
                Value::Int(_) => {}
                Value::List(items) => {
                    for (item, at) in items {
                        if let Value::Str(s) = item {
                            one(s, *at)?;
                        }
                    }
                }
            }
        }
        let want_str = |what: &'static str| {
            as_text(v).map(str::to_string).ok_or_else(|| {
                err(
                    *pos,
                    DomainFault::NotAString {
                        key: key.clone(),
                        what,
                    },
                )
            })
        };
        let want_int = |lo: i64, hi: i64| {
            int(v).filter(|i| (lo..=hi).contains(i)).ok_or_else(|| {
                err(
                    *pos,
                    DomainFault::OutOfRange {
                        key: key.clone(),
                        lo,
                        hi,
                        value: v.to_string(),
                    },
                )
            })
        };
        match key.as_str() {
            "name" => {
                let n = want_str("the domain's name")?;
                if n.is_empty()
                    || n.len() > 64
                    || !n
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
                {
                    return Err(err(*pos, DomainFault::BadName(n)));
                }
                c.name = n;
                name_seen = true;
            }
            "type" | "builder" => {
                let t = want_str("hvm")?;
                match t.as_str() {
                    "hvm" => hvm = true,
                    "generic" if key == "builder" => {}
                    "pv" | "pvh" | "linux" => {
                        return Err(err(
                            *pos,
                            DomainFault::PvGuest {
                                key: key.clone(),
                                value: t,
                            },
                        ));
                    }
                    o => {
                        return Err(err(
                            *pos,
                            DomainFault::UnknownType {
                                key: key.clone(),
                                value: o.to_string(),
                            },
                        ));
                    }
                }
            }
            "memory" => c.memory_mib = u64::try_from(want_int(16, 1 << 20)?).unwrap_or(128),
            "vcpus" => c.vcpus = u32::try_from(want_int(1, 128)?).unwrap_or(1),
            "uuid" => {
                let u = want_str("a UUID")?;
                if !crate::uuid::is_valid(&u) {
                    return Err(err(*pos, DomainFault::BadUuid(u)));
                }
                c.uuid = Some(u.to_lowercase());
            }
            "disk" => {
                let Value::List(items) = v else {
                    return Err(err(*pos, DomainFault::DiskNotAList));
                };
                for (item, ipos) in items {
                    let spec =
                        as_text(item).ok_or_else(|| err(*ipos, DomainFault::DiskSpecNotAString))?;
                    let disk = parse_disk(spec).map_err(|fault| ConfigError {
                        file: file.to_path_buf(),
                        pos: *ipos,
                        fault: fault.into(),
                    })?;
                    if c.disks
                        .iter()
                        .any(|d| ide_index(&d.vdev) == ide_index(&disk.vdev))
                    {
                        return Err(err(
                            *ipos,
                            DomainFault::SlotTaken {
                                spec: spec.to_string(),
                                vdev: disk.vdev,
                            },
                        ));
                    }
                    c.disks.push(disk);
                }
            }
            "serial" => {
                let s = match v {
                    Value::List(items) if items.len() == 1 => {
                        as_text(&items[0].0).map(str::to_string)
                    }
                    _ => as_text(v).map(str::to_string),
                }
                .ok_or_else(|| err(*pos, DomainFault::SerialNotAString))?;
                c.serial_tcp = parse_serial(&s).map_err(|why| {
                    err(
                        *pos,
                        DomainFault::BadSerial {
                            value: quoted(&s),
                            why,
                        },
                    )
                })?;
                c.serial = s;
            }
            "kernel" | "ramdisk" => {
                let f = want_str("a file beneath an image directory")?;
                if !f.starts_with('/') {
                    return Err(err(
                        *pos,
                        DomainFault::NotAbsolute {
                            key: key.clone(),
                            value: quoted(&f),
                        },
                    ));
                }
                if key == "kernel" && Path::new(&f).file_name() == Some("hvmloader".as_ref()) {
                    // xm-era HVM configs name Xen's firmware loader as
                    // their kernel: qemu's own firmware plays its part
                    // here, so it is reported, and the guest boots as
                    // if it were not there.
                    c.unsupported.push(("kernel=hvmloader".into(), *pos));
                } else if key == "kernel" {
                    c.kernel = Some(f);
                } else {
                    needs_kernel.get_or_insert((key.clone(), *pos));
                    c.ramdisk = Some(f);
                }
            }
            "cmdline" | "root" | "extra" => {
                let v = want_str("the kernel's command line")?;
                needs_kernel.get_or_insert((key.clone(), *pos));
                match key.as_str() {
                    "cmdline" => cmdline = Some(v),
                    "root" => root = Some(v),
                    _ => extra = Some(v),
                }
            }
            "vnc" => c.vnc = want_int(0, 1)? == 1,
            "vnclisten" => {
                let l = want_str("an address")?;
                check_vnclisten(&l).map_err(|why| {
                    err(
                        *pos,
                        DomainFault::BadVnclisten {
                            value: quoted(&l),
                            why,
                        },
                    )
                })?;
                c.vnclisten = l;
            }
            "vncdisplay" => c.vncdisplay = Some(u32::try_from(want_int(0, 99)?).unwrap_or(0)),
            "on_poweroff" | "on_reboot" | "on_crash" => {
                let a = want_str("destroy, restart or preserve")?;
                let act = Action::parse(&a).ok_or_else(|| {
                    err(
                        *pos,
                        DomainFault::BadAction {
                            key: key.clone(),
                            value: a.clone(),
                        },
                    )
                })?;
                match key.as_str() {
                    "on_poweroff" => c.on_poweroff = act,
                    "on_reboot" if act != Action::Restart => {
                        return Err(err(*pos, DomainFault::RebootNotRestart(a)));
                    }
                    "on_reboot" => c.on_reboot = act,
                    _ => c.on_crash = act,
                }
            }
            "vif" => {
                let cards = hvm::vifs(v, *pos).map_err(placed)?;
                c.vifs = cards.vifs;
                c.unsupported.extend(cards.unsupported);
            }
            "boot" => {
                let b = want_str("the boot order, such as \"dc\"")?;
                hvm::boot(&b).map_err(|why| {
                    err(
                        *pos,
                        DomainFault::BadBoot {
                            value: quoted(&b),
                            why,
                        },
                    )
                })?;
                c.boot = b;
            }
            "acpi" => c.acpi = want_int(0, 1)? == 1,
            "apic" => c.apic = want_int(0, 1)? == 1,
            "maxvcpus" => {
                c.maxvcpus = Some(u32::try_from(want_int(1, 128)?).unwrap_or(1));
                maxvcpus_at = *pos;
            }
            "usb" => c.usb = want_int(0, 1)? == 1,
            "usbdevice" => c.usbdevices = hvm::usbdevices(v, *pos).map_err(placed)?,
            // The device model has no way to a display server (no network,
            // no files but its own), so `sdl = 1` shows the guest's screen
            // the one way it can: through xend's VNC gate, on loopback
            // unless `vnclisten` says otherwise.
            "sdl" => sdl = want_int(0, 1)? == 1,
            "device_model_privileges" => {
                c.dm_privileges = hvm::dm_privileges(v, *pos).map_err(placed)?;
            }
            k if KNOWN_UNSUPPORTED.contains(&k) => c.unsupported.push((k.to_string(), *pos)),
            k => {
                return Err(err(*pos, DomainFault::UnknownKey(k.to_string())));
            }
        }
    }
    if !name_seen {
        return Err(err(Pos::START, DomainFault::NoName));
    }
    if !hvm {
        return Err(err(Pos::START, DomainFault::NoHvm));
    }
    if let Some(m) = c.maxvcpus.filter(|m| *m < c.vcpus) {
        return Err(err(
            maxvcpus_at,
            DomainFault::MaxvcpusBelowVcpus {
                maxvcpus: m,
                vcpus: c.vcpus,
            },
        ));
    }
    // A USB device needs the controller it sits on.
    c.usb |= !c.usbdevices.is_empty();
    c.vnc |= sdl;
    if let (None, Some((key, at))) = (&c.kernel, needs_kernel) {
        return Err(err(at, DomainFault::NeedsKernel(key)));
    }
    // As xl: `cmdline` wins; else "root=ROOT EXTRA".
    c.cmdline = cmdline.or_else(|| {
        let parts: Vec<String> = root
            .map(|r| format!("root={r}"))
            .into_iter()
            .chain(extra)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    Ok(c)
}

#[cfg(test)]
#[path = "domain_tests.rs"]
mod tests;
