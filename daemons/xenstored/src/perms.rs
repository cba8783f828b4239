//! Node permissions: `n`, `r`, `w` or `b` followed by a domid. The first
//! entry names the owner, who may do everything, and is the default for
//! every domain not listed after it.

use crate::wire::XsError;

/// What an entry allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `n`: nothing.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: both.
    Both,
}

impl Access {
    fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }

    /// Whether this allows `want` (Read or Write).
    pub fn allows(self, want: Access) -> bool {
        self == Access::Both || self == want
    }
}

/// One entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    /// What it allows.
    pub access: Access,
    /// To which domain.
    pub domid: u32,
}

/// A node's permission list: never empty. The owner entry is kept inline
/// and the rest boxed, so the usual one-entry list costs no allocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Perms {
    first: Perm,
    rest: Box<[Perm]>,
}

impl Perms {
    /// Owned by `domid`, nothing for others (`n<domid>`).
    pub fn owner(domid: u32) -> Perms {
        Perms {
            first: Perm {
                access: Access::None,
                domid,
            },
            rest: Box::new([]),
        }
    }

    /// Reads entries like `r5`; the number as C's `strtol(s, 0)` would
    /// take it (decimal, `0x` hex, leading-0 octal), whole and in range.
    pub fn parse(entries: &[&[u8]]) -> Result<Perms, XsError> {
        let mut v = Vec::with_capacity(entries.len());
        for e in entries {
            let (&letter, num) = e.split_first().ok_or(XsError::Einval)?;
            let access = match letter {
                b'n' => Access::None,
                b'r' => Access::Read,
                b'w' => Access::Write,
                b'b' => Access::Both,
                _ => return Err(XsError::Einval),
            };
            let s = std::str::from_utf8(num).map_err(|_| XsError::Einval)?;
            let domid = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                u32::from_str_radix(h, 16)
            } else if s.len() > 1 && s.starts_with('0') {
                u32::from_str_radix(&s[1..], 8)
            } else {
                s.parse::<u32>()
            }
            .map_err(|_| XsError::Einval)?;
            v.push(Perm { access, domid });
        }
        let mut it = v.into_iter();
        let first = it.next().ok_or(XsError::Einval)?;
        Ok(Perms {
            first,
            rest: it.collect(),
        })
    }

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// Never: a list always has its owner entry (for clippy's sake).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The entries, owner first.
    pub fn entries(&self) -> impl Iterator<Item = &Perm> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }

    /// The owner's domid.
    pub fn owner_id(&self) -> u32 {
        self.first.domid
    }

    /// The same list with the owner replaced.
    #[must_use]
    pub fn with_owner(&self, domid: u32) -> Perms {
        let mut p = self.clone();
        p.first.domid = domid;
        p
    }

    /// Whether unprivileged `domid` may `want` (Read or Write).
    pub fn allows(&self, domid: u32, want: Access) -> bool {
        if self.first.domid == domid {
            return true;
        }
        let entry = self
            .rest
            .iter()
            .find(|p| p.domid == domid)
            .unwrap_or(&self.first);
        entry.access.allows(want)
    }

    /// The wire form: `r5\0n0\0...`.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in self.entries() {
            out.extend_from_slice(format!("{}{}", p.access.letter(), p.domid).as_bytes());
            out.push(0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_wire_form() {
        let p = Perms::parse(&[b"n0", b"r5", b"b0x10", b"w010"]).expect("parses");
        assert_eq!(p.to_wire(), b"n0\0r5\0b16\0w8\0");
        for bad in [&b""[..], b"x1", b"r", b"r-1", b"r5x", b"r99999999999"] {
            assert_eq!(Perms::parse(&[bad]), Err(XsError::Einval), "{bad:?}");
        }
        assert_eq!(Perms::parse(&[]), Err(XsError::Einval));
    }

    #[test]
    fn the_owner_may_do_everything_and_the_first_entry_is_the_default() {
        let p = Perms::parse(&[b"n3", b"r5", b"w6"]).expect("parses");
        assert!(p.allows(3, Access::Write) && p.allows(3, Access::Read));
        assert!(p.allows(5, Access::Read) && !p.allows(5, Access::Write));
        assert!(p.allows(6, Access::Write) && !p.allows(6, Access::Read));
        assert!(!p.allows(7, Access::Read), "default n");
        let q = Perms::parse(&[b"r3"]).expect("parses");
        assert!(q.allows(9, Access::Read) && !q.allows(9, Access::Write));
    }
}
