//! A domain's TCP serial (`serial/0/tcp`): the listener, the clients it
//! serves, each with its own bounded share of the guest's output. A
//! client that does not read never blocks the guest or the others: once
//! it is more than the console's limit behind, it is dropped.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use privlib::Policy;

use crate::buffer::Bounded;
use crate::gate::{self, Admit};

pub use crate::gate::MAX_CLIENTS;

/// Connections taken from the listener per wake-up (as xend's gates do):
/// the rest wait in the kernel's backlog for the next turn of the loop, so
/// a flood of connections cannot keep the loop from the pty, the serial
/// socket and the served clients.
pub const MAX_ACCEPTS: usize = 8;

/// One served client.
#[derive(Debug)]
pub struct TcpClient {
    /// Its connection (non-blocking).
    pub stream: TcpStream,
    /// What it has not read yet, at most the console's limit.
    pub out: Bounded,
    /// Who it is, for the log.
    pub who: String,
}

/// A domain's TCP serial listener and its clients.
#[derive(Debug)]
pub struct TcpServe {
    /// The listener (non-blocking).
    pub listener: TcpListener,
    /// Its address.
    pub addr: SocketAddr,
    /// The clients served.
    pub clients: Vec<TcpClient>,
    limit: usize,
}

/// A uid's primary gid and groups from the account database.
fn account(uid: u32) -> Option<(u32, Vec<u32>)> {
    let u = privlib::os::accounts::user_by_uid(uid).ok().flatten()?;
    let groups = privlib::os::accounts::group_list(&u).unwrap_or_default();
    Some((u.gid, groups))
}

impl TcpServe {
    /// Listens on `addr`; each client may fall `limit` bytes behind.
    pub fn bind(addr: SocketAddr, limit: usize) -> io::Result<TcpServe> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(TcpServe {
            addr: listener.local_addr()?,
            listener,
            clients: Vec::new(),
            limit,
        })
    }

    /// Accepts what waits, at most [`MAX_ACCEPTS`], admitting or refusing
    /// each ([`gate::admit`]); how many it took. What is left is seen at
    /// the next poll.
    pub fn accept(&mut self, domid: u32, policy: &Policy) -> usize {
        let mut taken = 0;
        while taken < MAX_ACCEPTS {
            let (stream, peer) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(domid, addr = %self.addr, "accept: {e}");
                    break;
                }
            };
            taken += 1;
            let uid = privlib::peer::tcp_peer_uid(&stream).unwrap_or_else(|e| {
                tracing::warn!(domid, %peer, "sock_diag: {e}");
                None
            });
            match gate::admit(&self.addr, uid, self.clients.len(), policy, account) {
                Admit::Served(why) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        tracing::warn!(domid, %peer, "{e}");
                        continue;
                    }
                    tracing::info!(domid, %peer, "serial tcp client served: {why}");
                    self.clients.push(TcpClient {
                        stream,
                        out: Bounded::new(self.limit),
                        who: format!("{peer} (uid {})", uid.map_or("?".into(), |u| u.to_string())),
                    });
                }
                Admit::Refused(line) => {
                    tracing::warn!(domid, %peer, uid, "{line}");
                    refuse(stream, &line);
                }
            }
        }
        taken
    }

    /// Queues guest output for every client; drops those that fell too
    /// far behind.
    pub fn push(&mut self, domid: u32, data: &[u8]) {
        self.clients.retain_mut(|c| {
            let kept = c.out.push_all(data);
            if !kept {
                tracing::warn!(domid, client = %c.who, "serial tcp client dropped: more than {} bytes behind", c.out.len());
            }
            kept
        });
    }

    /// Writes what waits to client `i`; `false` when it is gone.
    pub fn flush(&mut self, i: usize) -> bool {
        let Some(c) = self.clients.get_mut(i) else {
            return false;
        };
        c.out.write_to(&mut c.stream).is_ok()
    }

    /// Reads what client `i` typed into `to_guest` (as much as fits);
    /// `false` when it is gone.
    pub fn read(&mut self, i: usize, to_guest: &mut Bounded) -> bool {
        let Some(c) = self.clients.get_mut(i) else {
            return false;
        };
        let mut buf = [0u8; 4096];
        let want = to_guest.room().min(buf.len());
        if want == 0 {
            return true;
        }
        match c.stream.read(&mut buf[..want]) {
            Ok(0) => false,
            Ok(n) => to_guest.push_all(&buf[..n]),
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }

    /// Drops client `i`.
    pub fn drop_client(&mut self, domid: u32, i: usize) {
        if i < self.clients.len() {
            let c = self.clients.remove(i);
            tracing::info!(domid, client = %c.who, "serial tcp client gone");
        }
    }
}

/// One line, then close: nothing of the guest's has been queued for it.
/// Never waits: a fresh socket's send buffer takes one line, and should
/// it not, the line is cut rather than the loop held up.
fn refuse(mut stream: TcpStream, line: &str) {
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.write(format!("{line}\n").as_bytes());
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_more_than_its_share_behind_is_dropped_and_the_others_kept() {
        let mut t = TcpServe::bind("127.0.0.1:0".parse().expect("addr"), 8192).expect("bind");
        let mut conns = Vec::new();
        for who in ["slow", "keeps up"] {
            let c = TcpStream::connect(t.addr).expect("connect");
            let (s, _) = t.listener.accept().expect("accept");
            s.set_nonblocking(true).expect("nonblocking");
            t.clients.push(TcpClient {
                stream: s,
                out: Bounded::new(8192),
                who: who.into(),
            });
            conns.push(c);
        }
        t.push(1, &[b'x'; 6000]);
        // "keeps up" takes its share; "slow" never does.
        assert!(t.flush(1));
        t.push(1, &[b'y'; 6000]);
        assert_eq!(t.clients.len(), 1);
        assert_eq!(t.clients[0].who, "keeps up");
        assert_eq!(t.clients[0].out.len(), 6000);
    }

    #[test]
    fn one_wake_up_takes_at_most_max_accepts_connections_and_the_next_the_rest() {
        // Nobody holds anything: every connection is refused.
        let policy = Policy::parse("", std::path::Path::new("empty.toml")).expect("policy");
        let mut t = TcpServe::bind("127.0.0.1:0".parse().expect("addr"), 8192).expect("bind");
        let conns: Vec<TcpStream> = (0..MAX_ACCEPTS * 2 + 3)
            .map(|_| TcpStream::connect(t.addr).expect("connect"))
            .collect();
        assert_eq!(t.accept(1, &policy), MAX_ACCEPTS);
        assert_eq!(t.accept(1, &policy), MAX_ACCEPTS);
        assert_eq!(t.accept(1, &policy), 3);
        assert_eq!(t.accept(1, &policy), 0);
        assert!(t.clients.is_empty());
        // Each refused one got its line and the end of the stream.
        for mut c in conns {
            c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .expect("timeout");
            let mut got = String::new();
            c.read_to_string(&mut got).expect("read");
            assert!(got.starts_with("xenconsoled: refused: "), "{got:?}");
        }
    }
}
