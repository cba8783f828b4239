//! A blocking XenStore client for xm, xend, virtd and tests.
//!
//! One request at a time, as libxenstore does; watch events that arrive
//! in between are kept for [`Client::next_event`]. Every request has a
//! deadline ([`DEFAULT_TIMEOUT`], or [`Client::connect_with_timeout`] /
//! [`Client::set_timeout`]) for sending it and for the whole reply: a
//! stalled xenstored is [`ClientError::Timeout`], never a hang of xend's
//! registration or of xm.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::perms::Perms;
use crate::wire::{Frame, FrameReader, FrameTooLong, MsgType, XsError};

/// What went wrong, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an error.
    #[error("{0}")]
    Xs(XsError),
    /// The daemon refused the connection: names what is missing.
    #[error("permission denied: xvm_control or virt_manage required")]
    Denied,
    /// The socket failed.
    #[error("xenstored connection: {0}")]
    Io(#[from] io::Error),
    /// The daemon did not take the request, or did not answer it, in time.
    #[error(
        "xenstored at {} did not answer within {} ms",
        socket.display(),
        after.as_millis()
    )]
    Timeout {
        /// The socket connected to.
        socket: PathBuf,
        /// The deadline that passed.
        after: Duration,
    },
    /// The daemon answered something else than asked.
    #[error("xenstored sent an unexpected reply: {0}")]
    Protocol(#[source] Unexpected),
}

/// What was wrong with a reply.
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    /// A frame longer than the protocol allows.
    #[error(transparent)]
    TooLong(#[from] FrameTooLong),
    /// A reply of another type or to another request.
    #[error("type {ty}, request {req_id} in reply to type {asked}, request {sent}")]
    Mismatch {
        /// The reply's type.
        ty: u32,
        /// The reply's request id.
        req_id: u32,
        /// The type asked.
        asked: u32,
        /// The request id sent.
        sent: u32,
    },
    /// A permission list that does not parse.
    #[error("permissions: {0}")]
    Perms(#[source] XsError),
    /// A transaction id that is not a number.
    #[error("transaction id: {0}")]
    TxId(#[source] std::num::ParseIntError),
}

/// How long a request may take, sent and answered, unless set otherwise:
/// far more than a live xenstored needs, short enough that a stalled one
/// is reported rather than waited on for ever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to xenstored.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    socket: PathBuf,
    timeout: Duration,
    reader: FrameReader,
    events: VecDeque<(String, Vec<u8>)>,
    req_id: u32,
    first: bool,
}

fn nul(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

impl Client {
    /// Connects to the socket at `path`. A harmless first request
    /// (GET_DOMAIN_PATH, which every admitted peer may send) tells the
    /// gate's refusal apart from a node's permissions: a peer without
    /// privilege gets [`ClientError::Denied`] here, and a later EACCES is
    /// always about a node.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        Client::connect_with_timeout(path, DEFAULT_TIMEOUT)
    }

    /// [`Client::connect`], each request (the first one too) allowed
    /// `timeout` to be sent and answered.
    pub fn connect_with_timeout(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path)?;
        let mut c = Client {
            stream,
            socket: path.to_path_buf(),
            timeout: Duration::ZERO,
            reader: FrameReader::default(),
            events: VecDeque::new(),
            req_id: 0,
            first: true,
        };
        c.set_timeout(timeout)?;
        c.request(MsgType::GetDomainPath, 0, b"0\0".to_vec())?;
        Ok(c)
    }

    /// How long each later request may take, sent and answered (at least
    /// a millisecond: a zero timeout would mean none to the socket).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), ClientError> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.stream.set_write_timeout(Some(timeout))?;
        self.stream.set_read_timeout(Some(timeout))?;
        self.timeout = timeout;
        Ok(())
    }

    fn timed_out(&self) -> ClientError {
        ClientError::Timeout {
            socket: self.socket.clone(),
            after: self.timeout,
        }
    }

    /// Reads what has arrived, waiting no later than `deadline`.
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, ClientError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out());
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.timed_out());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The reply to the request just sent: one deadline for all of it, so
    /// a daemon sending a byte at a time gets no longer than a fast one.
    fn next_frame(&mut self) -> Result<Frame, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 8192];
        loop {
            let n = self.read_by(&mut buf, deadline)?;
            if n == 0 {
                return Err(ClientError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "xenstored closed the connection",
                )));
            }
            let frames = self
                .reader
                .push(&buf[..n])
                .map_err(|e| ClientError::Protocol(e.into()))?;
            let mut it = frames.into_iter();
            if let Some(f) = it.next() {
                // A request is answered before any later frame arrives,
                // except watch events, which we keep.
                let mut rest: Vec<Frame> = it.collect();
                let mut all = vec![f];
                all.append(&mut rest);
                let mut reply = None;
                for f in all {
                    if f.ty == MsgType::WatchEvent.number() {
                        let s = f.strings();
                        if let [p, t] = s[..] {
                            self.events
                                .push_back((String::from_utf8_lossy(p).into_owned(), t.to_vec()));
                        }
                    } else if reply.is_none() {
                        reply = Some(f);
                    }
                }
                if let Some(r) = reply {
                    return Ok(r);
                }
            }
        }
    }

    /// Sends one request and returns the reply payload.
    pub fn request(
        &mut self,
        ty: MsgType,
        tx: u32,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        self.req_id = self.req_id.wrapping_add(1);
        let f = Frame {
            ty: ty.number(),
            req_id: self.req_id,
            tx_id: tx,
            payload,
        };
        // The write timeout bounds each write; a daemon that stops reading
        // fills the socket buffer and the send fails here.
        self.stream.write_all(&f.to_bytes()).map_err(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                self.timed_out()
            } else {
                e.into()
            }
        })?;
        let first = std::mem::replace(&mut self.first, false);
        let r = self.next_frame()?;
        if r.ty == MsgType::Error.number() {
            let name = r.payload.strip_suffix(&[0]).unwrap_or(&r.payload);
            let e = XsError::from_name(name);
            // The gate answers a peer without privilege with EACCES on its
            // first request, then closes.
            return Err(if first && e == XsError::Eacces {
                ClientError::Denied
            } else {
                ClientError::Xs(e)
            });
        }
        if r.ty != ty.number() || r.req_id != self.req_id {
            return Err(ClientError::Protocol(Unexpected::Mismatch {
                ty: r.ty,
                req_id: r.req_id,
                asked: ty.number(),
                sent: self.req_id,
            }));
        }
        Ok(r.payload)
    }

    /// READ.
    pub fn read(&mut self, tx: u32, path: &str) -> Result<Vec<u8>, ClientError> {
        self.request(MsgType::Read, tx, nul(path))
    }

    /// WRITE.
    pub fn write(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<(), ClientError> {
        let mut p = nul(path);
        p.extend_from_slice(value);
        self.request(MsgType::Write, tx, p).map(drop)
    }

    /// MKDIR.
    pub fn mkdir(&mut self, tx: u32, path: &str) -> Result<(), ClientError> {
        self.request(MsgType::Mkdir, tx, nul(path)).map(drop)
    }

    /// RM.
    pub fn rm(&mut self, tx: u32, path: &str) -> Result<(), ClientError> {
        self.request(MsgType::Rm, tx, nul(path)).map(drop)
    }

    /// DIRECTORY.
    pub fn directory(&mut self, tx: u32, path: &str) -> Result<Vec<String>, ClientError> {
        let r = self.request(MsgType::Directory, tx, nul(path))?;
        Ok(r.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    /// GET_PERMS: the owner first, then the other entries.
    pub fn get_perms(&mut self, tx: u32, path: &str) -> Result<Perms, ClientError> {
        let r = self.request(MsgType::GetPerms, tx, nul(path))?;
        let entries: Vec<&[u8]> = r.split(|b| *b == 0).filter(|s| !s.is_empty()).collect();
        Perms::parse(&entries).map_err(|e| ClientError::Protocol(Unexpected::Perms(e)))
    }

    /// SET_PERMS.
    pub fn set_perms(&mut self, tx: u32, path: &str, perms: &[&str]) -> Result<(), ClientError> {
        let mut p = nul(path);
        for e in perms {
            p.extend_from_slice(&nul(e));
        }
        self.request(MsgType::SetPerms, tx, p).map(drop)
    }

    /// WATCH (the first event, for the watch itself, arrives at once).
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), ClientError> {
        let mut p = nul(path);
        p.extend_from_slice(&nul(token));
        self.request(MsgType::Watch, 0, p).map(drop)
    }

    /// UNWATCH.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), ClientError> {
        let mut p = nul(path);
        p.extend_from_slice(&nul(token));
        self.request(MsgType::Unwatch, 0, p).map(drop)
    }

    /// The next watch event (path, token), waiting at most `timeout`.
    pub fn next_event(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(String, Vec<u8>)>, ClientError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut buf = [0u8; 8192];
        let got = self.stream.read(&mut buf);
        self.stream.set_read_timeout(Some(self.timeout))?;
        let n = match got {
            Ok(0) => {
                return Err(ClientError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed",
                )));
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        for f in self
            .reader
            .push(&buf[..n])
            .map_err(|e| ClientError::Protocol(e.into()))?
        {
            if let [p, t] = f.strings()[..] {
                self.events
                    .push_back((String::from_utf8_lossy(p).into_owned(), t.to_vec()));
            }
        }
        Ok(self.events.pop_front())
    }

    /// The next watch event already received (during an earlier request
    /// or read), without reading the socket: for an event loop, which
    /// polls [`Client`]'s fd for what has not arrived yet.
    pub fn take_event(&mut self) -> Option<(String, Vec<u8>)> {
        self.events.pop_front()
    }

    /// TRANSACTION_START: the transaction id.
    pub fn transaction_start(&mut self) -> Result<u32, ClientError> {
        let r = self.request(MsgType::TransactionStart, 0, vec![0])?;
        String::from_utf8_lossy(r.strip_suffix(&[0]).unwrap_or(&r))
            .parse()
            .map_err(|e| ClientError::Protocol(Unexpected::TxId(e)))
    }

    /// TRANSACTION_END.
    pub fn transaction_end(&mut self, tx: u32, commit: bool) -> Result<(), ClientError> {
        self.request(
            MsgType::TransactionEnd,
            tx,
            if commit {
                b"T\0".to_vec()
            } else {
                b"F\0".to_vec()
            },
        )
        .map(drop)
    }

    /// Runs `f` in a transaction, again from the start whenever the commit
    /// meets a conflicting change (EAGAIN), at most `tries` times.
    pub fn transaction<T>(
        &mut self,
        tries: usize,
        mut f: impl FnMut(&mut Client, u32) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        for _ in 0..tries.max(1) {
            let tx = self.transaction_start()?;
            let value = match f(self, tx) {
                Ok(v) => v,
                Err(e) => {
                    let _ = self.transaction_end(tx, false);
                    return Err(e);
                }
            };
            match self.transaction_end(tx, true) {
                Ok(()) => return Ok(value),
                Err(ClientError::Xs(XsError::Eagain)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Xs(XsError::Eagain))
    }

    /// INTRODUCE.
    pub fn introduce(&mut self, domid: u32, mfn: u64, port: u32) -> Result<(), ClientError> {
        self.request(
            MsgType::Introduce,
            0,
            format!("{domid}\0{mfn}\0{port}\0").into_bytes(),
        )
        .map(drop)
    }

    /// RELEASE.
    pub fn release(&mut self, domid: u32) -> Result<(), ClientError> {
        self.request(MsgType::Release, 0, format!("{domid}\0").into_bytes())
            .map(drop)
    }

    /// IS_DOMAIN_INTRODUCED.
    pub fn is_domain_introduced(&mut self, domid: u32) -> Result<bool, ClientError> {
        Ok(self.request(
            MsgType::IsDomainIntroduced,
            0,
            format!("{domid}\0").into_bytes(),
        )? == b"T\0")
    }

    /// GET_DOMAIN_PATH.
    pub fn domain_path(&mut self, domid: u32) -> Result<String, ClientError> {
        let r = self.request(MsgType::GetDomainPath, 0, format!("{domid}\0").into_bytes())?;
        Ok(String::from_utf8_lossy(r.strip_suffix(&[0]).unwrap_or(&r)).into_owned())
    }
}

/// The connection's socket, for an event loop's `poll`: readable when a
/// watch event (or anything else) has arrived.
impl std::os::fd::AsFd for Client {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
