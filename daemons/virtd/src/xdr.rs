//! XDR (RFC 4506), the encoding of libvirt's remote protocol, as far as
//! the procedures virtd serves use it.
//!
//! Hand-written rather than generated: libvirt generates its codec from
//! `.x` files with rpcgen, which no Rust crate of note reproduces, and
//! the handful of rules below (big-endian 4-byte units, lengths before
//! bytes, padding to 4) are shorter than any binding. Every length a
//! peer sends is checked against what is left of the packet and against
//! the caller's bound before anything is allocated.
//!
//! # Format
//! - `int`, `unsigned int`, `bool`, `enum`: 4 bytes, big-endian; a bool
//!   is 0 or 1, nothing else.
//! - `hyper`, `unsigned hyper`: 8 bytes, big-endian.
//! - `string<N>`, `opaque<N>`: a 4-byte length, the bytes, zero padding
//!   to a multiple of 4.
//! - `opaque[N]` (a UUID): N bytes and padding, no length.
//! - `char[N]` (libvirt's `remote_node_get_info_ret.model`): N `int`s, a
//!   character each: the quirk of rpcgen's `xdr_char`.
//! - `T *` (optional): a bool, then T when it is 1.
//! - `T<N>` (array): a 4-byte count, then the elements.

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    /// The packet ended inside a value.
    #[error("XDR: {what} needs {need} bytes at offset {at}, {left} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Where.
        at: usize,
        /// Bytes left.
        left: usize,
    },
    /// A length or count beyond its bound.
    #[error("XDR: {what} of {len} is over its bound of {max}")]
    TooLong {
        /// What was being read.
        what: &'static str,
        /// The length sent.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// A bool that is neither 0 nor 1.
    #[error("XDR: {what} is {value}, not a bool")]
    BadBool {
        /// What was being read.
        what: &'static str,
        /// The value sent.
        value: u32,
    },
    /// A string that is not UTF-8, or holds a NUL.
    #[error("XDR: {what} is not a UTF-8 string without NUL")]
    BadString {
        /// What was being read.
        what: &'static str,
    },
    /// Padding that is not zero.
    #[error("XDR: {what} has non-zero padding")]
    BadPadding {
        /// What was being read.
        what: &'static str,
    },
    /// Bytes left over after the value.
    #[error("XDR: {left} bytes left over after {what}")]
    Trailing {
        /// What was read.
        what: &'static str,
        /// Bytes left.
        left: usize,
    },
}

fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Builds XDR bytes.
#[derive(Debug, Default, Clone)]
pub struct Enc {
    buf: Vec<u8>,
}

impl Enc {
    /// An empty encoder.
    pub fn new() -> Enc {
        Enc::default()
    }

    /// The bytes so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Their length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// An `unsigned int`.
    pub fn u32(&mut self, v: u32) -> &mut Enc {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// An `int`.
    pub fn i32(&mut self, v: i32) -> &mut Enc {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// An `unsigned hyper`.
    pub fn u64(&mut self, v: u64) -> &mut Enc {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `hyper`.
    pub fn i64(&mut self, v: i64) -> &mut Enc {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A `bool`.
    pub fn bool(&mut self, v: bool) -> &mut Enc {
        self.u32(u32::from(v))
    }

    /// A variable-length `opaque<>` (the caller keeps it within the
    /// protocol's bound; a length past `u32` cannot be sent and is cut,
    /// which no caller reaches: packets are bounded far below).
    pub fn opaque(&mut self, v: &[u8]) -> &mut Enc {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.fixed(v)
    }

    /// A `string<>`.
    pub fn string(&mut self, v: &str) -> &mut Enc {
        self.opaque(v.as_bytes())
    }

    /// An optional string (`remote_string`): absent, or present.
    pub fn opt_string(&mut self, v: Option<&str>) -> &mut Enc {
        match v {
            None => self.bool(false),
            Some(s) => self.bool(true).string(s),
        }
    }

    /// A fixed-length `opaque[N]`: the bytes and their padding.
    pub fn fixed(&mut self, v: &[u8]) -> &mut Enc {
        self.buf.extend_from_slice(v);
        self.buf.extend(std::iter::repeat_n(0, pad(v.len())));
        self
    }

    /// A `char[N]`: each of `N` characters as an `int` (NUL-filled).
    pub fn chars(&mut self, v: &str, n: usize) -> &mut Enc {
        let bytes = v.as_bytes();
        for i in 0..n {
            let c = bytes.get(i).copied().unwrap_or(0);
            // rpcgen's xdr_char sends a C `char` (signed here) as an int.
            self.i32(i32::from(c.cast_signed()));
        }
        self
    }
}

/// Reads XDR bytes, every length checked.
#[derive(Debug, Clone)]
pub struct Dec<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Dec<'a> {
    /// A decoder over `buf`.
    pub fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf, at: 0 }
    }

    /// Bytes not yet read.
    pub fn left(&self) -> usize {
        self.buf.len() - self.at
    }

    /// Refuses bytes left over after `what`.
    pub fn finish(&self, what: &'static str) -> Result<(), XdrError> {
        match self.left() {
            0 => Ok(()),
            left => Err(XdrError::Trailing { what, left }),
        }
    }

    fn take(&mut self, what: &'static str, need: usize) -> Result<&'a [u8], XdrError> {
        let left = self.left();
        if need > left {
            return Err(XdrError::Truncated {
                what,
                need,
                at: self.at,
                left,
            });
        }
        let s = &self.buf[self.at..self.at + need];
        self.at += need;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], XdrError> {
        let s = self.take(what, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// An `unsigned int`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, XdrError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// An `int`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, XdrError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    /// An `unsigned hyper`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, XdrError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A `hyper`.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, XdrError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// A `bool`: 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, XdrError> {
        match self.u32(what)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(XdrError::BadBool { what, value }),
        }
    }

    /// A count or length, at most `max`.
    pub fn len(&mut self, what: &'static str, max: usize) -> Result<usize, XdrError> {
        let len = self.u32(what)?;
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        if n > max {
            return Err(XdrError::TooLong {
                what,
                len: u64::from(len),
                max,
            });
        }
        Ok(n)
    }

    /// A fixed-length `opaque[N]` and its padding.
    pub fn fixed(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], XdrError> {
        let need = n.checked_add(pad(n)).ok_or(XdrError::TooLong {
            what,
            len: n as u64,
            max: usize::MAX,
        })?;
        let s = self.take(what, need)?;
        let (v, padding) = s.split_at(n);
        if padding.iter().any(|&b| b != 0) {
            return Err(XdrError::BadPadding { what });
        }
        Ok(v)
    }

    /// A variable-length `opaque<max>`.
    pub fn opaque(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], XdrError> {
        let n = self.len(what, max)?;
        self.fixed(what, n)
    }

    /// A `string<max>`: UTF-8, no NUL.
    pub fn string(&mut self, what: &'static str, max: usize) -> Result<&'a str, XdrError> {
        let b = self.opaque(what, max)?;
        if b.contains(&0) {
            return Err(XdrError::BadString { what });
        }
        std::str::from_utf8(b).map_err(|_| XdrError::BadString { what })
    }

    /// An optional string (`remote_string`).
    pub fn opt_string(
        &mut self,
        what: &'static str,
        max: usize,
    ) -> Result<Option<&'a str>, XdrError> {
        if self.bool(what)? {
            self.string(what, max).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_as_rfc_4506_says_and_read_back() {
        let mut e = Enc::new();
        e.u32(7)
            .i32(-1)
            .u64(1 << 40)
            .bool(true)
            .string("abcde")
            .opt_string(None)
            .opt_string(Some("x"))
            .fixed(&[9; 16])
            .chars("ab", 3);
        let b = e.into_bytes();
        assert_eq!(&b[..8], &[0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]);
        // "abcde": length 5, five bytes, three of padding.
        assert_eq!(
            &b[20..32],
            &[0, 0, 0, 5, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]
        );
        assert_eq!(b.len() % 4, 0);
        let mut d = Dec::new(&b);
        assert_eq!(d.u32("a"), Ok(7));
        assert_eq!(d.i32("b"), Ok(-1));
        assert_eq!(d.u64("c"), Ok(1 << 40));
        assert_eq!(d.bool("d"), Ok(true));
        assert_eq!(d.string("e", 16), Ok("abcde"));
        assert_eq!(d.opt_string("f", 16), Ok(None));
        assert_eq!(d.opt_string("g", 16), Ok(Some("x")));
        assert_eq!(d.fixed("uuid", 16), Ok(&[9u8; 16][..]));
        assert_eq!(d.i32("c0"), Ok(i32::from(b'a')));
        assert_eq!(d.i32("c1"), Ok(i32::from(b'b')));
        assert_eq!(d.i32("c2"), Ok(0));
        assert_eq!(d.finish("all"), Ok(()));
    }

    #[test]
    fn a_peer_length_is_checked_before_anything_is_taken() {
        // A string claiming 4 GiB in an 8-byte packet.
        let b = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            Dec::new(&b).string("name", 1 << 20),
            Err(XdrError::TooLong {
                len: 0xffff_ffff,
                ..
            })
        ));
        // Within the bound but past the packet's end.
        let b = [0, 0, 0, 9, b'a', b'b'];
        assert!(matches!(
            Dec::new(&b).string("name", 64),
            Err(XdrError::Truncated {
                need: 12,
                left: 2,
                ..
            })
        ));
        assert_eq!(
            Dec::new(&[0, 0, 0, 2]).bool("flag"),
            Err(XdrError::BadBool {
                what: "flag",
                value: 2
            })
        );
        assert_eq!(
            Dec::new(&[0, 0, 0, 1, b'a', 1, 0, 0]).string("s", 8),
            Err(XdrError::BadPadding { what: "s" })
        );
        assert_eq!(
            Dec::new(&[0, 0, 0, 1, 0, 0, 0, 0]).string("s", 8),
            Err(XdrError::BadString { what: "s" })
        );
        let d = Dec::new(&[0; 4]);
        assert_eq!(
            d.finish("args"),
            Err(XdrError::Trailing {
                what: "args",
                left: 4
            })
        );
    }

    #[test]
    fn every_cut_of_a_value_is_an_error_never_a_panic() {
        let mut e = Enc::new();
        e.string("hello world").opt_string(Some("x")).u64(3);
        let b = e.into_bytes();
        for cut in 0..b.len() {
            let mut d = Dec::new(&b[..cut]);
            let r = d
                .string("a", 64)
                .and_then(|_| d.opt_string("b", 64))
                .and_then(|_| d.u64("c"));
            assert!(r.is_err(), "cut at {cut}");
        }
    }
}
