//! Who is at the other end of a socket: [`getpeerucred`] for unix sockets
//! (and socketpair ends), [`tcp_peer_uid`] for loopback TCP.
//!
//! The kernel's connect-time record (SO_PEERCRED, SO_PEERGROUPS) is always
//! trusted. Capabilities are not recorded at connect time, so they are read
//! from `/proc` and believed only when (a) the peer's pidfd (SO_PEERPIDFD)
//! shows the connecting process still alive after the read, (b) the ids in
//! `/proc` equal the connect-time ones, and (c) its executable is neither
//! set-id nor carries file capabilities. Otherwise the peer holds no
//! capability-backed privilege: a process that connects unprivileged and
//! then execs a privileged program holding the socket gains nothing.

use std::cell::OnceCell;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::caps::CapMask;
use crate::procfs;
use crate::sys::{diag, peer as kpeer};

/// Why capabilities read from `/proc` were not believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapTrust {
    /// Believed: the peer's effective capabilities.
    Trusted(CapMask),
    /// Not believed; the peer is treated as holding none. Says why.
    Refused(String),
}

impl CapTrust {
    /// The capabilities that count (none when refused).
    pub fn caps(&self) -> CapMask {
        match self {
            CapTrust::Trusted(c) => *c,
            CapTrust::Refused(_) => CapMask::EMPTY,
        }
    }
}

/// A peer's credentials.
#[derive(Debug)]
pub struct Ucred {
    /// Pid at connect time (0 when unknown, as for a TCP peer).
    pub pid: i32,
    /// Effective uid at connect time (kernel record).
    pub euid: u32,
    /// Effective gid at connect time (kernel record).
    pub egid: u32,
    /// Supplementary groups at connect time (kernel record), bounded.
    pub groups: Vec<u32>,
    /// Where the ids came from.
    pub source: &'static str,
    /// A duplicate of the socket: SO_PEERPIDFD is asked of it only when
    /// capabilities are needed (a pidfd costs the kernel a file; most
    /// peers are granted by group and never need one). The socket holds
    /// the connect-time pid reference, so asking later is as sound.
    sock: Option<OwnedFd>,
    proc_root: PathBuf,
    caps: OnceCell<CapTrust>,
}

impl Ucred {
    /// A peer known only by uid (and gid and groups from the account
    /// database), as for a loopback TCP connection: no capability counts.
    pub fn from_uid(uid: u32, gid: u32, groups: Vec<u32>, source: &'static str) -> Ucred {
        let caps = OnceCell::new();
        let _ = caps.set(CapTrust::Refused(
            "no process is known for this peer".into(),
        ));
        Ucred {
            pid: 0,
            euid: uid,
            egid: gid,
            groups,
            source,
            sock: None,
            proc_root: PathBuf::new(),
            caps,
        }
    }

    /// Whether the peer is in group `gid` (effective or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }

    /// The capabilities that count for this peer, read from `/proc` on
    /// first use and checked as the module says.
    pub fn caps(&self) -> &CapTrust {
        self.caps.get_or_init(|| self.read_caps())
    }

    fn read_caps(&self) -> CapTrust {
        let Some(sock) = &self.sock else {
            return CapTrust::Refused("no socket is known for this peer".into());
        };
        // SO_PEERPIDFD is Linux 6.5+; without it capabilities are never believed.
        let pidfd = match kpeer::peer_pidfd(sock.as_raw_fd()) {
            Ok(p) => p,
            Err(e) => {
                return CapTrust::Refused(format!("the kernel gave no pidfd for the peer: {e}"));
            }
        };
        let pid = self.pid.to_string();
        let cred = match procfs::read_cred(&self.proc_root, &pid) {
            Ok(c) => c,
            Err(e) => return CapTrust::Refused(format!("cannot read the peer's status: {e}")),
        };
        let exe = self.proc_root.join(&pid).join("exe");
        let privileged_exe = kpeer::is_privileged_file(&exe);
        // (a) After reading: the pidfd's process must still be alive, so the
        // pid was not recycled while we read.
        if !kpeer::pidfd_alive(&pidfd) {
            return CapTrust::Refused("the connecting process is gone".into());
        }
        // (b) The ids must be the connect-time ones: a set-id exec since
        // connect changes them.
        if cred.uid[1] != self.euid
            || cred.gid[1] != self.egid
            || cred.uid[0] != cred.uid[1]
            || cred.uid[2] != cred.uid[1]
        {
            return CapTrust::Refused(format!(
                "ids changed since connect (uid {} {} {}, connected as {})",
                cred.uid[0], cred.uid[1], cred.uid[2], self.euid
            ));
        }
        // (c) The program must not have gained privileges at exec.
        match privileged_exe {
            Ok(false) => CapTrust::Trusted(cred.caps.effective),
            Ok(true) => {
                CapTrust::Refused("the peer runs a set-id or file-capability program".into())
            }
            Err(e) => CapTrust::Refused(format!("cannot inspect the peer's executable: {e}")),
        }
    }
}

/// The credentials of the peer of a unix socket (either end of a
/// socketpair too). `proc_root` is normally `/proc`.
pub fn getpeerucred_at(fd: RawFd, proc_root: &Path) -> io::Result<Ucred> {
    let (pid, euid, egid) = kpeer::peer_cred(fd)?;
    let groups = kpeer::peer_groups(fd)?;
    let sock = crate::sys::fds::dup_above(fd, 3)?;
    Ok(Ucred {
        pid,
        euid,
        egid,
        groups,
        source: "SO_PEERCRED+SO_PEERGROUPS",
        sock: Some(sock),
        proc_root: proc_root.to_path_buf(),
        caps: OnceCell::new(),
    })
}

/// [`getpeerucred_at`] with `/proc`.
pub fn getpeerucred(fd: &impl AsRawFd) -> io::Result<Ucred> {
    getpeerucred_at(fd.as_raw_fd(), Path::new("/proc"))
}

/// Whether an address is loopback (127.0.0.0/8, ::1, or ::ffff:127.x).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr {
        SocketAddr::V4(a) => a.ip().is_loopback(),
        SocketAddr::V6(a) => {
            a.ip().is_loopback() || a.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The uid owning the client socket of an accepted loopback TCP
/// connection, through sock_diag. A peer from any other address has no
/// identity (`None`), and neither has one whose socket cannot be found.
pub fn tcp_peer_uid(stream: &TcpStream) -> io::Result<Option<u32>> {
    let peer = stream.peer_addr()?;
    let local = stream.local_addr()?;
    if !is_loopback(&peer) {
        return Ok(None);
    }
    // The client's socket: source = its address, destination = ours.
    diag::tcp_owner(peer, local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_socketpair_end_knows_its_peer() {
        let (a, _b) = UnixStream::pair().expect("pair");
        let u = getpeerucred(&a).expect("ucred");
        assert_eq!(u.pid, i32::try_from(std::process::id()).expect("pid"));
        let me = crate::procfs::read_cred(Path::new("/proc"), "self").expect("self");
        assert_eq!(u.euid, me.uid[1]);
        assert_eq!(u.groups, me.groups);
        // Our own binary is no set-id program, so our capabilities count.
        assert_eq!(u.caps(), &CapTrust::Trusted(me.caps.effective));
    }

    #[test]
    fn loopback_addresses() {
        for (a, l) in [
            ("127.0.0.1:1", true),
            ("127.9.9.9:1", true),
            ("[::1]:1", true),
            ("[::ffff:127.0.0.1]:1", true),
            ("10.0.0.1:1", false),
            ("[fe80::1]:1", false),
        ] {
            assert_eq!(is_loopback(&a.parse().expect("addr")), l, "{a}");
        }
    }

    #[test]
    fn a_loopback_tcp_client_is_found_by_uid() {
        let srv = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let _client = TcpStream::connect(srv.local_addr().expect("addr")).expect("connect");
        let (conn, _) = srv.accept().expect("accept");
        let me = crate::procfs::read_cred(Path::new("/proc"), "self").expect("self");
        assert_eq!(tcp_peer_uid(&conn).expect("diag"), Some(me.uid[1]));
    }
}
