//! The keys of an HVM machine a config may carry besides its disks: the
//! network cards (`vif`), the boot order (`boot`), USB devices
//! (`usbdevice`) and the privileges its device model may keep
//! (`device_model_privileges`). Each reader returns what it read or the
//! fault and the place of the value at fault; [`super::domain`] puts them
//! in the [`super::DomainConfig`].

use super::error::{BootFault, DomainFault, Fault, Pos, VifSpecError};
use super::syntax::{Value, quoted};
use super::vif::{UsbDevice, Vif, parse_vif};

/// A fault and where it is.
pub type Placed = (Pos, Fault);

fn at(pos: Pos, f: impl Into<Fault>) -> Placed {
    (pos, f.into())
}

/// What `vif` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cards {
    /// The cards, in order.
    pub vifs: Vec<Vif>,
    /// The keys of their specs not acted on, as `vif:KEY` at the place of
    /// their spec (see [`super::vif::VIF_NOT_ACTED_ON`]).
    pub unsupported: Vec<(String, Pos)>,
}

/// `vif`'s cards: at most [`super::vif::MAX_NICS`], no two with one MAC.
pub fn vifs(v: &Value, pos: Pos) -> Result<Cards, Placed> {
    let Value::List(items) = v else {
        return Err(at(pos, DomainFault::VifNotAList));
    };
    if items.len() > super::vif::MAX_NICS {
        let (_, p) = items[super::vif::MAX_NICS];
        return Err(at(
            p,
            DomainFault::TooManyVifs {
                max: super::vif::MAX_NICS,
            },
        ));
    }
    let mut cards: Vec<Vif> = Vec::with_capacity(items.len());
    let mut unsupported = Vec::new();
    for (item, ipos) in items {
        let Value::Str(spec) = item else {
            return Err(at(*ipos, DomainFault::VifSpecNotAString));
        };
        let read = parse_vif(spec).map_err(|fault| {
            at(
                *ipos,
                VifSpecError {
                    spec: spec.clone(),
                    fault,
                },
            )
        })?;
        if let Some(m) = read.vif.mac
            && cards.iter().any(|c| c.mac == Some(m))
        {
            return Err(at(
                *ipos,
                DomainFault::MacTaken {
                    spec: spec.clone(),
                    mac: m.to_string(),
                },
            ));
        }
        unsupported.extend(
            read.not_acted_on
                .iter()
                .map(|k| (format!("vif:{k}"), *ipos)),
        );
        cards.push(read.vif);
    }
    Ok(Cards {
        vifs: cards,
        unsupported,
    })
}

/// Checks a `boot` order: each of `c` (disk), `d` (CD-ROM) and `n`
/// (network) at most once, at least one (qemu's `-boot order=` has the
/// same letters, and refuses one given twice).
pub fn boot(s: &str) -> Result<(), BootFault> {
    if s.is_empty() {
        return Err(BootFault::Empty);
    }
    for (i, ch) in s.char_indices() {
        if !matches!(ch, 'c' | 'd' | 'n') {
            return Err(BootFault::Letter(ch));
        }
        if s[..i].contains(ch) {
            return Err(BootFault::Twice(ch));
        }
    }
    Ok(())
}

/// `usbdevice`: one name or a list of them, each once.
pub fn usbdevices(v: &Value, pos: Pos) -> Result<Vec<UsbDevice>, Placed> {
    let items: Vec<(&Value, Pos)> = match v {
        Value::List(items) => items.iter().map(|(v, p)| (v, *p)).collect(),
        one => vec![(one, pos)],
    };
    let mut out = Vec::new();
    for (item, ipos) in items {
        let Value::Str(name) = item else {
            return Err(at(ipos, DomainFault::UsbdeviceNotAString));
        };
        let d = UsbDevice::from_name(name).ok_or_else(|| {
            at(
                ipos,
                DomainFault::BadUsbdevice {
                    value: quoted(name),
                },
            )
        })?;
        if out.contains(&d) {
            return Err(at(ipos, DomainFault::UsbdeviceTwice(name.clone())));
        }
        out.push(d);
    }
    Ok(out)
}

/// Why a device model may not be given `p`: what it would let the device
/// model do, by the capabilities behind it (so a name the table backs
/// with the same capability gets the same reason), or its kind.
fn refusal(p: privlib::names::PrivId) -> &'static str {
    use privlib::caps::{CapMask, num};
    use privlib::names::Backing;
    let info = p.info();
    let caps = info.caps();
    let any = |c: &[u8]| !caps.intersect(CapMask::of(c)).is_empty();
    match info.backing {
        Backing::Seccomp(_) | Backing::Landlock(_) => {
            "is a basic privilege: the device model's sandbox (seccomp, Landlock) decides it, not this list"
        }
        Backing::Shim => "would let the device model drive the stack's daemons",
        Backing::Unenforced(_) => "has nothing behind it on Linux",
        Backing::Caps(_) if any(&[num::SYS_ADMIN]) => {
            "would give the device model CAP_SYS_ADMIN: mounts, namespaces and most of root's power"
        }
        Backing::Caps(_) if any(&[num::SETUID, num::SETGID, num::SETPCAP]) => {
            "would let the device model change its ids"
        }
        Backing::Caps(_) if any(&[num::DAC_OVERRIDE, num::DAC_READ_SEARCH, num::FOWNER]) => {
            "would bypass file permissions"
        }
        Backing::Caps(_) if any(&[num::CHOWN, num::FSETID, num::SETFCAP]) => {
            "would let the device model give files away or make them set-id"
        }
        Backing::Caps(_) if any(&[num::NET_ADMIN]) => "would configure the host's network",
        Backing::Caps(_) if any(&[num::NET_RAW, num::NET_BROADCAST, num::NET_BIND_SERVICE]) => {
            "would let the device model use the network itself (it has only the taps xend hands it)"
        }
        Backing::Caps(_) if any(&[num::KILL, num::SYS_PTRACE]) => {
            "would let the device model signal and trace other users' processes"
        }
        Backing::Caps(_) if any(&[num::SYS_CHROOT]) => {
            "would let the device model change the root it runs in"
        }
        Backing::Caps(_)
            if any(&[
                num::SYS_MODULE,
                num::SYS_BOOT,
                num::SYS_RAWIO,
                num::MKNOD,
                num::SYS_TIME,
                num::SYSLOG,
                num::BPF,
                num::PERFMON,
                num::MAC_ADMIN,
                num::MAC_OVERRIDE,
                num::AUDIT_CONTROL,
                num::LINUX_IMMUTABLE,
            ]) =>
        {
            "would let the device model change the host's kernel, devices or system settings"
        }
        Backing::Caps(_) => "is not one a device model needs",
    }
}

/// `device_model_privileges`: one name, a comma-separated string of
/// names, or a list of them; `none` alone (or `[]`) is the default, none.
/// Each must be in [`crate::features::DM_GRANTABLE`]; any other is
/// refused with the reason (what it would let the device model do), and
/// a word privlib's table does not have as an unknown privilege. Names
/// are kept as the table spells them (lower case, no `priv_`), each
/// once, in order.
pub fn dm_privileges(v: &Value, pos: Pos) -> Result<Vec<String>, Placed> {
    let items: Vec<(&Value, Pos)> = match v {
        Value::List(items) => items.iter().map(|(v, p)| (v, *p)).collect(),
        one => vec![(one, pos)],
    };
    let grantable = crate::features::DM_GRANTABLE;
    let mut out: Vec<String> = Vec::new();
    for (item, ipos) in items {
        let Value::Str(s) = item else {
            return Err(at(ipos, DomainFault::DmPrivilegesNotStrings));
        };
        if s.trim() == "none" {
            continue;
        }
        for word in s.split(',').map(str::trim) {
            let p = privlib::names::lookup(word)
                .ok_or_else(|| at(ipos, DomainFault::UnknownPrivilege { name: quoted(word) }))?;
            let name = p.name();
            if !grantable.split(',').any(|g| g == name) {
                return Err(at(
                    ipos,
                    DomainFault::DmPrivilegeRefused {
                        name: name.to_string(),
                        why: refusal(p),
                        grantable,
                    },
                ));
            }
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "hvm_tests.rs"]
mod tests;
