//! A domain's definition, typed: what a config says, as virtd (and any
//! other client that must not read xl.cfg) sends it to `domain.define`
//! and reads it back from `domain.definition`; and the autostart flag
//! xend keeps beside a managed config (`domain.autostart`).
//!
//! xend turns a [`Definition`] into the same `DomainConfig` an xl.cfg
//! file gives and checks it with the same rules, so a definition refused
//! here is refused for the same reason an xl.cfg would be.

use serde::{Deserialize, Serialize};

/// What happens when the guest powers off, reboots or crashes (xl.cfg's
/// `on_poweroff`, `on_reboot`, `on_crash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefAction {
    /// The domain goes away.
    Destroy,
    /// It starts again.
    Restart,
    /// It is kept, stopped.
    Preserve,
}

/// A disk image's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefFormat {
    /// Raw bytes.
    Raw,
    /// qcow2.
    Qcow2,
}

/// One disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefDisk {
    /// The image: a file's or block device's absolute path.
    pub target: String,
    /// Its format.
    pub format: DefFormat,
    /// The guest's name for it (`hda`, `xvda`, `sdb`, ...).
    pub vdev: String,
    /// Read-only.
    pub read_only: bool,
    /// A CD-ROM.
    pub cdrom: bool,
}

/// An emulated network card's model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefNicModel {
    /// Intel e1000.
    E1000,
    /// virtio-net.
    VirtioNet,
    /// Realtek 8139.
    Rtl8139,
}

/// One network card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefNic {
    /// The bridge its tap joins (system mode); `None`: user networking
    /// (passt, session mode).
    pub bridge: Option<String>,
    /// Its MAC, `xx:xx:xx:xx:xx:xx`; `None`: xend chooses one at start.
    pub mac: Option<String>,
    /// Its model.
    pub model: DefNicModel,
}

/// The VNC screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefVnc {
    /// The address it listens on (`vnclisten`; `127.0.0.1` is behind the
    /// `virt_manage` gate).
    pub listen: String,
    /// Its display (port 5900 + display); `None`: chosen at start.
    pub display: Option<u32>,
}

/// A domain's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Its name.
    pub name: String,
    /// Its UUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub uuid: Option<String>,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Direct boot: the kernel's path.
    pub kernel: Option<String>,
    /// Direct boot: the initial ramdisk's path.
    pub ramdisk: Option<String>,
    /// Direct boot: the kernel's command line.
    pub cmdline: Option<String>,
    /// Boot order, xl.cfg's letters (`c` disk, `d` CD-ROM, `n` network).
    pub boot: String,
    /// ACPI.
    pub acpi: bool,
    /// APIC.
    pub apic: bool,
    /// On power-off.
    pub on_poweroff: DefAction,
    /// On reboot.
    pub on_reboot: DefAction,
    /// On crash.
    pub on_crash: DefAction,
    /// Disks, in order.
    pub disks: Vec<DefDisk>,
    /// Network cards, in order.
    pub nics: Vec<DefNic>,
    /// A serial port on a pty (the console daemon's): xl.cfg's
    /// `serial = "pty"`; `false` is `serial = "none"`.
    pub serial_pty: bool,
    /// The VNC screen, if it has one.
    pub vnc: Option<DefVnc>,
}

/// Parameters of `domain.define`: `{"definition": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefineParams {
    /// The definition to keep as a managed domain (replacing one of
    /// the same name that is not running).
    pub definition: Definition,
}

/// Parameters of `domain.autostart`: `{"domain", "set"}`; `set` absent
/// or `null` only asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutostartParams {
    /// A managed domain's name.
    pub domain: String,
    /// The new value, or `None` to ask.
    #[serde(default)]
    pub set: Option<bool>,
}

/// The answer to `domain.autostart`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autostart {
    /// The managed domain.
    pub name: String,
    /// Whether xend starts it when xend starts.
    pub autostart: bool,
}
