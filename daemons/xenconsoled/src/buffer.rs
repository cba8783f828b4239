//! A byte queue that never holds more than its limit: what the guest
//! wrote and a slow reader has not taken yet. Past the limit the newest
//! bytes are discarded and counted, as Xen's xenconsoled does with
//! `--overflow-data=discard`: the guest is never stopped by a reader that
//! does not read, and the daemon never grows.

use std::collections::VecDeque;
use std::io::{self, Write};

/// The smallest `console/limit` taken (smaller values are raised to it).
pub const MIN_LIMIT: usize = 4096;
/// The largest `console/limit` taken (larger values are lowered to it):
/// with [`crate::tcp::MAX_CLIENTS`] clients each holding as much, a
/// domain's buffers stay within a few tens of MiB at worst.
pub const MAX_LIMIT: usize = 4 << 20;
/// libxl's default `console/limit`: 1 MiB.
pub const DEFAULT_LIMIT: usize = 1 << 20;

/// `console/limit` from the store (decimal bytes), clamped to
/// [`MIN_LIMIT`]..=[`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent or not a
/// number.
pub fn limit_from_store(value: Option<&[u8]>) -> usize {
    value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.trim_end_matches('\0').trim().parse::<u64>().ok())
        .map_or(DEFAULT_LIMIT, |n| {
            usize::try_from(n)
                .unwrap_or(MAX_LIMIT)
                .clamp(MIN_LIMIT, MAX_LIMIT)
        })
}

/// A bounded byte queue.
#[derive(Debug)]
pub struct Bounded {
    bytes: VecDeque<u8>,
    limit: usize,
}

impl Bounded {
    /// An empty queue of at most `limit` bytes.
    pub fn new(limit: usize) -> Bounded {
        Bounded {
            bytes: VecDeque::new(),
            limit,
        }
    }

    /// Appends what fits of `data`; how many bytes were discarded.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let room = self.room();
        let take = data.len().min(room);
        self.bytes.extend(&data[..take]);
        data.len() - take
    }

    /// Appends all of `data`, or nothing when it does not fit (`false`).
    pub fn push_all(&mut self, data: &[u8]) -> bool {
        if data.len() > self.room() {
            return false;
        }
        self.bytes.extend(data);
        true
    }

    /// How many more bytes fit.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.bytes.len())
    }

    /// How many bytes wait.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes what waits to `w` until it would block; how many bytes it
    /// took. `WouldBlock` is not an error here; anything else is.
    pub fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let mut total = 0;
        while !self.bytes.is_empty() {
            let (front, _) = self.bytes.as_slices();
            match w.write(front) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.bytes.drain(..n);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.bytes.is_empty() {
            // Give the memory of a burst back.
            self.bytes.shrink_to(64 * 1024);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes, then would block.
    struct Slow {
        got: Vec<u8>,
        cap: usize,
    }

    impl Write for Slow {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(self.cap - self.got.len());
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn past_the_limit_the_newest_bytes_are_discarded_and_counted() {
        let mut b = Bounded::new(10);
        assert_eq!(b.push(b"0123456"), 0);
        assert_eq!(b.push(b"789abcdef"), 6);
        assert_eq!(b.len(), 10);
        assert_eq!(b.room(), 0);
        let mut w = Slow {
            got: Vec::new(),
            cap: 4,
        };
        assert_eq!(b.write_to(&mut w).expect("write"), 4);
        assert_eq!(w.got, b"0123");
        w.cap = 100;
        assert_eq!(b.write_to(&mut w).expect("write"), 6);
        assert_eq!(w.got, b"0123456789");
        assert!(b.is_empty());
    }

    #[test]
    fn push_all_takes_everything_or_nothing() {
        let mut b = Bounded::new(4);
        assert!(b.push_all(b"abc"));
        assert!(!b.push_all(b"de"));
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn the_store_limit_is_clamped_and_defaults_to_libxls() {
        assert_eq!(limit_from_store(None), DEFAULT_LIMIT);
        assert_eq!(limit_from_store(Some(b"1048576")), 1 << 20);
        assert_eq!(limit_from_store(Some(b"12")), MIN_LIMIT);
        assert_eq!(limit_from_store(Some(b"99999999999999")), MAX_LIMIT);
        assert_eq!(limit_from_store(Some(b"lots")), DEFAULT_LIMIT);
        assert_eq!(limit_from_store(Some(b"-5")), DEFAULT_LIMIT);
    }
}
