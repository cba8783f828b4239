//! The destination's side: a source host connecting to this server.
//!
//! Each connection: the TLS handshake (a client certificate from the
//! configured CA required, else rustls refuses it), then the allowed
//! names ([`crate::tls::allowed`]); a refusal is audited and the
//! connection closed before anything else is read. Then the domain's
//! header, `relocation.incoming` on xend (which starts the domain and
//! hands over the fd its qemu reads the state from), the stream copied
//! into that fd, and `relocation.incoming-done`, whose outcome goes back
//! to the source.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};
use xend::api::{Call, DomainInfo, Incoming, IncomingDoneParams, IncomingParams};
use xend::client::Client;

use crate::error::RelocError;
use crate::timed::Timed;
use crate::wire::{self, Header, Kind, Outcome, VERSION, Welcome};
use crate::{Ctx, audit};

/// Connections served at once; more are closed at accept.
pub const MAX_PEERS: usize = 64;
/// Connections one address may have served at once: one host holding
/// idle connections cannot take every slot from the others.
pub const MAX_PER_ADDRESS: usize = 8;
/// The handshake, the checks and the header must be done within this.
pub const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// The longest pause in a stream.
pub const STREAM_IDLE: Duration = Duration::from_secs(60);
/// How long xend may take to load, register and resume the domain.
pub const LOAD_WITHIN: Duration = Duration::from_secs(200);

/// The connections being served, by address.
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Slots {
    fn take(&mut self, at: IpAddr) -> Result<(), &'static str> {
        let n = self.by_address.get(&at).copied().unwrap_or(0);
        if self.total >= MAX_PEERS {
            return Err("every slot is taken");
        }
        if n >= MAX_PER_ADDRESS {
            return Err("its address has every slot it may have");
        }
        self.total += 1;
        self.by_address.insert(at, n + 1);
        Ok(())
    }

    fn give(&mut self, at: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.by_address.get_mut(&at) {
            *n -= 1;
            if *n == 0 {
                self.by_address.remove(&at);
            }
        }
    }
}

fn lock(s: &Mutex<Slots>) -> std::sync::MutexGuard<'_, Slots> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Accepts source hosts for ever (it does not return), each served on a
/// thread of its own, at most [`MAX_PEERS`] at once and
/// [`MAX_PER_ADDRESS`] from one address; a connection past either is
/// closed at once, before a byte is read.
pub fn serve(listener: &TcpListener, ctx: &Arc<Ctx>) {
    let slots = Arc::new(Mutex::new(Slots::default()));
    loop {
        let (tcp, peer) = match listener.accept() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if let Err(why) = lock(&slots).take(peer.ip()) {
            tracing::warn!(%peer, "closed at accept: {why}");
            continue;
        }
        let (ctx, done) = (Arc::clone(ctx), Arc::clone(&slots));
        let spawned = std::thread::Builder::new()
            .name(format!("peer-{peer}"))
            .spawn(move || {
                serve_peer(&ctx, tcp, peer);
                lock(&done).give(peer.ip());
            });
        if let Err(e) = spawned {
            lock(&slots).give(peer.ip());
            tracing::warn!(%peer, "closed: no thread for it: {e}");
        }
    }
}

type Tls = StreamOwned<ServerConnection, Timed>;

fn serve_peer(ctx: &Ctx, tcp: TcpStream, peer: SocketAddr) {
    let endpoint = format!("relocation on {}", ctx.listen);
    let _ = tcp.set_nodelay(true);
    // The handshake, the checks and the header, all within one deadline.
    let mut tcp = Timed::new(tcp, HANDSHAKE_WITHIN);
    tcp.within(HANDSHAKE_WITHIN);
    let conn = match ServerConnection::new(Arc::clone(&ctx.tls.server)) {
        Ok(c) => c,
        Err(e) => return tracing::error!(%peer, "TLS: {e}"),
    };
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return audit::refused(peer, &endpoint, &format!("TLS handshake: {e}"));
        }
    }
    let name = match crate::tls::allowed(tls.conn.peer_certificates(), &ctx.tls.allow) {
        Ok(n) => n,
        Err(why) => {
            audit::refused(peer, &endpoint, &why.to_string());
            tls.conn.send_close_notify();
            let _ = tls.conn.complete_io(&mut tls.sock);
            return;
        }
    };
    audit::granted(peer, &endpoint, &name);
    if let Err(e) = receive(ctx, &mut tls, &name) {
        tracing::warn!(%peer, from = %name, "migration not received: {e}");
        let _ = wire::write_json(&mut tls, Kind::Outcome, &Outcome::failed(e.to_string()));
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn receive(ctx: &Ctx, tls: &mut Tls, name: &str) -> Result<(), RelocError> {
    wire::write_json(tls, Kind::Welcome, &Welcome { version: VERSION })
        .map_err(RelocError::send("the welcome"))?;
    let h: Header = wire::read_json(tls, Kind::Header).map_err(RelocError::wire("its header"))?;
    if h.version != VERSION {
        return Err(RelocError::Version(h.version));
    }
    let (arrived, fd): (Incoming, _) = Client::connect(&ctx.xend)
        .and_then(|mut xend| {
            xend.call_fd(&Call::RelocIncoming(IncomingParams {
                from: name.to_string(),
                source: h.source.clone(),
                config: h.config.clone(),
                uuid: h.uuid.clone(),
            }))
        })
        .map_err(RelocError::Xend)?;
    tracing::info!(domid = arrived.domid, name = %h.name, from = %name, "receiving");
    wire::write_json(tls, Kind::Outcome, &Outcome::ok(arrived.domid))
        .map_err(RelocError::send("answering"))?;
    tls.sock.no_deadline(STREAM_IDLE);
    tls.sock.read_buffer(wire::MAX_CHUNK);
    let copied = copy_in(tls, File::from(fd));
    let done = xend_done(ctx, &arrived, copied.is_ok(), h.resume);
    let outcome = match (copied, done) {
        (Ok(n), Ok(info)) => {
            tracing::info!(domid = arrived.domid, name = %h.name, from = %name, bytes = n, "arrived");
            Outcome::ok(info.domid.unwrap_or(arrived.domid))
        }
        (Err(e), _) => Outcome::failed(RelocError::Stream(Box::new(e)).to_string()),
        (Ok(_), Err(e)) => Outcome::failed(e.to_string()),
    };
    tls.sock.within(HANDSHAKE_WITHIN);
    wire::write_json(tls, Kind::Outcome, &outcome).map_err(RelocError::send("answering"))
}

/// Copies the stream into qemu's fd until its end; the bytes copied.
fn copy_in(tls: &mut Tls, mut qemu: File) -> Result<u64, RelocError> {
    let mut buf = Vec::with_capacity(wire::MAX_CHUNK);
    let mut n = 0u64;
    loop {
        match wire::read_frame(tls, &mut buf).map_err(RelocError::wire("the stream"))? {
            Kind::Data => {
                qemu.write_all(&buf).map_err(|source| RelocError::Qemu {
                    what: "writing into",
                    source,
                })?;
                n += buf.len() as u64;
            }
            Kind::End => return Ok(n),
            Kind::Abort => {
                let why = serde_json::from_slice::<wire::Abort>(&buf)
                    .map(|a| a.error)
                    .unwrap_or_else(|_| "no reason given".into());
                return Err(RelocError::Peer {
                    host: "the source".into(),
                    why: format!("gave up: {why}"),
                });
            }
            other => return Err(RelocError::Unexpected(other)),
        }
    }
}

fn xend_done(
    ctx: &Ctx,
    arrived: &Incoming,
    ok: bool,
    resume: bool,
) -> Result<DomainInfo, RelocError> {
    Client::connect(&ctx.xend)
        .and_then(|mut xend| {
            xend.call_within(
                &Call::RelocIncomingDone(IncomingDoneParams {
                    domid: arrived.domid,
                    uuid: arrived.uuid.clone(),
                    ok,
                    resume,
                }),
                LOAD_WITHIN,
            )
        })
        .map_err(RelocError::Xend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_takes_at_most_its_share_and_all_at_most_the_total() {
        let mut s = Slots::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..MAX_PER_ADDRESS {
            s.take(a).expect("a slot");
        }
        assert!(s.take(a).is_err());
        s.give(a);
        s.take(a).expect("given back");
        let mut n = MAX_PER_ADDRESS;
        for i in 0..=255u8 {
            let b: IpAddr = [10, 0, 1, i].into();
            if s.take(b).is_ok() {
                n += 1;
            }
        }
        assert_eq!(n, MAX_PEERS);
        assert!(s.take([10, 0, 2, 1].into()).is_err());
    }
}
