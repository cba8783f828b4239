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

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};
use xend::api::{Call, DomainInfo, Incoming, IncomingDoneParams, IncomingParams};
use xend::client::Client;

use crate::wire::{self, Header, Kind, Outcome, VERSION, Welcome};
use crate::{Ctx, audit};

/// Source hosts served at once; more are closed at accept.
pub const MAX_PEERS: usize = 8;
/// The handshake, the checks and the header must be done within this.
pub const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// The longest pause in a stream.
pub const STREAM_IDLE: Duration = Duration::from_secs(60);
/// How long xend may take to load, register and resume the domain.
pub const LOAD_WITHIN: Duration = Duration::from_secs(200);

/// Accepts source hosts for ever (it does not return), each served on a thread of its own,
/// at most [`MAX_PEERS`] at once.
pub fn serve(listener: &TcpListener, ctx: &Arc<Ctx>) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (tcp, peer) = match listener.accept() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_PEERS {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%peer, "closed: {MAX_PEERS} peers are served already");
            continue;
        }
        let (ctx, done) = (Arc::clone(ctx), Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name(format!("peer-{peer}"))
            .spawn(move || {
                serve_peer(&ctx, tcp, peer);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%peer, "closed: no thread for it: {e}");
        }
    }
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

fn serve_peer(ctx: &Ctx, tcp: TcpStream, peer: SocketAddr) {
    let endpoint = format!("relocation on {}", ctx.listen);
    let _ = tcp.set_read_timeout(Some(HANDSHAKE_WITHIN));
    let _ = tcp.set_write_timeout(Some(HANDSHAKE_WITHIN));
    let _ = tcp.set_nodelay(true);
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
            audit::refused(peer, &endpoint, &why);
            tls.conn.send_close_notify();
            let _ = tls.conn.complete_io(&mut tls.sock);
            return;
        }
    };
    audit::granted(peer, &endpoint, &name);
    if let Err(e) = receive(ctx, &mut tls, &name) {
        tracing::warn!(%peer, from = %name, "migration not received: {e}");
        let _ = wire::write_json(&mut tls, Kind::Outcome, &Outcome::failed(e));
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn receive(ctx: &Ctx, tls: &mut Tls, name: &str) -> Result<(), String> {
    wire::write_json(tls, Kind::Welcome, &Welcome { version: VERSION })
        .map_err(|e| format!("welcome: {e}"))?;
    let h: Header = wire::read_json(tls, Kind::Header).map_err(|e| format!("its header: {e}"))?;
    if h.version != VERSION {
        return Err(format!("version {} (this host speaks {VERSION})", h.version));
    }
    let mut xend = Client::connect(&ctx.xend).map_err(|e| e.to_string())?;
    let (arrived, fd): (Incoming, _) = xend
        .call_fd(&Call::RelocIncoming(IncomingParams {
            from: name.to_string(),
            source: h.source.clone(),
            config: h.config.clone(),
            uuid: h.uuid.clone(),
        }))
        .map_err(|e| format!("xend: {e}"))?;
    tracing::info!(domid = arrived.domid, name = %h.name, from = %name, "receiving");
    wire::write_json(tls, Kind::Outcome, &Outcome::ok(arrived.domid))
        .map_err(|e| format!("answering: {e}"))?;
    let _ = tls.sock.set_read_timeout(Some(STREAM_IDLE));
    let _ = tls.sock.set_write_timeout(Some(STREAM_IDLE));
    let copied = copy_in(tls, UnixStream::from(fd));
    let done = xend_done(ctx, &arrived, copied.is_ok(), h.resume);
    let outcome = match (copied, done) {
        (Ok(n), Ok(info)) => {
            tracing::info!(domid = arrived.domid, name = %h.name, from = %name, bytes = n, "arrived");
            Outcome::ok(info.domid.unwrap_or(arrived.domid))
        }
        (Err(e), _) => Outcome::failed(format!("the stream: {e}; the arriving domain was ended")),
        (Ok(_), Err(e)) => Outcome::failed(e),
    };
    let _ = tls.sock.set_write_timeout(Some(HANDSHAKE_WITHIN));
    wire::write_json(tls, Kind::Outcome, &outcome).map_err(|e| format!("answering: {e}"))
}

/// Copies the stream into qemu's fd until its end; the bytes copied.
fn copy_in(tls: &mut Tls, mut qemu: UnixStream) -> Result<u64, String> {
    let mut buf = Vec::with_capacity(wire::MAX_CHUNK);
    let mut n = 0u64;
    loop {
        match wire::read_frame(tls, &mut buf).map_err(|e| e.to_string())? {
            Kind::Data => {
                qemu.write_all(&buf)
                    .map_err(|e| format!("writing into qemu: {e}"))?;
                n += buf.len() as u64;
            }
            Kind::End => return Ok(n),
            Kind::Abort => {
                let why = serde_json::from_slice::<wire::Abort>(&buf)
                    .map(|a| a.error)
                    .unwrap_or_else(|_| "no reason given".into());
                return Err(format!("the source gave up: {why}"));
            }
            other => return Err(format!("a {other:?} frame inside the stream")),
        }
    }
}

fn xend_done(ctx: &Ctx, arrived: &Incoming, ok: bool, resume: bool) -> Result<DomainInfo, String> {
    let mut xend = Client::connect(&ctx.xend).map_err(|e| e.to_string())?;
    xend.call_within(
        &Call::RelocIncomingDone(IncomingDoneParams {
            domid: arrived.domid,
            uuid: arrived.uuid.clone(),
            ok,
            resume,
        }),
        LOAD_WITHIN,
    )
    .map_err(|e| format!("xend: {e}"))
}
