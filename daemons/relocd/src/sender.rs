//! The source's side: jobs xend queued (`xm migrate`), each sent to its
//! destination's relocation server.
//!
//! A job: connect to the destination, the TLS handshake (its certificate
//! from the CA and valid for the name dialled, which rustls checks), its
//! allowed names ([`crate::tls::allowed`]); a refusal is audited and the
//! job fails before xend starts any stream. Then the destination's
//! welcome (it checked this host), the header, its word that it started
//! the domain, `relocation.send` (xend hands over the fd qemu writes
//! its state into), the copy, and the destination's outcome, which goes
//! to xend as `relocation.done`.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};
use xend::api::{Call, DoneAck, DoneParams, Job, JobParams, MAX_WAIT_SECS, Streaming, WaitParams};
use xend::client::Client;

use crate::error::RelocError;
use crate::peer::{HANDSHAKE_WITHIN, LOAD_WITHIN, STREAM_IDLE};
use crate::timed::Timed;
use crate::wire::{self, Header, Kind, Outcome, VERSION, Welcome};
use crate::{Ctx, audit};

/// The relocation port (xend's `xend-relocation-port`).
pub const PORT: u16 = 8002;
/// Jobs sent at once.
pub const MAX_SENDING: usize = 4;

/// Takes jobs from xend for ever, each sent on a thread of its own.
pub fn run(ctx: &Arc<Ctx>) {
    let sending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        use std::sync::atomic::Ordering;
        if sending.load(Ordering::SeqCst) >= MAX_SENDING {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let got = Client::connect(&ctx.xend).and_then(|mut c| {
            c.call_within::<Option<Job>>(
                &Call::RelocWait(WaitParams {
                    seconds: Some(MAX_WAIT_SECS),
                }),
                Duration::from_secs(MAX_WAIT_SECS + 15),
            )
        });
        let job = match got {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("asking xend for jobs: {e}");
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
        };
        sending.fetch_add(1, Ordering::SeqCst);
        let (ctx2, done) = (Arc::clone(ctx), Arc::clone(&sending));
        let n = job.job;
        let spawned = std::thread::Builder::new()
            .name(format!("job-{n}"))
            .spawn(move || {
                migrate(&ctx2, &job);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            sending.fetch_sub(1, Ordering::SeqCst);
            tell_xend(ctx, n, Err(RelocError::Thread(e)));
        }
    }
}

fn migrate(ctx: &Ctx, job: &Job) {
    tracing::info!(job = job.job, domain = %job.name, host = %job.host, "migrating");
    let r = send(ctx, job);
    if let Err(e) = &r {
        tracing::warn!(job = job.job, domain = %job.name, host = %job.host, "migration failed: {e}");
    }
    tell_xend(ctx, job.job, r);
}

fn tell_xend(ctx: &Ctx, job: u64, r: Result<u32, RelocError>) {
    let (remote_domid, error) = match r {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let told = Client::connect(&ctx.xend).and_then(|mut c| {
        c.call::<DoneAck>(&Call::RelocDone(DoneParams {
            job,
            remote_domid,
            error,
        }))
    });
    if let Err(e) = told {
        tracing::error!(job, "telling xend how the migration ended: {e}");
    }
}

/// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`: the name to check the
/// certificate for, and the port.
pub fn split_host(host: &str) -> Result<(String, u16), RelocError> {
    let bad = || RelocError::BadHost(host.to_string());
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (a, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (a, None),
            p => (a, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.split_once(':') {
            Some((a, p)) if !p.contains(':') => (a, Some(p)),
            Some(_) => (host, None),
            None => (host, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => PORT,
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), port))
}

type Tls = StreamOwned<ClientConnection, Timed>;

fn connect(ctx: &Ctx, host: &str) -> Result<(Tls, SocketAddr), RelocError> {
    let (name, port) = split_host(host)?;
    let server = crate::tls::server_name(&name).ok_or_else(|| RelocError::BadHost(name.clone()))?;
    let addrs: Vec<SocketAddr> = (name.as_str(), port)
        .to_socket_addrs()
        .map_err(|source| RelocError::Resolve {
            host: name.clone(),
            source,
        })?
        .collect();
    let mut last = RelocError::NoAddress(name);
    for at in addrs {
        match TcpStream::connect_timeout(&at, HANDSHAKE_WITHIN) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let mut tcp = Timed::new(tcp, HANDSHAKE_WITHIN);
                tcp.within(HANDSHAKE_WITHIN);
                let conn = ClientConnection::new(Arc::clone(&ctx.tls.client), server.clone())
                    .map_err(RelocError::Tls)?;
                return Ok((StreamOwned::new(conn, tcp), at));
            }
            Err(source) => {
                last = RelocError::Connect {
                    at: at.to_string(),
                    source,
                }
            }
        }
    }
    Err(last)
}

/// The peer's failure in its own words.
fn peer(job: &Job, o: Outcome) -> RelocError {
    RelocError::Peer {
        host: job.host.clone(),
        why: o.error.unwrap_or_else(|| "no reason given".into()),
    }
}

fn send(ctx: &Ctx, job: &Job) -> Result<u32, RelocError> {
    let (mut tls, at) = connect(ctx, &job.host)?;
    let endpoint = format!("relocation to {}", job.host);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            let e = RelocError::Handshake(e);
            audit::refused(at, &endpoint, &e.to_string());
            return Err(e);
        }
    }
    let name = match crate::tls::allowed(tls.conn.peer_certificates(), &ctx.tls.allow) {
        Ok(n) => n,
        Err(why) => {
            let e = RelocError::Refused(why);
            audit::refused(at, &endpoint, &e.to_string());
            return Err(e);
        }
    };
    audit::granted(at, &endpoint, &name);
    // Nothing of the domain goes before the destination let us in.
    let w: Welcome = wire::read_json(&mut tls, Kind::Welcome)
        .map_err(RelocError::wire("the destination did not let this host in"))?;
    if w.version != VERSION {
        return Err(RelocError::Version(w.version));
    }
    wire::write_json(
        &mut tls,
        Kind::Header,
        &Header {
            version: VERSION,
            name: job.name.clone(),
            uuid: job.uuid.clone(),
            source: job.source.clone(),
            config: job.config.clone(),
            resume: job.resume,
        },
    )
    .map_err(RelocError::send("sending the config"))?;
    // The destination starts the domain first.
    tls.sock.within(LOAD_WITHIN);
    let o: Outcome = wire::read_json(&mut tls, Kind::Outcome)
        .map_err(RelocError::wire("its answer to the config"))?;
    let Some(remote) = o.domid else {
        return Err(peer(job, o));
    };
    let streamed = Client::connect(&ctx.xend)
        .and_then(|mut c| c.call_fd::<Streaming>(&Call::RelocSend(JobParams { job: job.job })));
    let fd = match streamed {
        Ok((_, fd)) => fd,
        Err(e) => {
            let e = RelocError::Xend(e);
            let _ = wire::write_json(
                &mut tls,
                Kind::Abort,
                &wire::Abort {
                    error: e.to_string(),
                },
            );
            return Err(e);
        }
    };
    tls.sock.no_deadline(STREAM_IDLE);
    let copied = copy_out(&mut tls, File::from(fd));
    if let Err(e) = &copied {
        let _ = wire::write_json(
            &mut tls,
            Kind::Abort,
            &wire::Abort {
                error: e.to_string(),
            },
        );
    }
    let n = copied?;
    tracing::info!(job = job.job, bytes = n, host = %job.host, "stream sent");
    tls.sock.within(LOAD_WITHIN);
    let o: Outcome = wire::read_json(&mut tls, Kind::Outcome)
        .map_err(RelocError::wire("its answer to the stream"))?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    match o.domid {
        Some(d) if d == remote => Ok(d),
        Some(got) => Err(RelocError::OtherDomain {
            host: job.host.clone(),
            got,
            want: remote,
        }),
        None => Err(peer(job, o)),
    }
}

/// Copies qemu's stream to the destination until qemu closes it; the
/// bytes copied.
fn copy_out(tls: &mut Tls, mut qemu: File) -> Result<u64, RelocError> {
    // Room for a whole chunk in rustls's buffer: one write, no waits
    // for it to drain a part at a time.
    tls.conn.set_buffer_limit(Some(2 * wire::MAX_CHUNK));
    let mut buf = vec![0u8; wire::HEAD + wire::MAX_CHUNK];
    let mut n = 0u64;
    loop {
        let got = match qemu.read(&mut buf[wire::HEAD..]) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(RelocError::Qemu {
                    what: "reading",
                    source,
                });
            }
        };
        wire::write_data_in_place(tls, &mut buf, got)
            .map_err(RelocError::send("sending the stream"))?;
        n += got as u64;
    }
    wire::write_frame(tls, Kind::End, b"").map_err(RelocError::send("ending the stream"))?;
    tls.flush().map_err(RelocError::send("ending the stream"))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::split_host;

    #[test]
    fn a_destination_is_a_name_or_address_with_an_optional_port() {
        assert_eq!(split_host("dst").expect("name"), ("dst".into(), 8002));
        assert_eq!(split_host("dst:9000").expect("port"), ("dst".into(), 9000));
        assert_eq!(
            split_host("10.1.0.2:1").expect("v4"),
            ("10.1.0.2".into(), 1)
        );
        assert_eq!(
            split_host("[fd00::2]:7").expect("v6"),
            ("fd00::2".into(), 7)
        );
        assert_eq!(
            split_host("[fd00::2]").expect("v6"),
            ("fd00::2".into(), 8002)
        );
        for bad in ["", ":80", "dst:x", "dst:99999", "[fd00::2", "[fd00::2]x"] {
            assert!(split_host(bad).is_err(), "{bad}");
        }
    }
}
