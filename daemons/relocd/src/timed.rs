//! A TCP stream with a deadline for a whole exchange: each read and
//! write is given what is left of it as its timeout, so a peer that
//! trickles a byte at a time (half a handshake, half a header) is cut
//! off when the deadline passes, not kept for as long as it keeps
//! trickling. Without a deadline, each read and write waits at most
//! the idle bound.

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
}

impl Timed {
    /// `tcp`, each read and write waiting at most `idle`.
    pub fn new(tcp: TcpStream, idle: Duration) -> Timed {
        Timed {
            tcp,
            deadline: None,
            idle,
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

    fn arm(&self, write: bool) -> io::Result<()> {
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
        if write {
            self.tcp.set_write_timeout(Some(wait))
        } else {
            self.tcp.set_read_timeout(Some(wait))
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(false)?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        self.tcp.write(buf)
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
}
