//! The TCP serial gate's decisions (DESIGN.md 1.5): which `serial/0/tcp`
//! addresses may be listened on, and who is served.
//!
//! On a loopback address the connecting socket's owner uid (sock_diag,
//! found by the caller with `privlib::peer::tcp_peer_uid`) must hold
//! `virt_manage` or `xvm_control` by the policy; anyone else gets one
//! line and is closed before any guest byte. Any other address is served
//! to all, and only when the administrator chose it (`--serial-listen
//! any`). At most [`MAX_CLIENTS`] clients per domain.

use std::net::SocketAddr;

use privlib::peer::is_loopback;
use privlib::{Policy, Ucred};

/// Clients one domain's TCP serial serves at once.
pub const MAX_CLIENTS: usize = 8;

/// Which addresses `serial/0/tcp` may name (`--serial-listen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SerialListen {
    /// Loopback addresses only, behind the privilege gate.
    Loopback,
    /// Any address; non-loopback ones are open to everyone who can reach them.
    Any,
}

/// Why a `serial/0/tcp` address is not listened on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenRefused {
    /// The value is not `HOST:PORT`.
    #[error("serial/0/tcp {0:?} is not an address (HOST:PORT)")]
    NotAnAddress(String),
    /// A non-loopback address under `--serial-listen loopback`.
    #[error(
        "serial/0/tcp {0} is not a loopback address: refused (allow it with \
         svccfg -s svc:/system/xvm/console:default setprop config/serial-listen = any)"
    )]
    NotLoopback(SocketAddr),
}

/// The address to listen on for a `serial/0/tcp` value, if allowed.
pub fn listen_addr(value: &[u8], listen: SerialListen) -> Result<SocketAddr, ListenRefused> {
    let text = String::from_utf8_lossy(value);
    let text = text.trim_end_matches('\0').trim();
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| ListenRefused::NotAnAddress(text.chars().take(80).collect()))?;
    if !is_loopback(&addr) && listen == SerialListen::Loopback {
        return Err(ListenRefused::NotLoopback(addr));
    }
    Ok(addr)
}

/// What happens to one accepted connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Served; the reason, for the log.
    Served(String),
    /// Sent this one line, then closed.
    Refused(String),
}

/// Decides for a connection accepted on `listen` from `peer`, owned (by
/// sock_diag) by `uid`, with `clients` already served. `account` gives a
/// uid's primary gid and groups from the account database.
pub fn admit(
    listen: &SocketAddr,
    uid: Option<u32>,
    clients: usize,
    policy: &Policy,
    account: impl Fn(u32) -> Option<(u32, Vec<u32>)>,
) -> Admit {
    if clients >= MAX_CLIENTS {
        return Admit::Refused(format!(
            "xenconsoled: refused: {MAX_CLIENTS} clients already on this console"
        ));
    }
    if !is_loopback(listen) {
        return Admit::Served(format!(
            "{listen} is not loopback: open to all by --serial-listen any"
        ));
    }
    let Some(uid) = uid else {
        return Admit::Refused(
            "xenconsoled: refused: the connection's owner could not be found".into(),
        );
    };
    // No account: the uid alone (a gid no group has).
    let (gid, groups) = account(uid).unwrap_or((u32::MAX, Vec::new()));
    let peer = Ucred::from_uid(uid, gid, groups, "sock_diag");
    let asked = [privlib::names::virt_manage(), privlib::names::xvm_control()];
    match privlib::require_any(policy, &peer, &format!("serial tcp {listen}"), &asked) {
        Ok(g) => Admit::Served(format!("uid {uid} holds {}", g.privilege.name())),
        Err(d) => Admit::Refused(format!("xenconsoled: refused: {}", d.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy() -> Policy {
        Policy::parse(
            "[xvm_control]\nuids = [0]\n\n[virt_manage]\nuids = [1001]\n",
            Path::new("test.toml"),
        )
        .expect("policy")
    }

    #[test]
    fn only_loopback_addresses_unless_any() {
        let lo: SocketAddr = "127.0.0.1:4555".parse().expect("addr");
        assert_eq!(
            listen_addr(b"127.0.0.1:4555", SerialListen::Loopback),
            Ok(lo)
        );
        assert_eq!(
            listen_addr(b"[::1]:1\0", SerialListen::Loopback).map(|a| a.port()),
            Ok(1)
        );
        let far: SocketAddr = "10.1.2.3:4555".parse().expect("addr");
        assert_eq!(
            listen_addr(b"10.1.2.3:4555", SerialListen::Loopback),
            Err(ListenRefused::NotLoopback(far))
        );
        assert_eq!(listen_addr(b"10.1.2.3:4555", SerialListen::Any), Ok(far));
        assert!(matches!(
            listen_addr(b"localhost:x", SerialListen::Any),
            Err(ListenRefused::NotAnAddress(_))
        ));
    }

    #[test]
    fn on_loopback_the_owner_must_hold_virt_manage() {
        let lo: SocketAddr = "127.0.0.1:4555".parse().expect("addr");
        let p = policy();
        let acct = |u: u32| Some((u, vec![u]));
        assert!(matches!(
            admit(&lo, Some(1001), 0, &p, acct),
            Admit::Served(_)
        ));
        assert!(matches!(admit(&lo, Some(0), 0, &p, acct), Admit::Served(_)));
        match admit(&lo, Some(1002), 0, &p, acct) {
            Admit::Refused(l) => {
                assert!(l.starts_with("xenconsoled: refused: "), "{l}");
                assert!(l.contains("virt_manage"), "{l}");
                assert!(!l.contains('\n'), "{l}");
            }
            a => panic!("{a:?}"),
        }
        assert!(matches!(admit(&lo, None, 0, &p, acct), Admit::Refused(_)));
        // The ninth client, even a privileged one.
        assert!(matches!(
            admit(&lo, Some(1001), MAX_CLIENTS, &p, acct),
            Admit::Refused(_)
        ));
    }

    #[test]
    fn elsewhere_everyone_is_served() {
        let far: SocketAddr = "10.1.2.3:4555".parse().expect("addr");
        assert!(matches!(
            admit(&far, None, 0, &policy(), |_| None),
            Admit::Served(_)
        ));
    }
}
