//! A domain's TCP serial (`serial/0/tcp`): the listener, the clients it
//! serves, each with its own bounded share of the guest's output. A
//! client that does not read never blocks the guest or the others: once
//! it is more than the console's limit behind, it is dropped.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use privlib::Policy;

use crate::buffer::Bounded;
use crate::gate::{self, Admit};

pub use crate::gate::MAX_CLIENTS;

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

    /// Accepts what waits, admitting or refusing each ([`gate::admit`]).
    pub fn accept(&mut self, domid: u32, policy: &Policy) {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(domid, addr = %self.addr, "accept: {e}");
                    return;
                }
            };
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
fn refuse(mut stream: TcpStream, line: &str) {
    // A fresh socket's send buffer takes one line; the timeout only
    // guards against the impossible.
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = stream.write_all(format!("{line}\n").as_bytes());
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
}
