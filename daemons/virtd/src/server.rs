//! virtd's sockets: `libvirt-sock` and `libvirt-sock-ro`, mode 0666,
//! each served through privlib's gate ([`privlib::Gate`]) on a thread of
//! its own, a thread per admitted client ([`crate::conn`]).
//!
//! Both sockets need `virt_manage` (or `xvm_control`); a peer holding
//! neither is answered by the gate's refuser with libvirt's
//! `VIR_ERR_ACCESS_DENIED` to its first call ([`LibvirtRefusal`]) and
//! closed, and never takes a slot. Threads rather than an event loop, as
//! xend: every call waits on xend, and the gate bounds the threads.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use privlib::listener::{ListenError, SocketSpec, UnixServer};
use privlib::names::{virt_manage, xvm_control};
use privlib::{Gate, GateLimits, Policy, Refusal, Ucred, Verdict, require_any};

use crate::conn;
use crate::error::{Code, From, VirError};
use crate::packet::{HEADER_BYTES, LEN_BYTES, MsgType, Packet, Status};
use crate::session::Env;

/// The gate's bounds: a client holds one thread and at most one packet
/// of [`crate::packet::MAX_PACKET`], so 256 of them bound virtd's memory
/// to a few hundred MiB at worst; 32 a uid.
pub fn limits() -> GateLimits {
    GateLimits {
        total: 256,
        per_uid: 32,
        reserve: 32,
        // An opened libvirt connection may idle (virsh pings every 5 s);
        // a packet once begun must arrive within conn::PACKET_TIME.
        idle: Duration::from_secs(3600),
        ..GateLimits::default()
    }
}

/// How libvirt's protocol refuses a peer: a REPLY with status ERROR to its
/// first call (its header's program, procedure and serial), carrying
/// `VIR_ERR_ACCESS_DENIED` and the missing privilege, so virsh prints
/// "error: access denied: ...". A first packet that never came whole
/// gets nothing: the connection is closed.
#[derive(Clone, Copy, Debug, Default)]
pub struct LibvirtRefusal;

impl Refusal for LibvirtRefusal {
    fn complete(&self, first: &[u8]) -> bool {
        first.len() >= LEN_BYTES + HEADER_BYTES
    }

    fn reply(&self, first: &[u8], why: &str) -> Vec<u8> {
        if first.len() < LEN_BYTES + HEADER_BYTES {
            return Vec::new();
        }
        let Ok(call) = Packet::decode(&first[LEN_BYTES..LEN_BYTES + HEADER_BYTES]) else {
            return Vec::new();
        };
        let e = denied(why);
        Packet::new(
            call.header.answer(MsgType::Reply, Status::Error),
            e.encode(),
        )
        .encode()
    }
}

/// The error a refused peer gets.
pub fn denied(why: &str) -> VirError {
    VirError::new(
        Code::AccessDenied,
        From::Access,
        format!("access denied: virtd requires virt_manage: {why}"),
    )
}

/// Binds one of virtd's sockets at `path`, mode 0666: the gate at accept
/// is the check, not the file's mode.
pub fn bind(path: &Path) -> Result<UnixServer, ListenError> {
    UnixServer::bind(
        path,
        SocketSpec {
            mode: 0o666,
            owner: None,
        },
    )
}

/// The running virtd: who may connect, where the daemons are.
#[derive(Debug)]
pub struct Server {
    policy: Policy,
    env: Arc<Env>,
    gate: Gate,
}

impl Server {
    /// A server deciding by `policy`.
    pub fn new(policy: Policy, env: Arc<Env>) -> io::Result<Server> {
        Ok(Server {
            policy,
            env,
            gate: Gate::new(limits(), LibvirtRefusal)?,
        })
    }

    /// The gate's verdict on a peer of `endpoint`: `xvm_control` may take
    /// reserved slots, `virt_manage` ordinary ones, anyone else is
    /// refused (audited by `require_any`).
    pub fn verdict(&self, cred: &Ucred, endpoint: &str) -> Verdict {
        match require_any(
            &self.policy,
            cred,
            endpoint,
            &[virt_manage(), xvm_control()],
        ) {
            Ok(g) if g.privilege == xvm_control() => Verdict::Reserved,
            Ok(_) => Verdict::Ordinary,
            Err(d) => Verdict::Refused(d.message()),
        }
    }

    /// Serves both sockets for ever (the read-only one on a thread of its
    /// own); returns when accepting fails on either.
    pub fn serve(self, rw: UnixServer, ro: UnixServer) -> io::Result<()> {
        let me = Arc::new(self);
        let other = Arc::clone(&me);
        let ro_thread = std::thread::Builder::new()
            .name("accept-ro".into())
            .spawn(move || other.serve_one(&ro, true))?;
        let r = me.serve_one(&rw, false);
        if r.is_ok() {
            return ro_thread.join().unwrap_or_else(|_| {
                Err(io::Error::other("the read-only socket's thread panicked"))
            });
        }
        r
    }

    fn serve_one(self: &Arc<Self>, server: &UnixServer, read_only: bool) -> io::Result<()> {
        let endpoint = server.path().display().to_string();
        let env = Arc::clone(&self.env);
        server.serve_gated(
            &self.gate,
            |cred| self.verdict(cred, &endpoint),
            move |stream, cred, slot| {
                conn::serve(stream, &cred, read_only, Arc::clone(&env));
                drop(slot);
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Header, REMOTE_PROGRAM, REMOTE_VERSION, read_packet};
    use crate::xdr::Dec;

    #[test]
    fn a_refused_peer_gets_access_denied_to_its_first_call() {
        let call = Packet::new(
            Header {
                prog: REMOTE_PROGRAM,
                vers: REMOTE_VERSION,
                proc_: 66,
                kind: MsgType::Call,
                serial: 7,
                status: Status::Ok,
            },
            Vec::new(),
        )
        .encode();
        let r = LibvirtRefusal;
        assert!(!r.complete(&call[..20]));
        assert!(r.complete(&call));
        let bytes = r.reply(&call, "uid 1001 holds neither virt_manage nor xvm_control");
        let p = read_packet(&mut &bytes[..])
            .expect("a packet")
            .expect("not empty");
        assert_eq!(
            (
                p.header.kind,
                p.header.status,
                p.header.serial,
                p.header.proc_
            ),
            (MsgType::Reply, Status::Error, 7, 66)
        );
        let mut d = Dec::new(&p.body);
        assert_eq!(d.i32("code"), Ok(88));
        let msg = d.i32("from").and_then(|_| d.opt_string("message", 4096));
        assert!(
            matches!(msg, Ok(Some(m)) if m.contains("virt_manage")),
            "{msg:?}"
        );
        assert!(r.reply(&call[..10], "x").is_empty());
    }
}
