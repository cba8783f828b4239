//! Where a domain's gates listen, as a config writes it: `serial`'s
//! `tcp:HOST:PORT` (and `telnet:`) read into a [`TcpListen`], and
//! `vnclisten` checked in full; each refusal its own fault.

use super::error::{SerialFault, VnclistenFault};

/// A TCP address a console gate listens on (`serial = 'tcp:...'`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpListen {
    /// The address (`localhost` is `127.0.0.1`).
    pub ip: std::net::IpAddr,
    /// The port.
    pub port: u16,
}

impl TcpListen {
    /// Whether only this host can reach it (the gate then asks each
    /// client's owner for `virt_manage`).
    pub fn is_loopback(&self) -> bool {
        self.ip.is_loopback()
    }

    /// `HOST:PORT`, with an IPv6 address in brackets.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }
}

/// Reads `serial`'s value: `pty`, `none`, `tcp:HOST:PORT`, or
/// `telnet:HOST:PORT` with qemu's `,server` and `,nowait` options (the
/// only ones: the console daemon is always the server and never waits).
/// HOST is an IPv4 address, `localhost`, or an IPv6 address in brackets;
/// PORT is 1 to 65535.
pub(super) fn parse_serial(s: &str) -> Result<Option<TcpListen>, SerialFault> {
    if matches!(s, "pty" | "none") {
        return Ok(None);
    }
    // The telnet form is served as plain TCP: the console daemon speaks no
    // telnet options, as qemu's own telnet server would not either before
    // a client asks.
    let rest = s
        .strip_prefix("tcp:")
        .or_else(|| s.strip_prefix("telnet:"))
        .ok_or(SerialFault::Kind)?;
    let mut parts = rest.split(',');
    let hostport = parts.next().unwrap_or("");
    for o in parts {
        if !matches!(o, "server" | "nowait" | "server=on" | "wait=off") {
            return Err(SerialFault::Option(o.to_string()));
        }
    }
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or(SerialFault::Host)?;
        let port = after.strip_prefix(':').ok_or(SerialFault::Port)?;
        let ip: std::net::Ipv6Addr = h.parse().map_err(|_| SerialFault::Host)?;
        // An IPv4-mapped address is the IPv4 one: a listener there gets
        // IPv4 clients, whose owner sock_diag finds as AF_INET sockets.
        let ip = ip
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(ip), std::net::IpAddr::V4);
        (ip, port)
    } else {
        let (h, port) = hostport.rsplit_once(':').ok_or(SerialFault::Port)?;
        let ip = if h == "localhost" {
            std::net::Ipv4Addr::LOCALHOST
        } else {
            h.parse().map_err(|_| SerialFault::Host)?
        };
        (std::net::IpAddr::V4(ip), port)
    };
    let port: u16 = if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        port.parse().map_err(|_| SerialFault::Port)?
    } else {
        return Err(SerialFault::Port);
    };
    if port == 0 {
        return Err(SerialFault::Port);
    }
    Ok(Some(TcpListen { ip: host, port }))
}

/// Checks a `vnclisten` value in full: `HOST` or `HOST:PORT`, where
/// `HOST` is an IPv4 address, `localhost`, or an IPv6 address in
/// brackets (`[::1]`), and `PORT` is decimal digits, at most 65535.
pub(super) fn check_vnclisten(l: &str) -> Result<(), VnclistenFault> {
    let (host_ok, port) = if let Some(rest) = l.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or(VnclistenFault::UnclosedBracket)?;
        (h.parse::<std::net::Ipv6Addr>().is_ok(), after)
    } else {
        let (h, after) = l.find(':').map_or((l, ""), |i| l.split_at(i));
        (
            h == "localhost" || h.parse::<std::net::Ipv4Addr>().is_ok(),
            after,
        )
    };
    if !host_ok {
        return Err(VnclistenFault::BadHost);
    }
    if port.is_empty() {
        return Ok(());
    }
    let digits = port.strip_prefix(':').ok_or(VnclistenFault::NoColon)?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.parse::<u16>().is_err()
    {
        return Err(VnclistenFault::BadPort);
    }
    Ok(())
}
