//! Network cards (`vif`, xl-network-configuration(5)) and the machine
//! keys HVM configs carry (`usbdevice`): the types a parsed config holds.

/// Network cards a domain may have.
pub const MAX_NICS: usize = 8;

/// The emulated card a guest sees (`model=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicModel {
    /// Intel e1000 (Xen's default for HVM).
    E1000,
    /// virtio-net (`virtio-net` or `virtio`).
    VirtioNet,
    /// Realtek 8139 (`rtl8139`).
    Rtl8139,
}

impl NicModel {
    /// Its name in a vif spec.
    pub fn name(self) -> &'static str {
        match self {
            NicModel::E1000 => "e1000",
            NicModel::VirtioNet => "virtio-net",
            NicModel::Rtl8139 => "rtl8139",
        }
    }

    /// qemu's device for it (`-device NAME`).
    pub fn qemu_device(self) -> &'static str {
        match self {
            NicModel::E1000 => "e1000",
            NicModel::VirtioNet => "virtio-net-pci",
            NicModel::Rtl8139 => "rtl8139",
        }
    }
}

/// A MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// One network card (`vif = [ '...' ]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vif {
    /// `bridge=`: the host bridge its tap joins (system mode; `None`: the
    /// default bridge, `xenbr0`). Session mode uses passt instead.
    pub bridge: Option<String>,
    /// `mac=` (`None`: one from Xen's 00:16:3e prefix, chosen at start).
    pub mac: Option<Mac>,
    /// `model=`.
    pub model: NicModel,
}

/// A USB device qemu emulates (`usbdevice`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsbDevice {
    /// An absolute pointer (what VNC needs).
    Tablet,
    /// A relative mouse.
    Mouse,
    /// A keyboard.
    Keyboard,
}

impl UsbDevice {
    /// Its xl.cfg name.
    pub fn name(self) -> &'static str {
        match self {
            UsbDevice::Tablet => "tablet",
            UsbDevice::Mouse => "mouse",
            UsbDevice::Keyboard => "keyboard",
        }
    }
}

impl NicModel {
    /// Every model, for messages.
    pub const ALL: [NicModel; 3] = [NicModel::E1000, NicModel::VirtioNet, NicModel::Rtl8139];

    /// The model `name` names in a vif spec (`virtio` is virtio-net).
    pub fn from_name(name: &str) -> Option<NicModel> {
        match name {
            "virtio" => Some(NicModel::VirtioNet),
            n => NicModel::ALL.into_iter().find(|m| m.name() == n),
        }
    }
}

impl Mac {
    /// Reads `XX:XX:XX:XX:XX:XX` (six pairs of hex digits, either case,
    /// separated by colons, as xl-network-configuration(5) writes it): a
    /// unicast address (a guest's card cannot have a group address), not
    /// all zeros.
    pub fn parse(s: &str) -> Result<Mac, MacFault> {
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for octet in &mut m {
            let p = parts.next().ok_or(MacFault::Syntax)?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MacFault::Syntax);
            }
            *octet = u8::from_str_radix(p, 16).map_err(|_| MacFault::Syntax)?;
        }
        if parts.next().is_some() {
            return Err(MacFault::Syntax);
        }
        if m[0] & 1 == 1 {
            return Err(MacFault::Multicast);
        }
        if m == [0; 6] {
            return Err(MacFault::Zero);
        }
        Ok(Mac(m))
    }
}

/// What is wrong with a `mac=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MacFault {
    /// Not six pairs of hex digits separated by `:`.
    #[error("six pairs of hex digits separated by ':', such as 00:16:3e:12:34:56")]
    Syntax,
    /// The group bit (the lowest bit of the first octet) is set.
    #[error(
        "a multicast address (the first octet is odd); a card's address is unicast, such as 00:16:3e:.."
    )]
    Multicast,
    /// 00:00:00:00:00:00.
    #[error("all zeros is no card's address")]
    Zero,
}

/// What is wrong with a vif spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VifFault {
    /// An item that is neither `KEY=VALUE` nor a flag vifs have.
    #[error("\"{0}\" is not KEY=VALUE")]
    NotKeyValue(String),
    /// A key xl-network-configuration(5) does not have.
    #[error("unknown key \"{0}\" (see xl-network-configuration(5))")]
    UnknownKey(String),
    /// A `mac=` that is not a card's address.
    #[error("mac \"{value}\": {why}")]
    Mac {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        why: MacFault,
    },
    /// A `bridge=` that is no interface name.
    #[error(
        "bridge \"{0}\": an interface name is 1 to 15 letters, digits, '-', '_' or '.' (not . or ..)"
    )]
    Bridge(String),
    /// A `model=` qemu is not given here.
    #[error("model \"{0}\": e1000, virtio-net (or virtio) or rtl8139")]
    Model(String),
    /// A `type=` other than ioemu or vif.
    #[error("type \"{0}\": ioemu or vif")]
    Type(String),
}

/// Keys (and the flags `trusted`, `untrusted`) xl-network-configuration(5)
/// has that this stack does not act on: each is reported as `vif:KEY` at
/// the spec's place, once per card, and the card is made without it.
pub const VIF_NOT_ACTED_ON: &[&str] = &[
    "gatewaydev",
    "vifname",
    "script",
    "ip",
    "backend",
    "rate",
    "devid",
    "mtu",
    "trusted",
    "untrusted",
    "forwarddev",
    "accel",
];

/// The hotplug script xend ran for a card on a bridge: what xend does
/// itself here, so `script=` naming it is acted on, not reported.
const VIF_BRIDGE: [&str; 2] = ["vif-bridge", "/etc/xen/scripts/vif-bridge"];

/// Whether `b` can name a Linux network interface: 1 to 15 (IFNAMSIZ - 1)
/// bytes of letters, digits, `-`, `_` and `.`, not `.` or `..` (the
/// kernel's dev_valid_name, narrowed to what bridge names use).
fn is_ifname(b: &str) -> bool {
    (1..=15).contains(&b.len())
        && b != "."
        && b != ".."
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A card as its spec, and the keys of it not acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VifSpec {
    /// The card.
    pub vif: Vif,
    /// The keys of [`VIF_NOT_ACTED_ON`] it has, each once, in order.
    pub not_acted_on: Vec<&'static str>,
}

/// Reads a vif spec (xl-network-configuration(5)): comma-separated
/// `KEY=VALUE` items, every key optional (`''` is one card with every
/// default). Acted on: `bridge=`, `mac=`, `model=`, `type=ioemu|vif`
/// (both are an emulated card here: this stack has no paravirtual
/// devices) and `script=vif-bridge` (what xend does itself). A key given
/// twice keeps its last value, as in xl.
pub fn parse_vif(spec: &str) -> Result<VifSpec, VifFault> {
    let mut vif = Vif {
        bridge: None,
        mac: None,
        model: NicModel::E1000,
    };
    let mut not_acted_on: Vec<&'static str> = Vec::new();
    let mut report = |key: &str| {
        if let Some(k) = VIF_NOT_ACTED_ON.iter().find(|k| **k == key)
            && !not_acted_on.contains(k)
        {
            not_acted_on.push(k);
        }
    };
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, val)) = item.split_once('=') else {
            if matches!(item, "trusted" | "untrusted") {
                report(item);
                continue;
            }
            return Err(VifFault::NotKeyValue(item.to_string()));
        };
        let (key, val) = (key.trim(), val.trim());
        match key {
            "bridge" => {
                if !is_ifname(val) {
                    return Err(VifFault::Bridge(val.to_string()));
                }
                vif.bridge = Some(val.to_string());
            }
            "mac" => {
                vif.mac = Some(Mac::parse(val).map_err(|why| VifFault::Mac {
                    value: val.to_string(),
                    why,
                })?);
            }
            "model" => {
                vif.model =
                    NicModel::from_name(val).ok_or_else(|| VifFault::Model(val.to_string()))?;
            }
            "type" => {
                if !matches!(val, "ioemu" | "vif") {
                    return Err(VifFault::Type(val.to_string()));
                }
            }
            "script" if VIF_BRIDGE.contains(&val) => {}
            k if VIF_NOT_ACTED_ON.contains(&k) && !matches!(k, "trusted" | "untrusted") => {
                report(k);
            }
            k => return Err(VifFault::UnknownKey(k.to_string())),
        }
    }
    Ok(VifSpec { vif, not_acted_on })
}

impl Vif {
    /// The card as a spec [`parse_vif`] reads back as this card.
    pub fn to_spec(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = &self.bridge {
            parts.push(format!("bridge={b}"));
        }
        if let Some(m) = self.mac {
            parts.push(format!("mac={m}"));
        }
        parts.push(format!("model={}", self.model.name()));
        parts.join(",")
    }
}

impl UsbDevice {
    /// Every device, for messages.
    pub const ALL: [UsbDevice; 3] = [UsbDevice::Tablet, UsbDevice::Mouse, UsbDevice::Keyboard];

    /// The device `name` names.
    pub fn from_name(name: &str) -> Option<UsbDevice> {
        UsbDevice::ALL.into_iter().find(|d| d.name() == name)
    }

    /// qemu's device for it (`-device NAME`).
    pub fn qemu_device(self) -> &'static str {
        match self {
            UsbDevice::Tablet => "usb-tablet",
            UsbDevice::Mouse => "usb-mouse",
            UsbDevice::Keyboard => "usb-kbd",
        }
    }
}
