//! Domain UUIDs: made at random (version 4) and checked in the one
//! written form xend keeps (`8-4-4-4-12` lowercase or uppercase hex).

use std::io::Read;

/// Why no UUID could be made.
#[derive(Debug, thiserror::Error)]
#[error("/dev/urandom: {0}")]
pub struct UuidError(#[source] std::io::Error);

/// A random (version 4, RFC 4122 variant) UUID.
pub fn random() -> Result<String, UuidError> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(UuidError)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    ))
}

/// Whether `u` is a UUID written `8-4-4-4-12` in hex.
pub fn is_valid(u: &str) -> bool {
    let groups: Vec<&str> = u.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|ch| ch.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ones_are_valid_and_differ() {
        let (a, b) = (random().expect("a"), random().expect("b"));
        assert!(is_valid(&a) && is_valid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn only_the_8_4_4_4_12_form_is_valid() {
        assert!(is_valid("6F0C9A5E-1D2B-4C3D-9E8F-0123456789AB"));
        for bad in [
            "",
            "6f0c9a5e1d2b4c3d9e8f0123456789ab",
            "6f0c9a5e-1d2b-4c3d-9e8f-0123456789a",
            "6f0c9a5e-1d2b-4c3d-9e8f-0123456789ag",
            "6f0c9a5-e1d2b-4c3d-9e8f-0123456789ab",
            "------------------------------------",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
