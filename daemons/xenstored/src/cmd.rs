//! Requests: a frame becomes a typed request, and the request applies
//! itself to the [`Daemon`].
//!
//! As mini-redis does it: [`crate::wire`] turns bytes into frames; here
//! [`Request::parse`] turns a frame's payload into one of the request
//! types of `cmd/<group>.rs`, each a struct with `parse` and `apply`; a
//! payload that does not parse is a [`ParseError`] naming what was wrong,
//! answered with its XenStore error, never a closed connection.
//!
//! Before a payload is read, [`gate`] decides in one exhaustive `match`
//! (no wildcard: a type added to [`MsgType`] does not build until it is
//! placed there) what the request type needs: which roles, which socket,
//! and whether its transaction id must name an open transaction.

use std::num::ParseIntError;

use crate::daemon::{Daemon, Outgoing, Role};
use crate::path::{self, NodePath};
use crate::txn::TxOp;
use crate::wire::{Frame, MsgType, PAYLOAD_MAX, XsError, payload_strings};

pub mod control;
pub mod domain;
pub mod node;
pub mod transaction;
pub mod watch;

/// Who may send a request type, and on which socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any admitted peer, on either socket.
    Read,
    /// Any admitted peer, not on `socket_ro`.
    Write,
    /// `xvm_control` only, on either socket.
    ControlRead,
    /// `xvm_control` only, not on `socket_ro`.
    ControlWrite,
    /// Sent by the daemon only: ENOSYS as a request.
    NotARequest,
}

/// What a request type needs before its payload is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Who may send it, and where.
    pub access: Access,
    /// Whether a non-zero transaction id must name an open transaction
    /// of the connection (ENOENT otherwise). WATCH, UNWATCH and
    /// TRANSACTION_START ignore the id.
    pub in_txn: bool,
}

/// The decision for every request type.
pub fn gate(ty: MsgType) -> Needs {
    let (access, in_txn) = match ty {
        MsgType::Read
        | MsgType::Directory
        | MsgType::DirectoryPart
        | MsgType::GetPerms
        | MsgType::GetDomainPath
        | MsgType::ResetWatches => (Access::Read, true),
        MsgType::Watch | MsgType::Unwatch => (Access::Read, false),
        MsgType::Write
        | MsgType::Mkdir
        | MsgType::Rm
        | MsgType::SetPerms
        | MsgType::TransactionEnd => (Access::Write, true),
        MsgType::TransactionStart => (Access::Write, false),
        MsgType::IsDomainIntroduced => (Access::ControlRead, true),
        MsgType::Introduce
        | MsgType::Release
        | MsgType::Resume
        | MsgType::SetTarget
        | MsgType::Control => (Access::ControlWrite, true),
        MsgType::WatchEvent | MsgType::Error => (Access::NotARequest, false),
    };
    Needs { access, in_txn }
}

/// Whether a connection of `role` (on `socket_ro` if `read_only`) may
/// send a request needing `access`: ENOSYS, EROFS or EACCES if not.
fn admit(access: Access, role: Role, read_only: bool) -> Result<(), XsError> {
    match (access, role) {
        (Access::NotARequest, _) => Err(XsError::Enosys),
        (Access::Write | Access::ControlWrite, _) if read_only => Err(XsError::Erofs),
        (Access::ControlRead | Access::ControlWrite, Role::Manage | Role::Domain(_)) => {
            Err(XsError::Eacces)
        }
        (Access::Read | Access::Write, _)
        | (Access::ControlRead | Access::ControlWrite, Role::Control) => Ok(()),
    }
}

/// Why a payload is not a request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A type the daemon sends, not a peer.
    #[error("{0:?} is not a request")]
    NotARequest(MsgType),
    /// Not the number of NUL-separated strings the type takes.
    #[error("{want} strings expected, {got} given")]
    Strings {
        /// What the type takes (`2`, `at least 3`).
        want: &'static str,
        /// How many the payload holds.
        got: usize,
    },
    /// WRITE without the NUL between path and value.
    #[error("no NUL after the path")]
    NoValue,
    /// The path resolver refused the path.
    #[error("path refused: {0}")]
    Path(#[source] XsError),
    /// A special path (`@...`) where a node is needed.
    #[error("{0} is not a node")]
    Special(String),
    /// A field is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A number does not parse.
    #[error("{field}: {source}")]
    Number {
        /// The field.
        field: &'static str,
        /// The cause.
        #[source]
        source: ParseIntError,
    },
    /// A domid or port that may not be 0.
    #[error("{0} may not be 0")]
    Zero(&'static str),
    /// A permission list that does not parse.
    #[error("permissions: {0}")]
    Perms(#[source] XsError),
    /// A watch whose events could not fit one frame.
    #[error("a watch event of {0} bytes would not fit a frame")]
    EventTooLong(usize),
    /// TRANSACTION_END with neither `T` nor `F`.
    #[error("TRANSACTION_END takes T or F")]
    CommitFlag,
    /// A CONTROL command this daemon does not know.
    #[error("unknown control command {0:?}")]
    Control(String),
}

impl ParseError {
    /// The XenStore error the peer hears.
    pub fn errno(&self) -> XsError {
        match self {
            ParseError::NotARequest(_) => XsError::Enosys,
            ParseError::Path(e) | ParseError::Perms(e) => *e,
            ParseError::EventTooLong(_) => XsError::E2big,
            ParseError::Strings { .. }
            | ParseError::NoValue
            | ParseError::Special(_)
            | ParseError::NotUtf8(_)
            | ParseError::Number { .. }
            | ParseError::Zero(_)
            | ParseError::CommitFlag
            | ParseError::Control(_) => XsError::Einval,
        }
    }
}

/// A request's payload, with what resolving its paths needs.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// The connection's home domain (relative paths).
    pub home: u32,
    /// The path quota past a domain prefix.
    pub path_max: usize,
}

impl<'a> Payload<'a> {
    /// Exactly `N` NUL-separated strings.
    pub fn strings<const N: usize>(&self) -> Result<[&'a [u8]; N], ParseError> {
        let s = payload_strings(self.bytes);
        // From the slice, not the Vec: converting the Vec would shrink
        // its allocation first, one more allocator call per request.
        <[&[u8]; N]>::try_from(s.as_slice()).map_err(|_| ParseError::Strings {
            want: ["0", "1", "2", "3"].get(N).copied().unwrap_or("more"),
            got: s.len(),
        })
    }

    /// At least `n` strings (`want` says so in an error).
    pub fn at_least(&self, n: usize, want: &'static str) -> Result<Vec<&'a [u8]>, ParseError> {
        let s = payload_strings(self.bytes);
        if s.len() < n {
            return Err(ParseError::Strings { want, got: s.len() });
        }
        Ok(s)
    }

    /// `raw` resolved, special paths included.
    pub fn any_path(&self, raw: &[u8]) -> Result<NodePath, ParseError> {
        path::resolve(raw, self.home, self.path_max).map_err(ParseError::Path)
    }

    /// `raw` resolved to a node's absolute path.
    pub fn node(&self, raw: &[u8]) -> Result<String, ParseError> {
        match self.any_path(raw)? {
            NodePath::Abs(p) => Ok(p),
            NodePath::Special(s) => Err(ParseError::Special(s)),
        }
    }
}

/// `b` as text.
pub fn text<'a>(b: &'a [u8], field: &'static str) -> Result<&'a str, ParseError> {
    std::str::from_utf8(b).map_err(|_| ParseError::NotUtf8(field))
}

/// `b` as a decimal number (surrounding white space allowed, as Xen does).
pub fn number<T>(b: &[u8], field: &'static str) -> Result<T, ParseError>
where
    T: std::str::FromStr<Err = ParseIntError>,
{
    text(b, field)?
        .trim()
        .parse()
        .map_err(|source| ParseError::Number { field, source })
}

/// Who sent a request, and in which transaction.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// The connection.
    pub conn: u64,
    /// Its role.
    pub role: Role,
    /// The frame's transaction id (0: none).
    pub tx: u32,
}

/// A request's reply payload, or the XenStore error it is answered with.
pub type Reply = Result<Vec<u8>, XsError>;

/// The `OK\0` reply.
pub(crate) fn ok() -> Vec<u8> {
    b"OK\0".to_vec()
}

/// Every request, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// READ.
    Read(node::OnNode),
    /// DIRECTORY.
    Directory(node::OnNode),
    /// DIRECTORY_PART.
    DirectoryPart(node::DirectoryPart),
    /// GET_PERMS.
    GetPerms(node::OnNode),
    /// WRITE.
    Write(node::Write),
    /// MKDIR.
    Mkdir(node::OnNode),
    /// RM.
    Rm(node::OnNode),
    /// SET_PERMS.
    SetPerms(node::SetPerms),
    /// WATCH.
    Watch(crate::watch::Watch),
    /// UNWATCH.
    Unwatch(watch::Unwatch),
    /// RESET_WATCHES.
    ResetWatches,
    /// TRANSACTION_START.
    TransactionStart,
    /// TRANSACTION_END.
    TransactionEnd(transaction::TransactionEnd),
    /// GET_DOMAIN_PATH.
    GetDomainPath(domain::GetDomainPath),
    /// IS_DOMAIN_INTRODUCED.
    IsDomainIntroduced(domain::IsDomainIntroduced),
    /// INTRODUCE.
    Introduce(domain::Introduce),
    /// RELEASE.
    Release(domain::Release),
    /// RESUME.
    Resume(domain::Resume),
    /// SET_TARGET.
    SetTarget(domain::SetTarget),
    /// CONTROL.
    Control(control::Control),
}

impl Request {
    /// Parses the payload of a request of type `ty`.
    pub fn parse(ty: MsgType, p: &Payload<'_>) -> Result<Request, ParseError> {
        Ok(match ty {
            MsgType::Read => Request::Read(node::OnNode::parse(p)?),
            MsgType::Directory => Request::Directory(node::OnNode::parse(p)?),
            MsgType::DirectoryPart => Request::DirectoryPart(node::DirectoryPart::parse(p)?),
            MsgType::GetPerms => Request::GetPerms(node::OnNode::parse(p)?),
            MsgType::Write => Request::Write(node::Write::parse(p)?),
            MsgType::Mkdir => Request::Mkdir(node::OnNode::parse(p)?),
            MsgType::Rm => Request::Rm(node::OnNode::parse(p)?),
            MsgType::SetPerms => Request::SetPerms(node::SetPerms::parse(p)?),
            MsgType::Watch => Request::Watch(watch::parse(p)?),
            MsgType::Unwatch => Request::Unwatch(watch::Unwatch::parse(p)?),
            MsgType::ResetWatches => Request::ResetWatches,
            MsgType::TransactionStart => Request::TransactionStart,
            MsgType::TransactionEnd => {
                Request::TransactionEnd(transaction::TransactionEnd::parse(p)?)
            }
            MsgType::GetDomainPath => Request::GetDomainPath(domain::GetDomainPath::parse(p)?),
            MsgType::IsDomainIntroduced => {
                Request::IsDomainIntroduced(domain::IsDomainIntroduced::parse(p)?)
            }
            MsgType::Introduce => Request::Introduce(domain::Introduce::parse(p)?),
            MsgType::Release => Request::Release(domain::Release::parse(p)?),
            MsgType::Resume => Request::Resume(domain::Resume::parse(p)?),
            MsgType::SetTarget => Request::SetTarget(domain::SetTarget::parse(p)?),
            MsgType::Control => Request::Control(control::Control::parse(p)?),
            MsgType::WatchEvent | MsgType::Error => return Err(ParseError::NotARequest(ty)),
        })
    }

    /// Applies the request; the reply payload.
    pub fn apply(self, d: &mut Daemon, cx: &Ctx, out: &mut Vec<Outgoing>) -> Reply {
        match self {
            Request::Read(n) => node::read(d, cx, &n.path),
            Request::Directory(n) => node::directory(d, cx, &n.path),
            Request::DirectoryPart(r) => r.apply(d, cx),
            Request::GetPerms(n) => node::get_perms(d, cx, &n.path),
            Request::Write(r) => r.apply(d, cx, out),
            Request::Mkdir(n) => node::change(d, cx, TxOp::Mkdir(n.path), out),
            Request::Rm(n) => node::change(d, cx, TxOp::Rm(n.path), out),
            Request::SetPerms(r) => r.apply(d, cx, out),
            Request::Watch(w) => watch::watch(d, cx, w, out),
            Request::Unwatch(r) => r.apply(d, cx),
            Request::ResetWatches => watch::reset(d, cx),
            Request::TransactionStart => transaction::start(d, cx),
            Request::TransactionEnd(r) => r.apply(d, cx, out),
            Request::GetDomainPath(r) => Ok(r.apply()),
            Request::IsDomainIntroduced(r) => Ok(r.apply(d)),
            Request::Introduce(r) => Ok(r.apply(d, out)),
            Request::Release(r) => r.apply(d, out),
            Request::Resume(r) => r.apply(d),
            Request::SetTarget(r) => r.apply(d),
            Request::Control(r) => Ok(r.apply(d)),
        }
    }
}

impl Daemon {
    /// Handles one request of connection `conn`: the reply to it first,
    /// then any watch events for any connection. Never blocks and never
    /// panics on peer input; every error a client can cause becomes an
    /// error reply. No frame it returns holds more than [`PAYLOAD_MAX`]
    /// payload bytes: a reply that would is answered E2BIG, and an event
    /// that would (watch registration refuses the tokens that could make
    /// one) is not sent, with a log line.
    pub fn handle(&mut self, conn: u64, req: &Frame) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let reply = match self.dispatch(conn, req, &mut out) {
            Ok((_, payload)) if payload.len() > PAYLOAD_MAX => Frame::error(req, XsError::E2big),
            Ok((ty, payload)) => Frame::reply(req, ty, payload),
            Err(e) => Frame::error(req, e),
        };
        out.retain(|o| {
            let fits = o.frame.payload.len() <= PAYLOAD_MAX;
            if !fits {
                tracing::error!(
                    conn = o.conn,
                    bytes = o.frame.payload.len(),
                    "an event too long to encode is not sent"
                );
            }
            fits
        });
        out.insert(0, Outgoing { conn, frame: reply });
        out
    }

    /// The gate, then the transaction id, then the payload, then the
    /// request itself.
    fn dispatch(
        &mut self,
        conn: u64,
        req: &Frame,
        out: &mut Vec<Outgoing>,
    ) -> Result<(MsgType, Vec<u8>), XsError> {
        let c = self.conns.get(&conn).ok_or(XsError::Eio)?;
        let (role, read_only) = (c.role, c.read_only);
        let ty = MsgType::from_number(req.ty).ok_or(XsError::Enosys)?;
        let needs = gate(ty);
        admit(needs.access, role, read_only)?;
        if needs.in_txn && req.tx_id != 0 && !c.txns.contains_key(&req.tx_id) {
            return Err(XsError::Enoent);
        }
        let payload = Payload {
            bytes: &req.payload,
            home: role.home(),
            path_max: self.limits.path_max,
        };
        let request = Request::parse(ty, &payload).map_err(|e| {
            tracing::debug!(conn, ?ty, "refused: {e}");
            e.errno()
        })?;
        let cx = Ctx {
            conn,
            role,
            tx: req.tx_id,
        };
        Ok((ty, request.apply(self, &cx, out)?))
    }
}

#[cfg(test)]
#[path = "cmd_tests.rs"]
mod tests;
