//! The listening socket every daemon shares: [`UnixServer`].
//!
//! It creates the socket at a path with a given mode and owner (removing a
//! stale socket, refusing a symlink or any other file there), accepts, and
//! hands each connection with its [`Ucred`] to the daemon. With
//! [`UnixServer::serve_gated`] each connection is decided at accept by a
//! [`Gate`] (refused peers never take a slot; slots are bounded per uid
//! and in total) and served on a thread of its own; a peer that sends
//! nothing is cut off after the gate's idle time.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::gate::{Gate, Slot, Verdict};
use crate::peer::{Ucred, getpeerucred};
use crate::sys::sock;

/// How the socket node is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketSpec {
    /// Mode bits (0666: the peer check is the gate).
    pub mode: u32,
    /// Owner and group, when they should differ from ours.
    pub owner: Option<(u32, u32)>,
}

/// Why a socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Something else is at the path.
    #[error("{0}: exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// A symlink is at the path.
    #[error("{0}: is a symlink; refusing to follow or replace it")]
    Symlink(PathBuf),
    /// A live daemon answers on it.
    #[error("{0}: in use by a running process")]
    InUse(PathBuf),
    /// A system call failed.
    #[error("{path}: {step}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The step.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A unix listening socket whose connections come with their [`Ucred`].
#[derive(Debug)]
pub struct UnixServer {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixServer {
    /// Creates the socket at `path`. A stale socket (nobody answers) is
    /// removed; a live one, a symlink or any other file is an error.
    pub fn bind(path: &Path, spec: SocketSpec) -> Result<UnixServer, ListenError> {
        let io_err = |step| {
            move |source| ListenError::Io {
                path: path.to_path_buf(),
                step,
                source,
            }
        };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ListenError::Symlink(path.to_path_buf()));
            }
            Ok(m) if !m.file_type().is_socket() => {
                return Err(ListenError::NotASocket(path.to_path_buf()));
            }
            Ok(_) => {
                if UnixStream::connect(path).is_ok() {
                    return Err(ListenError::InUse(path.to_path_buf()));
                }
                std::fs::remove_file(path).map_err(io_err("remove stale socket"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("lstat")(e)),
        }
        // Bound but not listening: nobody can connect until the node has
        // its mode and owner.
        let fd = sock::bind_unix(path).map_err(io_err("bind"))?;
        sock::fix_node(path, spec.mode, spec.owner).map_err(io_err("set mode and owner"))?;
        sock::listen(&fd, 128).map_err(io_err("listen"))?;
        Ok(UnixServer {
            listener: UnixListener::from(fd),
            path: path.to_path_buf(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener, for daemons with their own event loop.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// Accepts one connection and reads its peer's credentials.
    pub fn accept(&self) -> io::Result<(UnixStream, Ucred)> {
        let (stream, _) = self.listener.accept()?;
        let cred = getpeerucred(&stream)?;
        Ok((stream, cred))
    }

    /// Serves connections on threads, each decided at accept by the
    /// gate: `decide` gives the [`Verdict`] for a peer (through
    /// `require_any`, so it is audited), a refused peer is answered by the
    /// gate's refuser and never reaches `handler`, and a served one runs
    /// `handler` on a thread of its own, holding its [`Slot`] until the
    /// handler returns. Each served stream times out after the gate's
    /// idle time without progress. Runs until accepting fails.
    ///
    /// A thread per served connection: the gate bounds how many there are
    /// (its total), and a slow or stalled peer then delays nobody else.
    pub fn serve_gated<D, H>(&self, gate: &Gate, decide: D, handler: H) -> io::Result<()>
    where
        D: Fn(&Ucred) -> Verdict,
        H: Fn(UnixStream, Ucred, Slot) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        loop {
            let Some((stream, cred)) = self.accept_one()? else {
                continue;
            };
            let verdict = decide(&cred);
            let Some((stream, slot)) = gate.admit(stream, cred.euid, verdict) else {
                continue;
            };
            let idle = Some(gate.limits().idle);
            if stream.set_read_timeout(idle).is_err() || stream.set_write_timeout(idle).is_err() {
                continue;
            }
            let h = Arc::clone(&handler);
            let spawned = std::thread::Builder::new()
                .name("conn".into())
                .spawn(move || h(stream, cred, slot));
            if let Err(e) = spawned {
                tracing::warn!(path = %self.path.display(), "cannot start a connection thread: {e}");
            }
        }
    }

    /// Accepts one connection with its peer's credentials, for servers
    /// with their own loop. `Ok(None)`: this connection is gone (its
    /// credentials could not be read) or accepting must pause (out of
    /// files: after a short wait); `Err`: the listener is broken.
    pub fn accept_one(&self) -> io::Result<Option<(UnixStream, Ucred)>> {
        let stream = match self.listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            // Out of fds or memory: back off instead of spinning.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
                ) =>
            {
                tracing::warn!(path = %self.path.display(), "accept: {e}; pausing");
                std::thread::sleep(Duration::from_millis(50));
                return Ok(None);
            }
            // The peer went away between connect and accept.
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => return Ok(None),
            Err(e) => return Err(e),
        };
        match getpeerucred(&stream) {
            Ok(c) => Ok(Some((stream, c))),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "peer credentials: {e}; closing");
                Ok(None)
            }
        }
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xvm-listen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    const SPEC: SocketSpec = SocketSpec {
        mode: 0o666,
        owner: None,
    };

    #[test]
    fn makes_the_socket_with_its_mode_and_replaces_only_stale_ones() {
        let d = dir("mode");
        let p = d.join("sock");
        let s = UnixServer::bind(&p, SPEC).expect("bind");
        assert_eq!(
            std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777,
            0o666
        );
        assert!(matches!(
            UnixServer::bind(&p, SPEC),
            Err(ListenError::InUse(_))
        ));
        // Stale: the listener is gone but the node stays.
        std::mem::forget(s);
        let again = UnixServer::bind(
            &p,
            SocketSpec {
                mode: 0o600,
                owner: None,
            },
        );
        // The forgotten listener still accepts, so this is "in use"...
        assert!(matches!(again, Err(ListenError::InUse(_))));
        let stale = d.join("stale");
        drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
        let s = UnixServer::bind(
            &stale,
            SocketSpec {
                mode: 0o600,
                owner: None,
            },
        )
        .expect("stale replaced");
        assert_eq!(
            std::fs::metadata(s.path())
                .expect("stat")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    #[test]
    fn refuses_symlinks_and_other_files() {
        let d = dir("refuse");
        let target = d.join("target");
        std::fs::write(&target, "keep me").expect("write");
        let link = d.join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(
            UnixServer::bind(&link, SPEC),
            Err(ListenError::Symlink(_))
        ));
        assert!(matches!(
            UnixServer::bind(&target, SPEC),
            Err(ListenError::NotASocket(_))
        ));
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    }

    /// Refuses in one line.
    struct No;

    impl crate::gate::Refusal for No {
        fn complete(&self, first: &[u8]) -> bool {
            !first.is_empty()
        }
        fn reply(&self, _: &[u8], why: &str) -> Vec<u8> {
            format!("no: {why}\n").into_bytes()
        }
    }

    #[test]
    fn a_silent_peer_loses_its_slot_and_a_full_server_refuses_in_words() {
        let d = dir("idle");
        let p = d.join("sock");
        let server = UnixServer::bind(&p, SPEC).expect("bind");
        std::thread::spawn(move || {
            let gate = Gate::new(
                crate::gate::GateLimits {
                    total: 1,
                    per_uid: 1,
                    reserve: 0,
                    idle: Duration::from_millis(200),
                    ..crate::gate::GateLimits::default()
                },
                No,
            )
            .expect("gate");
            let _ = server.serve_gated(
                &gate,
                |_| Verdict::Ordinary,
                |mut s, cred, _slot| {
                    let mut b = [0u8; 1];
                    let reply = match s.read(&mut b) {
                        Ok(1) => format!("hello {}\n", cred.euid),
                        _ => return, // silent too long: give the slot back
                    };
                    let _ = s.write_all(reply.as_bytes());
                },
            );
        });
        let _silent = UnixStream::connect(&p).expect("connect");
        std::thread::sleep(Duration::from_millis(50));
        // The one slot is taken: a second peer is refused, saying why.
        let mut second = UnixStream::connect(&p).expect("connect");
        let _ = second.write_all(b"x");
        let mut buf = String::new();
        let _ = second.read_to_string(&mut buf);
        assert!(buf.starts_with("no: "), "the server is full: {buf:?}");
        // After the idle time the silent peer is cut off and a new one is served.
        std::thread::sleep(Duration::from_millis(400));
        let mut third = UnixStream::connect(&p).expect("connect");
        third.write_all(b"x").expect("write");
        let mut buf = String::new();
        third.read_to_string(&mut buf).expect("read");
        assert!(buf.starts_with("hello "), "{buf:?}");
    }
}
