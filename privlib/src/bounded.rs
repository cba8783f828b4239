//! Bounded input: every read of what a peer or a file supplies goes
//! through here, so each is limited in size and, on a stream, in time.
//!
//! - [`LineReader`]: newline-ended lines from a stream, each at most
//!   `max` bytes, all of them within one deadline (not one timeout per
//!   read: a peer trickling a byte at a time gets no longer than a fast
//!   one). Bytes after a newline are kept for the next line.
//! - [`read_file`] / [`read_to_string`]: a whole regular file, refused past
//!   a size (the size is checked on the bytes read, not on a stat that can
//!   race with a writer).
//! - [`read_opened`]: the same bound on a file the caller opened and
//!   checked itself (the policy file, read from the fd whose owner was
//!   checked); [`open_nonblocking`] opens without blocking on a FIFO.
//! - [`read_tail`]: the last bytes of a file (logs).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line passed its bound before a newline came.
    #[error("line longer than {max} bytes")]
    TooLong {
        /// The bound.
        max: usize,
    },
    /// The deadline passed before the line was complete.
    #[error("line not complete within {} ms", .after.as_millis())]
    Timeout {
        /// How long the reader waited in all.
        after: Duration,
    },
    /// The peer closed the stream in the middle of a line.
    #[error("stream closed before the line ended with a newline")]
    Unterminated,
    /// The stream failed.
    #[error("reading: {0}")]
    Io(#[source] io::Error),
}

/// A stream whose reads can be given a timeout.
pub trait TimedRead: Read {
    /// Sets (or, with `None`, clears) the timeout of the next reads.
    fn set_timeout(&self, t: Option<Duration>) -> io::Result<()>;
}

impl TimedRead for UnixStream {
    fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)
    }
}

impl TimedRead for &UnixStream {
    fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)
    }
}

impl TimedRead for std::net::TcpStream {
    fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)
    }
}

impl TimedRead for &std::net::TcpStream {
    fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)
    }
}

/// Reads newline-ended lines, each bounded in size, all within a deadline.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    /// Bytes read and not yet returned; never more than `max + 1` plus one
    /// read's worth.
    buf: Vec<u8>,
    deadline: Option<Instant>,
    started: Instant,
}

/// How much one read asks for.
const CHUNK: usize = 4096;

impl<R: TimedRead> LineReader<R> {
    /// Lines of at most `max` bytes (the newline not counted), no deadline
    /// until [`LineReader::deadline`] or [`LineReader::within`] sets one.
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            deadline: None,
            started: Instant::now(),
        }
    }

    /// Every line from now on must be complete by `at`.
    pub fn deadline(&mut self, at: Instant) -> &mut Self {
        self.deadline = Some(at);
        self.started = Instant::now();
        self
    }

    /// Every line from now on must be complete within `d` from now.
    pub fn within(&mut self, d: Duration) -> &mut Self {
        self.deadline(Instant::now() + d)
    }

    /// Whether bytes past the last line returned are waiting (a peer that
    /// sent a second request before the first was answered).
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next line without its newline; `None` when the stream ends
    /// cleanly between lines.
    pub fn read_line(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        // Bytes already searched for a newline: each is looked at once, so a
        // peer sending a byte at a time costs linear time, not quadratic.
        let mut searched = 0;
        loop {
            if let Some(i) = self.buf[searched..].iter().position(|b| *b == b'\n') {
                let end = searched + i;
                if end > self.max {
                    return Err(LineError::TooLong { max: self.max });
                }
                let rest = self.buf.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.pop();
                return Ok(Some(line));
            }
            searched = self.buf.len();
            if self.buf.len() > self.max {
                return Err(LineError::TooLong { max: self.max });
            }
            if let Some(at) = self.deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(LineError::Timeout {
                        after: self.started.elapsed(),
                    });
                }
                self.inner.set_timeout(Some(left)).map_err(LineError::Io)?;
            }
            // Never more than one byte past the bound: what a peer makes us
            // hold is max + 1 bytes, not the next power of two above it.
            let room = (self.max + 1).saturating_sub(self.buf.len()).min(CHUNK);
            let old = self.buf.len();
            self.buf.resize(old + room, 0);
            let got = self.inner.read(&mut self.buf[old..]);
            self.buf.truncate(old + *got.as_ref().unwrap_or(&0));
            match got {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => return Err(LineError::Unterminated),
                Ok(_) => {}
                // Interrupted, or a read timed out: the deadline decides.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if self.deadline.is_none() && e.kind() != io::ErrorKind::Interrupted {
                        return Err(LineError::Io(e));
                    }
                }
                Err(e) => return Err(LineError::Io(e)),
            }
        }
    }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It could not be opened or read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// It is larger than the bound.
    #[error("{}: larger than {max} bytes", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: u64,
    },
    /// It is not a regular file (a FIFO would block, a device never end).
    #[error("{}: not a regular file", .path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// It is not UTF-8.
    #[error("{}: not UTF-8 text", .path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
}

/// Opens `path` for reading without blocking on what it turns out to be
/// (O_NONBLOCK: a FIFO put in the file's place cannot block the open) and
/// without making a terminal ours (O_NOCTTY). The caller checks the type.
pub fn open_nonblocking(path: &Path) -> Result<File, FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn open_regular(path: &Path) -> Result<File, FileError> {
    let f = open_nonblocking(path)?;
    let t = f
        .metadata()
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .file_type();
    if !t.is_file() || t.is_fifo() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(f)
}

/// A whole regular file of at most `max` bytes.
pub fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    read_opened(open_regular(path)?, path, max)
}

/// All of `f`, already opened as `path` (and checked by the caller, who
/// must read from the very fd it checked), refused past `max` bytes. The
/// bound is on the bytes read: a file that grew after a stat is caught.
pub fn read_opened(f: impl Read, path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let mut out = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| FileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > max {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(out)
}

/// A whole regular UTF-8 file of at most `max` bytes.
pub fn read_to_string(path: &Path, max: u64) -> Result<String, FileError> {
    String::from_utf8(read_file(path, max)?).map_err(|_| FileError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// The last `max` bytes of a regular file (all of it when shorter).
pub fn read_tail(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = open_regular(path)?;
    let len = f.metadata().map_err(io)?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))
        .map_err(io)?;
    let mut out = Vec::new();
    f.take(max).read_to_end(&mut out).map_err(io)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socketpair")
    }

    #[test]
    fn lines_come_one_at_a_time_and_the_rest_is_kept() {
        let (mut a, b) = pair();
        a.write_all(b"one\ntwo\nthr").expect("write");
        let mut r = LineReader::new(b, 16);
        r.within(Duration::from_secs(5));
        assert_eq!(r.read_line().expect("one").as_deref(), Some(&b"one"[..]));
        assert!(r.has_buffered());
        assert_eq!(r.read_line().expect("two").as_deref(), Some(&b"two"[..]));
        a.write_all(b"ee\n").expect("write");
        drop(a);
        assert_eq!(
            r.read_line().expect("three").as_deref(),
            Some(&b"three"[..])
        );
        assert_eq!(r.read_line().expect("eof"), None);
    }

    #[test]
    fn a_line_past_its_bound_is_refused_without_holding_more() {
        let (mut a, b) = pair();
        a.write_all(&[b'x'; 100]).expect("write");
        let mut r = LineReader::new(b, 10);
        r.within(Duration::from_secs(5));
        assert!(matches!(r.read_line(), Err(LineError::TooLong { max: 10 })));
        assert!(r.buf.len() <= 11, "held {}", r.buf.len());
        // Exactly at the bound is fine.
        let (mut a, b) = pair();
        a.write_all(b"0123456789\n").expect("write");
        let mut r = LineReader::new(b, 10);
        assert_eq!(r.read_line().expect("ok").map(|l| l.len()), Some(10));
    }

    #[test]
    fn a_trickling_peer_meets_one_deadline_for_the_line() {
        let (mut a, b) = pair();
        let t = std::thread::spawn(move || {
            for _ in 0..40 {
                if a.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut r = LineReader::new(b, 1000);
        r.within(Duration::from_millis(200));
        assert!(matches!(r.read_line(), Err(LineError::Timeout { .. })));
        drop(r);
        t.join().expect("writer");
    }

    #[test]
    fn a_half_line_then_close_is_unterminated() {
        let (mut a, b) = pair();
        a.write_all(b"half").expect("write");
        drop(a);
        let mut r = LineReader::new(b, 100);
        assert!(matches!(r.read_line(), Err(LineError::Unterminated)));
    }

    #[test]
    fn files_are_bounded_and_must_be_regular() {
        let dir = std::env::temp_dir().join(format!("bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("f");
        std::fs::write(&p, b"0123456789").expect("write");
        assert_eq!(read_file(&p, 10).expect("fits").len(), 10);
        assert!(matches!(
            read_file(&p, 9),
            Err(FileError::TooLarge { max: 9, .. })
        ));
        assert_eq!(read_tail(&p, 3).expect("tail"), b"789");
        assert_eq!(read_tail(&p, 100).expect("all"), b"0123456789");
        std::fs::write(&p, [0xff, 0xfe]).expect("write");
        assert!(matches!(
            read_to_string(&p, 10),
            Err(FileError::NotUtf8 { .. })
        ));
        assert!(matches!(
            read_file(&dir, 10),
            Err(FileError::NotRegular { .. })
        ));
        let e = read_file(&dir.join("missing"), 10).expect_err("missing");
        assert!(e.to_string().contains("missing"), "{e}");
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
