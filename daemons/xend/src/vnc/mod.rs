//! xend's VNC gate: where a domain's VNC listens on TCP ([`listen_addr`]),
//! whether this xend may open it there ([`allowed`], by `--vnc-listen`),
//! the listener ([`bind`]) and its store keys ([`publish`], taken back by
//! [`unpublish`] when an adopted domain's listener cannot be made again),
//! and who may connect ([`admit`]).
//!
//! qemu keeps no network socket: it serves VNC with `-vnc none`, and xend
//! listens on its behalf. Each accepted client is handed to qemu over QMP
//! (`add_client`), as the clients of the domain's unix socket are. Before
//! that, on a loopback address, the connecting socket's owner is found
//! through the kernel's sock_diag ([`privlib::peer::tcp_peer_uid`]) and must
//! hold `virt_manage` (or `xvm_control`) under the policy, by the groups
//! the account database gives that uid; otherwise the connection is closed
//! before any byte is written (RFB has no way to refuse before its own
//! handshake, so a refusal is the close, and the one audit event). On any
//! other address the kernel cannot name the peer: such a listener is open
//! to every host that reaches it, and exists only when the administrator
//! started xend with `--vnc-listen any` (the SMF property
//! `config/vnc-listen`).
//!
//! # Port
//! `vnclisten`'s port when it has one (`HOST:PORT`; port 0: a free port
//! the kernel picks, published in the store), else 5900 + `vncdisplay`,
//! else 5900 + the domid.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use privlib::names::{virt_manage, xvm_control};
use privlib::{Policy, Ucred, require_any};
use xenstored::client::{Client as XsClient, ClientError};
use xenstored::wire::XsError;

use crate::config::DomainConfig;

/// The first VNC port (display 0).
pub const VNC_BASE_PORT: u16 = 5900;

/// Clients a domain's qemu serves at once (its unix and TCP ones
/// together); a client beyond them is closed.
pub const MAX_VNC_CLIENTS: usize = 4;

/// Clients of one domain being handed over at once (each waits on QMP,
/// which a stalled qemu can hold up to its deadline); beyond them, closed.
pub const MAX_HANDOVERS: usize = 2;

/// Connections accepted from one listener each time it is found ready,
/// so that a flooded domain does not hold up the others.
pub const MAX_ACCEPTS: usize = 8;

/// The command that lets xend listen beyond loopback (then restart it).
pub const ALLOW_ANY: &str =
    "svccfg -s svc:/system/xvm/xend:default setprop config/vnc-listen = any";

/// Where xend may open VNC listeners (`xend --vnc-listen`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum VncListen {
    /// Loopback addresses only, each connection checked (the default).
    #[default]
    Loopback,
    /// Any address; those not loopback are open to all who reach them.
    Any,
}

/// Why a domain's VNC listener is refused or cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum VncError {
    /// `vnclisten` is not loopback and this xend allows loopback only.
    #[error(
        "vnclisten {addr}: not a loopback address, and this xend opens VNC on loopback only; to open VNC to every host that reaches it, run `{ALLOW_ANY}`, then restart xend"
    )]
    NotLoopback {
        /// The address asked for.
        addr: IpAddr,
    },
    /// 5900 + the display (or domid) is past the last port.
    #[error("VNC display {display}: port {VNC_BASE_PORT} + {display} is past 65535")]
    NoPort {
        /// The display number.
        display: u32,
    },
    /// Someone listens there already.
    #[error(
        "VNC address {addr} is in use (another domain or program listens there): choose another with vncdisplay or vnclisten = 'HOST:PORT'"
    )]
    InUse {
        /// The address.
        addr: SocketAddr,
    },
    /// The listener could not be made.
    #[error("VNC address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bound listener's own address could not be read.
    #[error("the VNC listener's address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// Its store keys could not be written.
    #[error("writing console/vnc-port to xenstored at {}: {source}", path.display())]
    Store {
        /// xenstored's socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// Its store keys could not be removed.
    #[error("removing console/vnc-port and console/vnc-listen through xenstored at {}: {source}", path.display())]
    Unpublish {
        /// xenstored's socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ClientError,
    },
}

/// `vnclisten`'s host and port (`HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`;
/// `localhost` is 127.0.0.1), as the config module checked it.
fn split_listen(l: &str) -> Option<(IpAddr, Option<u16>)> {
    let (host, port) = if let Some(rest) = l.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        (h.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)?, after)
    } else {
        let (h, after) = l.find(':').map_or((l, ""), |i| l.split_at(i));
        let ip = if h == "localhost" {
            Ipv4Addr::LOCALHOST
        } else {
            h.parse().ok()?
        };
        (IpAddr::V4(ip), after)
    };
    match port.strip_prefix(':') {
        None if port.is_empty() => Some((host, None)),
        None => None,
        Some(p) => p.parse().ok().map(|p| (host, Some(p))),
    }
}

/// Where domain `domid`'s VNC listens (see the module's `# Port`).
/// `None` when VNC is off. A `vnclisten` the config module would not
/// have let through is taken as loopback on the default port.
pub fn listen_addr(cfg: &DomainConfig, domid: u32) -> Result<Option<SocketAddr>, VncError> {
    if !cfg.vnc {
        return Ok(None);
    }
    let (ip, port) = split_listen(&cfg.vnclisten).unwrap_or((Ipv4Addr::LOCALHOST.into(), None));
    let port = match port {
        Some(p) => p,
        None => {
            let display = cfg.vncdisplay.unwrap_or(domid);
            u16::try_from(display)
                .ok()
                .and_then(|d| VNC_BASE_PORT.checked_add(d))
                .ok_or(VncError::NoPort { display })?
        }
    };
    Ok(Some(SocketAddr::new(ip, port)))
}

/// Whether this xend (`mode`) may listen on `addr`.
pub fn allowed(addr: &SocketAddr, mode: VncListen) -> Result<(), VncError> {
    if mode == VncListen::Any || privlib::peer::is_loopback(addr) {
        Ok(())
    } else {
        Err(VncError::NotLoopback { addr: addr.ip() })
    }
}

/// The listener on `addr`, not blocking (it is polled with the others).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, VncError> {
    let l = TcpListener::bind(addr).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            VncError::InUse { addr }
        } else {
            VncError::Bind { addr, source }
        }
    })?;
    l.set_nonblocking(true)
        .map_err(|source| VncError::Bind { addr, source })?;
    Ok(l)
}

/// Writes where domain `domid`'s VNC listens, as libxl does:
/// `console/vnc-listen` (the address) and `console/vnc-port`.
pub fn publish(xenstore: &Path, domid: u32, addr: &SocketAddr) -> Result<(), VncError> {
    let err = |source| VncError::Store {
        path: xenstore.to_path_buf(),
        source,
    };
    let mut xs = XsClient::connect(xenstore).map_err(err)?;
    let base = format!("/local/domain/{domid}/console");
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    xs.transaction(5, |c, tx| {
        c.write(tx, &format!("{base}/vnc-listen"), ip.as_bytes())?;
        c.write(tx, &format!("{base}/vnc-port"), port.as_bytes())
    })
    .map_err(err)
}

/// Removes `console/vnc-listen` and `console/vnc-port` of domain `domid`
/// (a key already gone is no error): the store then advertises no TCP
/// address that xend does not hold, so no client is sent to a listener
/// someone else may have bound there.
pub fn unpublish(xenstore: &Path, domid: u32) -> Result<(), VncError> {
    let err = |source| VncError::Unpublish {
        path: xenstore.to_path_buf(),
        source,
    };
    let mut xs = XsClient::connect(xenstore).map_err(err)?;
    let base = format!("/local/domain/{domid}/console");
    xs.transaction(5, |c, tx| {
        for k in ["vnc-port", "vnc-listen"] {
            match c.rm(tx, &format!("{base}/{k}")) {
                Ok(()) | Err(ClientError::Xs(XsError::Enoent)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .map_err(err)
}

/// Most of `/proc/net/tcp{,6}` read when looking for a listener's owner.
const MAX_PROC_NET_TCP: u64 = 16 << 20;

/// The uid owning the socket that listens on `addr` in this network
/// namespace, as `/proc/net/tcp` (or `tcp6`) shows it; `None` when none
/// is found there (or the file cannot be read). Names who took an
/// address xend wanted, for its log only: nothing is decided on it.
pub fn listener_uid(addr: &SocketAddr) -> Option<u32> {
    use std::io::Read;
    // The kernel writes each 32-bit word of the address in host order.
    let (file, ip) = match addr.ip() {
        IpAddr::V4(v4) => (
            "/proc/net/tcp",
            format!("{:08X}", u32::from_ne_bytes(v4.octets())),
        ),
        IpAddr::V6(v6) => (
            "/proc/net/tcp6",
            v6.octets()
                .chunks_exact(4)
                .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
                .collect(),
        ),
    };
    let want = format!("{ip}:{:04X}", addr.port());
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_PROC_NET_TCP).read_to_string(&mut text))
        .ok()?;
    text.lines().skip(1).find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid ...; 0A is LISTEN.
        (w.get(1) == Some(&want.as_str()) && w.get(3) == Some(&"0A"))
            .then(|| w.get(7).and_then(|u| u.parse().ok()))
            .flatten()
    })
}

/// What becomes of a connection accepted on a VNC listener.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// A listener beyond loopback: open to all (`--vnc-listen any`).
    Open,
    /// The connecting uid holds the privilege: hand it to qemu.
    Granted {
        /// Its uid.
        uid: u32,
    },
    /// Refused: close it now, before any byte.
    Refused,
}

/// The credentials of `uid` as the account database gives them (its
/// primary and supplementary groups). A uid with no account has no
/// group (its gid is the invalid `-1`): only a grant by uid can count.
pub fn account_cred(uid: u32) -> Ucred {
    let (gid, groups) = match privlib::os::accounts::user_by_uid(uid) {
        Ok(Some(u)) => {
            let groups = privlib::os::accounts::group_list(&u).unwrap_or_else(|e| {
                tracing::warn!(uid, "groups of {}: {e}; none counted", u.name);
                Vec::new()
            });
            (u.gid, groups)
        }
        Ok(None) => (u32::MAX, Vec::new()),
        Err(e) => {
            tracing::warn!(uid, "looking up uid {uid}: {e}; no group counted");
            (u32::MAX, Vec::new())
        }
    };
    Ucred::from_uid(uid, gid, groups, "sock_diag+accounts")
}

/// Decides a connection accepted on a VNC listener bound to `listening`;
/// `endpoint` names the listener in the audit record. The listener's
/// address decides, not the connection's: one beyond loopback is open to
/// all (a local user reaches it through the host's other addresses as
/// well, so checking only its loopback connections would keep nobody
/// out). On a loopback listener the peer's owner must hold `virt_manage`
/// or `xvm_control` ([`require_any`] decides and emits the audit event);
/// a peer whose owner cannot be found is refused, with an audit event of
/// its own.
pub fn admit(
    policy: &Policy,
    listening: &SocketAddr,
    stream: &TcpStream,
    endpoint: &str,
) -> Admission {
    if !privlib::peer::is_loopback(listening) {
        return Admission::Open;
    }
    let uid = match privlib::peer::tcp_peer_uid(stream) {
        Ok(Some(uid)) => uid,
        Ok(None) => {
            tracing::warn!(target: "xvm::audit", endpoint, outcome = "denied", "VNC peer refused: the kernel names no owner for its socket");
            return Admission::Refused;
        }
        Err(e) => {
            tracing::warn!(target: "xvm::audit", endpoint, outcome = "denied", "VNC peer refused: sock_diag: {e}");
            return Admission::Refused;
        }
    };
    let cred = account_cred(uid);
    match require_any(policy, &cred, endpoint, &[virt_manage(), xvm_control()]) {
        Ok(_) => Admission::Granted { uid },
        Err(_) => Admission::Refused,
    }
}

#[cfg(test)]
mod tests;
