//! Structures several procedures share.
//!
//! # Format
//! `remote_nonnull_domain`: `remote_nonnull_string name` (at most
//! [`MAX_NAME`] here), `remote_uuid uuid` (16 bytes), `int id` (-1: not
//! running).

use crate::xdr::{Dec, Enc, XdrError};

/// The longest domain name virtd reads.
pub const MAX_NAME: usize = 256;
/// The longest other string argument (a URI, a console's name).
pub const MAX_STRING: usize = 4096;
/// The longest domain XML virtd reads (`REMOTE_STRING_MAX` is 4 MiB; the
/// subset virtd reads fits in far less).
pub const MAX_XML: usize = 256 * 1024;

/// A domain as the protocol names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRef {
    /// Its name.
    pub name: String,
    /// Its UUID's 16 bytes.
    pub uuid: [u8; 16],
    /// Its id; -1 when it is not running.
    pub id: i32,
}

impl DomainRef {
    /// Reads a `remote_nonnull_domain`.
    pub fn decode(d: &mut Dec<'_>) -> Result<DomainRef, XdrError> {
        let name = d.string("domain name", MAX_NAME)?.to_string();
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(d.fixed("domain uuid", 16)?);
        let id = d.i32("domain id")?;
        Ok(DomainRef { name, uuid, id })
    }

    /// Writes it.
    pub fn encode(&self, e: &mut Enc) {
        e.string(&self.name).fixed(&self.uuid).i32(self.id);
    }
}

/// The 16 bytes of a UUID written `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
/// (32 hex digits, dashes anywhere ignored); `None` if it is not one.
pub fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// A UUID's text form.
pub fn uuid_string(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_reads_back_and_uuids_convert_both_ways() {
        let u = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0";
        let b = uuid_bytes(u).expect("a uuid");
        assert_eq!(uuid_string(&b), u);
        assert_eq!(uuid_bytes("4dea22b31d52d8f32516782e98ab3fa0"), Some(b));
        assert_eq!(uuid_bytes("nope"), None);
        let r = DomainRef {
            name: "web".into(),
            uuid: b,
            id: -1,
        };
        let mut e = Enc::new();
        r.encode(&mut e);
        let bytes = e.into_bytes();
        let mut d = Dec::new(&bytes);
        assert_eq!(DomainRef::decode(&mut d), Ok(r));
        assert_eq!(d.finish("domain"), Ok(()));
    }
}
