//! A domain's typed [`Definition`] (what virtd sends to `domain.define`
//! and reads from `domain.definition`) to and from the [`DomainConfig`]
//! an xl.cfg file gives.
//!
//! A definition becomes a config through [`to_config`], which is then
//! printed as xl.cfg ([`DomainConfig::to_text`]) and stored and checked
//! as any `xm new` config is: one set of rules for both. Keys a
//! definition does not carry get xl.cfg's defaults
//! ([`DomainConfig::defaults`]): no TCP serial, no USB, no device-model
//! privileges, no `maxvcpus`.

use std::path::PathBuf;

use crate::api::{DefAction, DefDisk, DefFormat, DefNic, DefNicModel, DefVnc, Definition};
use crate::config::disk::Disk;
use crate::config::{Action, DomainConfig, Format, Mac, MacFault, NicModel, Vif};

/// Why a definition is no config.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// A card's MAC does not read as one.
    #[error("card {index}: mac {mac:?}: {fault}")]
    Mac {
        /// The card's place, from 0.
        index: usize,
        /// What was sent.
        mac: String,
        /// Why.
        #[source]
        fault: MacFault,
    },
}

fn action(a: DefAction) -> Action {
    match a {
        DefAction::Destroy => Action::Destroy,
        DefAction::Restart => Action::Restart,
        DefAction::Preserve => Action::Preserve,
    }
}

fn def_action(a: Action) -> DefAction {
    match a {
        Action::Destroy => DefAction::Destroy,
        Action::Restart => DefAction::Restart,
        Action::Preserve => DefAction::Preserve,
    }
}

fn model(m: DefNicModel) -> NicModel {
    match m {
        DefNicModel::E1000 => NicModel::E1000,
        DefNicModel::VirtioNet => NicModel::VirtioNet,
        DefNicModel::Rtl8139 => NicModel::Rtl8139,
    }
}

fn def_model(m: NicModel) -> DefNicModel {
    match m {
        NicModel::E1000 => DefNicModel::E1000,
        NicModel::VirtioNet => DefNicModel::VirtioNet,
        NicModel::Rtl8139 => DefNicModel::Rtl8139,
    }
}

/// The config a definition stands for (not yet checked: xend prints it
/// as xl.cfg and parses that, as for any stored config).
pub fn to_config(d: &Definition) -> Result<DomainConfig, DefinitionError> {
    let mut vifs = Vec::with_capacity(d.nics.len());
    for (index, n) in d.nics.iter().enumerate() {
        let mac = match &n.mac {
            None => None,
            Some(m) => Some(Mac::parse(m).map_err(|fault| DefinitionError::Mac {
                index,
                mac: m.clone(),
                fault,
            })?),
        };
        vifs.push(Vif {
            bridge: n.bridge.clone(),
            mac,
            model: model(n.model),
        });
    }
    let disks = d
        .disks
        .iter()
        .map(|k| Disk {
            target: PathBuf::from(&k.target),
            format: match k.format {
                DefFormat::Raw => Format::Raw,
                DefFormat::Qcow2 => Format::Qcow2,
            },
            vdev: k.vdev.clone(),
            read_only: k.read_only,
            cdrom: k.cdrom,
        })
        .collect();
    let mut c = DomainConfig::defaults();
    c.name = d.name.clone();
    c.uuid = d.uuid.clone();
    c.memory_mib = d.memory_mib;
    c.vcpus = d.vcpus;
    c.kernel = d.kernel.clone();
    c.ramdisk = d.ramdisk.clone();
    c.cmdline = d.cmdline.clone();
    c.boot = d.boot.clone();
    c.acpi = d.acpi;
    c.apic = d.apic;
    c.on_poweroff = action(d.on_poweroff);
    c.on_reboot = action(d.on_reboot);
    c.on_crash = action(d.on_crash);
    c.disks = disks;
    c.vifs = vifs;
    c.serial = if d.serial_pty { "pty" } else { "none" }.to_string();
    match &d.vnc {
        Some(v) => {
            c.vnc = true;
            c.vnclisten = v.listen.clone();
            c.vncdisplay = v.display;
        }
        None => c.vnc = false,
    }
    Ok(c)
}

/// The definition of a config. What a definition cannot say (a TCP
/// serial port, USB, device-model privileges) is left out: virtd shows
/// such a domain without them.
pub fn from_config(c: &DomainConfig) -> Definition {
    Definition {
        name: c.name.clone(),
        uuid: c.uuid.clone(),
        memory_mib: c.memory_mib,
        vcpus: c.vcpus,
        kernel: c.kernel.clone(),
        ramdisk: c.ramdisk.clone(),
        cmdline: c.cmdline.clone(),
        boot: c.boot.clone(),
        acpi: c.acpi,
        apic: c.apic,
        on_poweroff: def_action(c.on_poweroff),
        on_reboot: def_action(c.on_reboot),
        on_crash: def_action(c.on_crash),
        disks: c
            .disks
            .iter()
            .map(|k| DefDisk {
                target: k.target.display().to_string(),
                format: match k.format {
                    Format::Raw => DefFormat::Raw,
                    Format::Qcow2 => DefFormat::Qcow2,
                },
                vdev: k.vdev.clone(),
                read_only: k.read_only,
                cdrom: k.cdrom,
            })
            .collect(),
        nics: c
            .vifs
            .iter()
            .map(|v| DefNic {
                bridge: v.bridge.clone(),
                mac: v.mac.map(|m| m.to_string()),
                model: def_model(v.model),
            })
            .collect(),
        serial_pty: c.serial == "pty",
        vnc: c.vnc.then(|| DefVnc {
            listen: c.vnclisten.clone(),
            display: c.vncdisplay,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn def() -> Definition {
        Definition {
            name: "web".into(),
            uuid: Some("4dea22b3-1d52-d8f3-2516-782e98ab3fa0".into()),
            memory_mib: 256,
            vcpus: 2,
            kernel: Some("/var/lib/xen/images/vmlinuz".into()),
            ramdisk: Some("/var/lib/xen/images/initrd".into()),
            cmdline: Some("console=ttyS0 quiet".into()),
            boot: "c".into(),
            acpi: true,
            apic: false,
            on_poweroff: DefAction::Destroy,
            on_reboot: DefAction::Restart,
            on_crash: DefAction::Preserve,
            disks: vec![
                DefDisk {
                    target: "/var/lib/xen/images/web.qcow2".into(),
                    format: DefFormat::Qcow2,
                    vdev: "hda".into(),
                    read_only: false,
                    cdrom: false,
                },
                DefDisk {
                    target: "/var/lib/xen/images/boot.iso".into(),
                    format: DefFormat::Raw,
                    vdev: "hdc".into(),
                    read_only: true,
                    cdrom: true,
                },
            ],
            nics: vec![
                DefNic {
                    bridge: Some("xenbr0".into()),
                    mac: Some("00:16:3e:12:34:56".into()),
                    model: DefNicModel::VirtioNet,
                },
                DefNic {
                    bridge: None,
                    mac: None,
                    model: DefNicModel::E1000,
                },
            ],
            serial_pty: true,
            vnc: Some(DefVnc {
                listen: "127.0.0.1".into(),
                display: Some(3),
            }),
        }
    }

    #[test]
    fn a_definition_goes_through_xl_cfg_and_back_unchanged() {
        let d = def();
        let text = to_config(&d).expect("a config").to_text();
        let c = crate::config::parse(Path::new("domain.define"), &text).expect("parses");
        assert_eq!(from_config(&c), d, "{text}");
        let mut bare = def();
        bare.vnc = None;
        bare.serial_pty = false;
        bare.nics.clear();
        bare.disks.clear();
        bare.uuid = None;
        let text = to_config(&bare).expect("a config").to_text();
        let c = crate::config::parse(Path::new("domain.define"), &text).expect("parses");
        assert_eq!(from_config(&c), bare, "{text}");
    }

    #[test]
    fn a_bad_mac_is_refused_naming_the_card() {
        let mut d = def();
        d.nics[1].mac = Some("01:00:5e:00:00:01".into());
        let e = to_config(&d).expect_err("multicast");
        assert!(
            e.to_string()
                .starts_with("card 1: mac \"01:00:5e:00:00:01\": a multicast"),
            "{e}"
        );
    }

    #[test]
    fn what_xl_cfg_checks_is_checked_for_a_definition_too() {
        let mut d = def();
        d.name = "a\nb".into();
        let text = to_config(&d).expect("a config").to_text();
        assert!(crate::config::parse(Path::new("domain.define"), &text).is_err());
    }
}
