//! A [`DomainConfig`] printed back as xl.cfg text
//! ([`DomainConfig::to_text`]): every string quoted, so it reads back as
//! the same config.

use super::domain::DomainConfig;
use super::syntax::quoted;

impl DomainConfig {
    /// The config as xl.cfg text (what `xm create -n` prints, and what
    /// xend creates the domain from again on reboot and on a crash with
    /// `on_crash = "restart"`). Every string is printed with [`quoted`],
    /// so for every config [`parse`](super::parse) returns, parsing this text gives the
    /// same config back (but for the keys not acted on, and `vnclisten`
    /// and `vncdisplay` when VNC is off, which are left out); and whatever
    /// a config holds, no string printed ends early or adds a statement.
    pub fn to_text(&self) -> String {
        let mut t = format!("name = {}\ntype = \"hvm\"\n", quoted(&self.name));
        if let Some(u) = &self.uuid {
            t.push_str(&format!("uuid = {}\n", quoted(u)));
        }
        t.push_str(&format!(
            "memory = {}\nvcpus = {}\n",
            self.memory_mib, self.vcpus
        ));
        if let Some(m) = self.maxvcpus {
            t.push_str(&format!("maxvcpus = {m}\n"));
        }
        if !self.disks.is_empty() {
            let d: Vec<String> = self.disks.iter().map(|d| quoted(&d.to_spec())).collect();
            t.push_str(&format!("disk = [ {} ]\n", d.join(", ")));
        }
        if !self.vifs.is_empty() {
            let v: Vec<String> = self.vifs.iter().map(|v| quoted(&v.to_spec())).collect();
            t.push_str(&format!("vif = [ {} ]\n", v.join(", ")));
        }
        t.push_str(&format!(
            "boot = {}\nacpi = {}\napic = {}\nusb = {}\n",
            quoted(&self.boot),
            u8::from(self.acpi),
            u8::from(self.apic),
            u8::from(self.usb)
        ));
        if !self.usbdevices.is_empty() {
            let u: Vec<String> = self.usbdevices.iter().map(|d| quoted(d.name())).collect();
            t.push_str(&format!("usbdevice = [ {} ]\n", u.join(", ")));
        }
        for (key, v) in [
            ("kernel", &self.kernel),
            ("ramdisk", &self.ramdisk),
            ("cmdline", &self.cmdline),
        ] {
            if let Some(v) = v {
                t.push_str(&format!("{key} = {}\n", quoted(v)));
            }
        }
        t.push_str(&format!("serial = {}\n", quoted(&self.serial)));
        t.push_str(&format!("vnc = {}\n", u8::from(self.vnc)));
        if self.vnc {
            t.push_str(&format!("vnclisten = {}\n", quoted(&self.vnclisten)));
            if let Some(d) = self.vncdisplay {
                t.push_str(&format!("vncdisplay = {d}\n"));
            }
        }
        t.push_str(&format!(
            "on_poweroff = \"{}\"\non_reboot = \"{}\"\non_crash = \"{}\"\n",
            self.on_poweroff.name(),
            self.on_reboot.name(),
            self.on_crash.name()
        ));
        if !self.dm_privileges.is_empty() {
            let p: Vec<String> = self.dm_privileges.iter().map(|p| quoted(p)).collect();
            t.push_str(&format!("device_model_privileges = [ {} ]\n", p.join(", ")));
        }
        t
    }
}
