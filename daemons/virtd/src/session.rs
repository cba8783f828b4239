//! One client connection's state, as the procedures see it: who the peer
//! is, whether the connection may change anything, whether it is open,
//! and its connection to xend (made on first use, kept for the session).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xend::api::DomainInfo;
use xend::client::{Client, ClientError};

use crate::error::VirError;
use crate::procs::Proc;

/// Which stack virtd serves, and so which URI it answers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The host's (`xen:///system`).
    System,
    /// One user's (`xen:///session`).
    Session,
}

impl Mode {
    /// The canonical URI of the stack.
    pub fn uri(self) -> &'static str {
        match self {
            Mode::System => "xen:///system",
            Mode::Session => "xen:///session",
        }
    }
}

/// What every session shares: where the daemons are, the host's name.
#[derive(Clone, Debug)]
pub struct Env {
    /// System or session.
    pub mode: Mode,
    /// xend's socket.
    pub xend_socket: PathBuf,
    /// xenstored's socket (consoles: `/local/domain/N/console/tty`).
    pub store_socket: PathBuf,
    /// The host's name (`virsh hostname`).
    pub hostname: String,
}

/// The connecting peer, as the kernel recorded it at connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its pid.
    pub pid: i32,
    /// Its uid.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
}

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    /// The peer.
    pub peer: Peer,
    /// Came in on `libvirt-sock-ro`: nothing may change, whatever
    /// `CONNECT_OPEN`'s flags say.
    pub ro_socket: bool,
    /// `CONNECT_OPEN` asked for read-only (`virsh -r`).
    pub ro_flag: bool,
    /// `CONNECT_OPEN` succeeded and `CONNECT_CLOSE` has not come.
    pub opened: bool,
    /// Shared settings.
    pub env: Arc<Env>,
    xend: Option<Client>,
    listed: Option<(Instant, Vec<DomainInfo>)>,
}

/// How long a listing stays the answer to this connection's lookups
/// ([`Session::recent_list`]).
pub const LIST_RECENT: Duration = Duration::from_millis(250);

impl Session {
    /// A new connection's state.
    pub fn new(peer: Peer, ro_socket: bool, env: Arc<Env>) -> Session {
        Session {
            peer,
            ro_socket,
            ro_flag: false,
            opened: false,
            env,
            xend: None,
            listed: None,
        }
    }

    /// Whether nothing may change on this connection.
    pub fn read_only(&self) -> bool {
        self.ro_socket || self.ro_flag
    }

    /// Keeps the domains a `CONNECT_LIST_ALL_DOMAINS` answered.
    pub fn remember_list(&mut self, rows: Vec<DomainInfo>) {
        self.listed = Some((Instant::now(), rows));
    }

    /// The domains this connection listed in the last [`LIST_RECENT`],
    /// if it changed nothing since: what a client asks of each domain it
    /// just listed (virsh list asks each one's state) is answered as of
    /// the listing, which is itself a snapshot, instead of asking xend
    /// once more per domain.
    pub fn recent_list(&self) -> Option<&[DomainInfo]> {
        self.listed
            .as_ref()
            .filter(|(at, _)| at.elapsed() < LIST_RECENT)
            .map(|(_, rows)| rows.as_slice())
    }

    /// Forgets the listing (a state-changing call).
    pub fn forget_list(&mut self) {
        self.listed = None;
    }

    /// Refuses a state-changing procedure on a read-only connection.
    pub fn check_writable(&self, p: Proc) -> Result<(), VirError> {
        if p.changes_state() && self.read_only() {
            return Err(VirError::read_only(p.name()));
        }
        Ok(())
    }

    /// Runs one call on xend's client, connected on first use and kept
    /// for the session; an error that is not xend's answer (the
    /// connection broke: xend restarted) forgets the connection, so the
    /// next call connects again.
    pub fn xend_call<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let c = match self.xend.take() {
            Some(c) => c,
            None => Client::connect(&self.env.xend_socket)?,
        };
        let c = self.xend.insert(c);
        let r = f(c);
        if let Err(e) = &r
            && !matches!(e, ClientError::Rpc(_))
        {
            self.xend = None;
        }
        r
    }

    /// The one audit event of a state-changing call: the peer, the
    /// procedure, the domain, the outcome (target `xvm::audit`, as
    /// privlib's decisions).
    pub fn audit(&self, p: Proc, domain: &str, outcome: Result<(), &VirError>) {
        match outcome {
            Ok(()) => tracing::info!(
                target: "xvm::audit",
                pid = self.peer.pid,
                uid = self.peer.uid,
                gid = self.peer.gid,
                procedure = p.name(),
                domain,
                outcome = "done",
                "virtd: {} {domain} by uid {}",
                p.name(),
                self.peer.uid
            ),
            Err(e) => tracing::info!(
                target: "xvm::audit",
                pid = self.peer.pid,
                uid = self.peer.uid,
                gid = self.peer.gid,
                procedure = p.name(),
                domain,
                outcome = "failed",
                error = %e,
                "virtd: {} {domain} by uid {} failed: {e}",
                p.name(),
                self.peer.uid
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let env = Arc::new(Env {
            mode: Mode::Session,
            xend_socket: PathBuf::from("/nonexistent/xmlrpc.sock"),
            store_socket: PathBuf::from("/nonexistent/socket"),
            hostname: "h".into(),
        });
        Session::new(
            Peer {
                pid: 1,
                uid: 1,
                gid: 1,
            },
            false,
            env,
        )
    }

    #[test]
    fn a_listing_answers_for_a_moment_and_never_after_a_change() {
        let mut s = session();
        assert!(s.recent_list().is_none());
        s.remember_list(Vec::new());
        assert!(s.recent_list().is_some());
        s.forget_list();
        assert!(s.recent_list().is_none());
        s.remember_list(Vec::new());
        std::thread::sleep(LIST_RECENT);
        assert!(s.recent_list().is_none(), "kept past LIST_RECENT");
    }
}
