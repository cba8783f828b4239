//! Network cards (`vif`, xl-network-configuration(5)) and the machine
//! keys HVM configs carry (`usbdevice`): the types a parsed config holds.

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
