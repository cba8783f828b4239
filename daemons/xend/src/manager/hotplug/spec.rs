//! What a hot-plug request names, read as a config's entries are: the
//! disk of `block-attach TARGET VDEV MODE` ([`disk_of`]), the card of
//! `network-attach SPEC` ([`vif_of`]), a card number ([`devid_of`]).

use super::{HotplugError, MAX_TARGET, MAX_VIF_SPEC};
use crate::config::{self, Vif};

/// The disk `block-attach TARGET VDEV MODE` names: the spec a config
/// would have, read as a config's is ([`config::parse_disk`]): a target
/// with a prefix (`phy:`, `file:`, `tap:aio:`) in the xm-era positional
/// form `TARGET,VDEV,MODE`, a plain path as `target=` (which may hold
/// commas). The vdev and mode are words: nothing of the spec's syntax
/// can come in through them.
pub fn disk_of(
    domid: u32,
    target: &str,
    vdev: &str,
    mode: &str,
) -> Result<config::Disk, HotplugError> {
    let field = |what, value: &str, why| HotplugError::Field {
        domid,
        what,
        value: value.to_string(),
        why,
    };
    let word = |what, v: &str, ok: fn(char) -> bool| {
        if v.is_empty() || v.len() > 32 || !v.chars().all(ok) {
            return Err(field(what, v, "a word of letters and digits"));
        }
        Ok(())
    };
    word("vdev", vdev, |c| c.is_ascii_alphanumeric() || c == ':')?;
    word("mode", mode, |c| c.is_ascii_lowercase() || c == '!')?;
    if target.len() > MAX_TARGET {
        return Err(field(
            "target",
            &target.chars().take(64).collect::<String>(),
            "longer than a path may be (4096 bytes)",
        ));
    }
    let spec = if target.starts_with('/') {
        format!("vdev={vdev},access={mode},target={target}")
    } else if target.contains(',') {
        return Err(field(
            "target",
            target,
            "a prefixed target (phy:, file:) has no comma; give a plain absolute path",
        ));
    } else {
        format!("{target},{vdev},{mode}")
    };
    config::parse_disk(&spec).map_err(|source| HotplugError::Spec { domid, source })
}

/// The card `network-attach DOMAIN SPEC` names, read as a config's
/// `vif` entry is ([`config::vif::parse_vif`]); a key the stack does not
/// act on is refused here (there is no place to report it).
pub fn vif_of(domid: u32, spec: &str) -> Result<Vif, HotplugError> {
    let bad = |why: String| HotplugError::VifSpec {
        domid,
        spec: spec.to_string(),
        why,
    };
    if spec.len() > MAX_VIF_SPEC {
        return Err(HotplugError::VifSpec {
            domid,
            spec: spec.chars().take(64).collect(),
            why: format!("longer than {MAX_VIF_SPEC} bytes"),
        });
    }
    let v = config::vif::parse_vif(spec).map_err(|e| bad(e.to_string()))?;
    if let Some(k) = v.not_acted_on.first() {
        return Err(bad(format!("{k} is not acted on here")));
    }
    Ok(v.vif)
}

/// The card number `network-detach DOMAIN DEVID` names.
pub fn devid_of(domid: u32, devid: &str) -> Result<u32, HotplugError> {
    devid.parse().map_err(|_| HotplugError::NotAttached {
        domid,
        what: "network card",
        device: devid.to_string(),
    })
}

/// Two vdevs name the same guest disk: the same name, or the same IDE
/// slot (`hdb`, `sdb` and `xvdb` are one disk, as in Xen).
pub(super) fn same_vdev(a: &str, b: &str) -> bool {
    a == b || config::ide_index(a).is_some_and(|i| config::ide_index(b) == Some(i))
}
