//! Memory sizes with libvirt's units, to whole MiB.

use super::Why;

const MIB: u64 = 1 << 20;

/// The bytes in one `unit` (compared without case, as libvirt does);
/// `None` for a unit libvirt does not know or this subset does not take.
fn scale(unit: &str) -> Option<u64> {
    let u = unit.to_ascii_lowercase();
    let s = match u.as_str() {
        "b" | "byte" | "bytes" => 1,
        "kb" => 1000,
        "k" | "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "m" | "mib" => MIB,
        "gb" => 1000 * 1000 * 1000,
        "g" | "gib" => 1 << 30,
        "tb" => 1000 * 1000 * 1000 * 1000,
        "t" | "tib" => 1 << 40,
        _ => return None,
    };
    Some(s)
}

/// Cuts a peer's value to 64 characters for an error message.
pub(super) fn shown(v: &str) -> String {
    v.chars().take(64).collect()
}

/// The unit's name is wrong.
pub(super) fn bad_unit(unit: &str) -> Why {
    Why::Value {
        value: shown(unit),
        expected: "b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T or TiB",
    }
}

/// Checks a unit's name.
pub(super) fn check_unit(unit: &str) -> Result<(), Why> {
    scale(unit).map(|_| ()).ok_or_else(|| bad_unit(unit))
}

/// `value` in `unit` (absent: KiB) as whole MiB, at least one.
pub(super) fn to_mib(value: &str, unit: Option<&str>) -> Result<u64, Why> {
    let scale = match unit {
        None => 1 << 10,
        Some(u) => scale(u).ok_or_else(|| bad_unit(u))?,
    };
    let v = value.trim();
    let n: u64 = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse().ok()
    } else {
        None
    }
    .ok_or_else(|| Why::Value {
        value: shown(value),
        expected: "a whole number",
    })?;
    let bytes = n.checked_mul(scale).ok_or(Why::Value {
        value: shown(value),
        expected: "a size below 16 EiB",
    })?;
    if bytes == 0 || bytes % MIB != 0 {
        return Err(Why::Value {
            value: shown(value),
            expected: "a whole number of MiB, at least one",
        });
    }
    Ok(bytes / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_as_libvirts() {
        assert_eq!(to_mib("1048576", None).expect("KiB"), 1024);
        assert_eq!(to_mib("512", Some("MiB")).expect("MiB"), 512);
        assert_eq!(to_mib("512", Some("M")).expect("M"), 512);
        assert_eq!(to_mib("2", Some("GiB")).expect("GiB"), 2048);
        assert_eq!(to_mib("2", Some("g")).expect("g"), 2048);
        assert_eq!(to_mib("1", Some("TiB")).expect("TiB"), 1 << 20);
        assert_eq!(to_mib("1048576", Some("bytes")).expect("bytes"), 1);
        assert_eq!(to_mib("1024", Some("KiB")).expect("KiB"), 1);
        assert_eq!(to_mib("1024", Some("k")).expect("k"), 1);
        // 1000-based units are whole MiB only when they happen to be.
        assert_eq!(to_mib("1048576", Some("KB")).expect("KB"), 1000);
        assert!(to_mib("1", Some("GB")).is_err(), "1 GB is not whole MiB");
        assert!(to_mib("1", Some("MB")).is_err());
    }

    #[test]
    fn bad_sizes_are_refused() {
        for (v, u) in [
            ("0", None),
            ("1000", None),
            ("-1", None),
            ("1.5", Some("GiB")),
            ("", None),
            ("99999999999999999999", None),
            ("18446744073709551615", Some("TiB")),
            ("1", Some("PiB")),
            ("1", Some("pages")),
        ] {
            assert!(to_mib(v, u).is_err(), "{v} {u:?} accepted");
        }
    }
}
