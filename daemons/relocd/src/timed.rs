//! A TCP stream with a deadline for a whole exchange: each read and
//! write is given what is left of it as its timeout, so a peer that
//! trickles a byte at a time (half a handshake, half a header) is cut
//! off when the deadline passes, not kept for as long as it keeps
//! trickling. Without a deadline, each read and write waits at most
//! the idle bound.
//!
//! Reads are buffered: rustls asks for a few KiB at a time, and a
//! migration stream is megabytes, so one `read` on the socket serves
//! many of its asks (a syscall and a timeout set per 4 KiB cost the
//! guest's downtime measurably). A timeout is set on the socket only
//! when it changes.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The stream.
#[derive(Debug)]
pub struct Timed {
    /// The connection.
    pub tcp: TcpStream,
    deadline: Option<Instant>,
    idle: Duration,
    /// What was read and not yet asked for: `buf[pos..end]`.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The timeouts set on the socket now.
    read_armed: Option<Duration>,
    write_armed: Option<Duration>,
}

/// The read buffer while a handshake and header are read: small, so
/// connections that never get further hold little.
const SMALL_BUFFER: usize = 16 * 1024;

impl Timed {
    /// `tcp`, each read and write waiting at most `idle`.
    pub fn new(tcp: TcpStream, idle: Duration) -> Timed {
        Timed {
            tcp,
            deadline: None,
            idle,
            buf: vec![0; SMALL_BUFFER],
            pos: 0,
            end: 0,
            read_armed: None,
            write_armed: None,
        }
    }

    /// Reads from the socket `n` bytes at a time from now on (a stream's
    /// bulk); what is buffered stays.
    pub fn read_buffer(&mut self, n: usize) {
        if n > self.buf.len() {
            self.buf.resize(n, 0);
        }
    }

    /// Everything from now on must be done within `d` (until
    /// [`Timed::no_deadline`]), one read or write waiting as long.
    pub fn within(&mut self, d: Duration) {
        self.deadline = Some(Instant::now() + d);
        self.idle = d;
    }

    /// No deadline: each read and write waits at most `idle`.
    pub fn no_deadline(&mut self, idle: Duration) {
        self.deadline = None;
        self.idle = idle;
    }

    fn arm(&mut self, write: bool) -> io::Result<()> {
        let wait = match self.deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer is too slow",
                    ));
                }
                left.min(self.idle)
            }
            None => self.idle,
        };
        let armed = if write {
            &mut self.write_armed
        } else {
            &mut self.read_armed
        };
        if *armed == Some(wait) {
            return Ok(());
        }
        if write {
            self.tcp.set_write_timeout(Some(wait))?;
        } else {
            self.tcp.set_read_timeout(Some(wait))?;
        }
        *armed = Some(wait);
        Ok(())
    }
}

impl Read for Timed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            self.arm(false)?;
            if out.len() >= self.buf.len() {
                return self.tcp.read(out);
            }
            let n = self.tcp.read(&mut self.buf)?;
            (self.pos, self.end) = (0, n);
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.tcp.write(buf)
    }

    // rustls hands its records over as a vector: one syscall for many.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.arm(true)?;
        self.tcp.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_trickles_is_cut_off_at_the_deadline() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let at = l.local_addr().expect("addr");
        let trickler = std::thread::spawn(move || {
            let mut c = TcpStream::connect(at).expect("connect");
            for _ in 0..40 {
                if c.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let (s, _) = l.accept().expect("accept");
        let mut t = Timed::new(s, Duration::from_secs(5));
        t.within(Duration::from_millis(500));
        let start = Instant::now();
        let mut buf = [0u8; 100];
        let e = t.read_exact(&mut buf).expect_err("cut off");
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{e}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        drop(t);
        let _ = trickler.join();
    }

    #[test]
    fn buffered_reads_give_every_byte_once_in_order_whatever_the_sizes_asked() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let at = l.local_addr().expect("addr");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(at).expect("connect");
            c.write_all(&sent).expect("sent");
        });
        let (s, _) = l.accept().expect("accept");
        let mut t = Timed::new(s, Duration::from_secs(10));
        let mut got = Vec::new();
        let mut small = [0u8; 4000];
        while got.len() < 50_000 {
            let n = t.read(&mut small).expect("read");
            assert!(n > 0);
            got.extend_from_slice(&small[..n]);
        }
        // Larger than the buffer: straight from the socket once drained.
        t.read_buffer(64 * 1024);
        let mut big = vec![0u8; 100_000];
        loop {
            let n = t.read(&mut big).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&big[..n]);
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes out of order");
        writer.join().expect("writer");
    }
}
