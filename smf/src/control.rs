//! svc-startd's control socket: the protocol, its one table of verbs, and
//! how a connection is served.
//!
//! # Format
//! One request per connection: one line of tab-separated fields, the verb
//! first, at most [`MAX_LINE`] bytes, ended by a newline, sent within
//! [`READ_TIMEOUT`]. The answer is data lines, then `OK`; or one line
//! `ERR why`. Hand-written rather than a framework's: a line of fields is
//! all svcs/svcadm/svcprop/svccfg need, and each bound is visible here.
//!
//! # Who may do what
//! The gate at accept ([`ControlServer::decide`]) serves only peers that
//! hold `virt_manage` or `xvm_control`; `xvm_control` peers (root, the
//! daemons) may take the gate's reserved slots. Every other peer gets one
//! `ERR permission denied: ... required` line from the gate's refuser and
//! never takes a slot. Each request is then checked again for its verb
//! ([`Verb::entry`]: reading needs `virt_manage` or `xvm_control`,
//! changing needs `xvm_control`). Every decision is audited.
//!
//! # Concurrency
//! Each admitted connection is read on a thread of its own (the gate
//! bounds how many, [`LIMITS`]); a complete, authorized request goes to
//! the restarter's loop through a channel ([`Inbox`]) and the thread
//! waits for the answer and writes it. Why this split, and not a thread
//! that locks the restarter: the restarter state (children, pidfds,
//! timers) stays owned by the one loop that starts, reaps and stops
//! services, so no lock is ever held across a client's I/O; the loop
//! only ever sees whole requests, handles each in memory, and never
//! reads from or writes to a client. A slow, stalled or malicious client
//! therefore costs one thread and one slot for at most [`READ_TIMEOUT`],
//! delays no other client, and never delays the restarter's own work.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use privlib::names::{PrivId, virt_manage, xvm_control};
use privlib::{Denied, GateLimits, Policy, Refusal, Slot, Ucred, Verdict, require_any};

use crate::fmri::{Fmri, FmriError};
use crate::manifest::PropType;
use crate::props::{Override, split_prop};
use crate::restarter::{Restarter, State, humantime};

/// Longest request line.
pub const MAX_LINE: usize = 64 * 1024;
/// How long a peer may take to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection waits for the restarter's loop to answer (it
/// may be stopping every service at once).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(25);
/// Longest unknown verb quoted back in an error.
const VERB_QUOTE_MAX: usize = 64;

/// The control socket's gate: a few dozen administrators' tools at once
/// is plenty; one uid gets 8 (a `virt_manage` user cannot fill the
/// socket), and 16 slots are kept for `xvm_control` peers (root's `svcs`
/// gets in whatever ordinary users hold).
pub const LIMITS: GateLimits = GateLimits {
    total: 64,
    per_uid: 8,
    reserve: 16,
    first_request: Duration::from_secs(1),
    refusals_pending: 64,
    refusals_per_uid: 8,
    idle: READ_TIMEOUT,
};

/// Why a request was not served; the text is the `ERR` line's.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The line was empty.
    #[error("empty request")]
    Empty,
    /// The verb is not one of [`Verb`].
    #[error("unknown verb {0}")]
    UnknownVerb(String),
    /// The peer did not end its line in time.
    #[error("request not complete within {} seconds", READ_TIMEOUT.as_secs())]
    Timeout,
    /// The peer closed before the newline.
    #[error("request not ended by a newline")]
    Unterminated,
    /// The line is longer than [`MAX_LINE`].
    #[error("request longer than {MAX_LINE} bytes")]
    TooLong,
    /// More after the newline.
    #[error("one request per connection")]
    MoreThanOne,
    /// Not UTF-8.
    #[error("request is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    /// Reading the request failed.
    #[error("reading the request: {0}")]
    Read(#[source] std::io::Error),
    /// The peer lacks the verb's privilege.
    #[error("{0}")]
    Denied(#[source] Denied),
    /// The arguments do not fit the verb.
    #[error("{0}")]
    Usage(&'static str),
    /// An FMRI that does not parse.
    #[error("{0}")]
    Fmri(#[source] FmriError),
    /// The restarter refused (its reason).
    #[error("{0}")]
    Refused(String),
    /// The restarter's loop did not take the request (it is stopping).
    #[error("svc-startd is stopping")]
    Stopping,
    /// The restarter's loop did not answer in time.
    #[error("svc-startd did not answer within {} seconds", ANSWER_TIMEOUT.as_secs())]
    NoAnswer,
}

/// What a verb needs the peer to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading: `xvm_control` or `virt_manage`.
    Read,
    /// Changing: `xvm_control`.
    Write,
}

impl Access {
    /// The privileges, any one of which lets the peer in.
    pub fn privileges(self) -> Vec<PrivId> {
        match self {
            Access::Read => vec![xvm_control(), virt_manage()],
            Access::Write => vec![xvm_control()],
        }
    }
}

/// A handler: the restarter and the request's fields after the verb.
type Handler = fn(&mut Restarter, &[String]) -> Result<Vec<String>, ControlError>;

/// The verbs of the control protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `list`: every instance, one line each.
    List,
    /// `show FMRI`: one instance, `key\tvalue` lines.
    Show,
    /// `getprop FMRI pg/prop`: one property (an error if none).
    Getprop,
    /// `listprop FMRI [pg/prop]`: the properties.
    Listprop,
    /// `enable FMRI [-t]`.
    Enable,
    /// `disable FMRI [-t]`.
    Disable,
    /// `restart FMRI`.
    Restart,
    /// `refresh FMRI`: reread the properties.
    Refresh,
    /// `clear FMRI`: out of maintenance.
    Clear,
    /// `setprop FMRI pg/prop TYPE VALUE`.
    Setprop,
}

impl Verb {
    /// The verb named `s`.
    pub fn parse(s: &str) -> Result<Verb, ControlError> {
        Ok(match s {
            "list" => Verb::List,
            "show" => Verb::Show,
            "getprop" => Verb::Getprop,
            "listprop" => Verb::Listprop,
            "enable" => Verb::Enable,
            "disable" => Verb::Disable,
            "restart" => Verb::Restart,
            "refresh" => Verb::Refresh,
            "clear" => Verb::Clear,
            "setprop" => Verb::Setprop,
            "" => return Err(ControlError::Empty),
            other => {
                let mut quoted: String = other.chars().take(VERB_QUOTE_MAX).collect();
                if quoted.len() < other.len() {
                    quoted.push_str("...");
                }
                return Err(ControlError::UnknownVerb(quoted));
            }
        })
    }

    /// The one table: what each verb needs, and what serves it. A verb
    /// added to [`Verb`] does not compile until it has a line here.
    pub fn entry(self) -> (Access, Handler) {
        match self {
            Verb::List => (Access::Read, list),
            Verb::Show => (Access::Read, show),
            Verb::Getprop => (Access::Read, getprop),
            Verb::Listprop => (Access::Read, listprop),
            Verb::Enable => (Access::Write, enable),
            Verb::Disable => (Access::Write, disable),
            Verb::Restart => (Access::Write, restart),
            Verb::Refresh => (Access::Write, refresh),
            Verb::Clear => (Access::Write, clear),
            Verb::Setprop => (Access::Write, setprop),
        }
    }

    /// What a peer must hold to send this verb.
    pub fn access(self) -> Access {
        self.entry().0
    }
}

/// One request: its verb and the fields after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The verb.
    pub verb: Verb,
    /// The fields after the verb.
    pub args: Vec<String>,
}

impl Request {
    /// Parses a line (without its newline).
    pub fn parse(line: &str) -> Result<Request, ControlError> {
        let mut fields = line.split('\t');
        let verb = Verb::parse(fields.next().unwrap_or(""))?;
        Ok(Request {
            verb,
            args: fields.map(str::to_string).collect(),
        })
    }
}

/// The accept-time decision for a peer: served (reserved slots for
/// `xvm_control`), or refused naming what it lacks. One audited decision.
pub fn admit(policy: &Policy, cred: &Ucred, endpoint: &str) -> Verdict {
    match require_any(policy, cred, endpoint, &Access::Read.privileges()) {
        Ok(g) if g.privilege == xvm_control() => Verdict::Reserved,
        Ok(_) => Verdict::Ordinary,
        Err(d) => Verdict::Refused(d.message()),
    }
}

/// Whether `cred` may send `verb` (every peer goes through the policy,
/// root too: the shipped policy grants uid 0 by `uids = [0]`; session
/// mode grants the owner).
pub fn authorize(
    policy: &Policy,
    cred: &Ucred,
    endpoint: &str,
    verb: Verb,
) -> Result<(), ControlError> {
    require_any(policy, cred, endpoint, &verb.access().privileges())
        .map(drop)
        .map_err(ControlError::Denied)
}

/// The refusal of the line protocol: waits for the newline, answers `ERR why`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LineRefusal;

impl Refusal for LineRefusal {
    fn complete(&self, first: &[u8]) -> bool {
        first.contains(&b'\n')
    }

    fn reply(&self, _first: &[u8], why: &str) -> Vec<u8> {
        format!("ERR {}\n", why.replace('\n', " ")).into_bytes()
    }
}

/// Reads one request line, bounded in size and in total time (not per
/// read: a peer trickling a byte at a time gets no longer than a fast one).
pub fn read_request(mut stream: &UnixStream) -> Result<Request, ControlError> {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    while !line.ends_with(b"\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ControlError::Timeout);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(ControlError::Read)?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(ControlError::Unterminated),
            Ok(n) => n,
            // Interrupted, or the read timed out: the deadline decides.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(ControlError::Read(e)),
        };
        if line.len().saturating_add(n) > MAX_LINE.saturating_add(1) {
            return Err(ControlError::TooLong);
        }
        line.extend_from_slice(&buf[..n]);
    }
    line.pop();
    if line.contains(&b'\n') {
        return Err(ControlError::MoreThanOne);
    }
    let text = String::from_utf8(line).map_err(ControlError::NotUtf8)?;
    Request::parse(&text)
}

/// Serves one request in the restarter's loop; data lines, or why not.
pub fn handle(r: &mut Restarter, req: &Request) -> Result<Vec<String>, ControlError> {
    let (_, handler) = req.verb.entry();
    handler(r, &req.args)
}

fn instance(r: &Restarter, f: Option<&String>) -> Result<usize, ControlError> {
    let f = f.ok_or(ControlError::Usage("an FMRI is needed"))?;
    r.find(&Fmri::parse(f).map_err(ControlError::Fmri)?)
        .map_err(ControlError::Refused)
}

fn list(r: &mut Restarter, _: &[String]) -> Result<Vec<String>, ControlError> {
    Ok(r.svcs
        .iter()
        .map(|s| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                s.state.name(),
                humantime(s.since),
                s.r.fmri,
                s.child.as_ref().map_or(0, privlib::Child::pid),
                s.uid,
                s.reason
            )
        })
        .collect())
}

fn show(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let s = &r.svcs[i];
    let mut out = vec![
        format!("fmri\t{}", s.r.fmri),
        format!("name\t{}", s.r.common_name.as_deref().unwrap_or("")),
        format!("enabled\t{}", s.wanted()),
        format!("state\t{}", s.state.name()),
        "next_state\tnone".to_string(),
        format!("state_time\t{}", humantime(s.since)),
        format!("reason\t{}", s.reason),
        format!("logfile\t{}", s.log_path(&r.cfg.logdir).display()),
        format!("manifest\t{}", s.r.file.display()),
    ];
    if let Some(c) = &s.child {
        out.push(format!("pid\t{}", c.pid()));
    }
    for d in &s.r.dependencies {
        out.push(format!(
            "dependency\t{}/{} {}",
            d.grouping.as_str(),
            restart_on(d.restart_on),
            d.fmris.join(" ")
        ));
    }
    Ok(out)
}

fn props(r: &Restarter, args: &[String], one: bool) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let s = &r.svcs[i];
    let want = args
        .get(1)
        .map(|p| split_prop(p))
        .transpose()
        .map_err(ControlError::Refused)?;
    let mut out = Vec::new();
    for g in &s.r.property_groups {
        for p in &g.properties {
            if want.is_none_or(|(wg, wp)| wg == g.name && wp == p.name) {
                out.push(format!(
                    "{}/{}\t{}\t{}",
                    g.name,
                    p.name,
                    p.ty.name(),
                    p.values.join(" ")
                ));
            }
        }
    }
    if one && out.is_empty() {
        return Err(ControlError::Refused(format!(
            "{}: no property {}",
            s.r.fmri,
            args.get(1).map_or("", String::as_str)
        )));
    }
    Ok(out)
}

fn getprop(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    props(r, args, true)
}

fn listprop(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    props(r, args, false)
}

fn set_enabled(r: &mut Restarter, args: &[String], on: bool) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let temporary = args.get(1).is_some_and(|t| t == "-t");
    r.set_enabled(i, on, temporary)
        .map_err(ControlError::Refused)?;
    Ok(Vec::new())
}

fn enable(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    set_enabled(r, args, true)
}

fn disable(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    set_enabled(r, args, false)
}

fn restart(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    if r.svcs[i].stopping.is_some() {
        return Err(ControlError::Refused(format!(
            "{} is already stopping",
            r.svcs[i].r.fmri
        )));
    }
    if r.svcs[i].child.is_none() || r.svcs[i].state != State::Online {
        return Err(ControlError::Refused(format!(
            "{} is not online",
            r.svcs[i].r.fmri
        )));
    }
    r.stop(i, true);
    Ok(Vec::new())
}

fn refresh(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    instance(r, args.first())?;
    r.load();
    Ok(Vec::new())
}

fn clear(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    r.clear(i).map_err(ControlError::Refused)?;
    Ok(Vec::new())
}

fn setprop(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let [_, prop, ty, value] = args else {
        return Err(ControlError::Usage(
            "setprop takes FMRI, pg/prop, type and value",
        ));
    };
    let (group, name) = split_prop(prop).map_err(ControlError::Refused)?;
    let ty = PropType::from_name(ty)
        .ok_or_else(|| ControlError::Refused(format!("no property type \"{ty}\"")))?;
    if prop == "general/enabled" && ty != PropType::Boolean {
        return Err(ControlError::Usage(
            "general/enabled is a boolean (true or false)",
        ));
    }
    if let Some(old) = r.svcs[i].r.prop(group, name).filter(|p| p.ty != ty) {
        return Err(ControlError::Refused(format!(
            "{prop} is of type {}, not {}",
            old.ty.name(),
            ty.name()
        )));
    }
    let f = r.svcs[i].r.fmri.clone();
    r.overrides
        .set(
            &f,
            prop,
            Override {
                ty,
                value: value.clone(),
            },
        )
        .map_err(ControlError::Refused)?;
    Ok(Vec::new())
}

fn restart_on(r: crate::manifest::RestartOn) -> &'static str {
    use crate::manifest::RestartOn;
    match r {
        RestartOn::None => "none",
        RestartOn::Error => "error",
        RestartOn::Restart => "restart",
        RestartOn::Refresh => "refresh",
    }
}

/// Writes the answer.
pub fn answer(mut stream: &UnixStream, result: Result<Vec<String>, ControlError>) {
    let mut text = String::new();
    match result {
        Ok(lines) => {
            for l in lines {
                text.push_str(&l.replace('\n', " "));
                text.push('\n');
            }
            text.push_str("OK\n");
        }
        Err(e) => text.push_str(&format!("ERR {}\n", e.to_string().replace('\n', " "))),
    }
    // The answer is a few KiB: the socket buffer takes it whole; a peer
    // that does not read at all is dropped after the timeout.
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let _ = stream.write_all(text.as_bytes());
}

/// A request that is complete and authorized, waiting in the restarter's
/// loop; [`Job::answer`] sends the result back to its connection.
#[derive(Debug)]
pub struct Job {
    /// The request.
    pub request: Request,
    reply: SyncSender<Result<Vec<String>, ControlError>>,
    /// Past this its client has been told there was no answer: the job
    /// is dropped, never done late.
    deadline: std::time::Instant,
}

impl Job {
    /// Gives the result to the waiting connection (gone: nothing to do).
    pub fn answer(self, result: Result<Vec<String>, ControlError>) {
        let _ = self.reply.try_send(result);
    }
}

/// The restarter loop's end of the channel: poll [`Inbox::fd`], then
/// take the [`Inbox::jobs`].
#[derive(Debug)]
pub struct Inbox {
    jobs: Receiver<Job>,
    wake: UnixStream,
}

impl Inbox {
    /// Readable when jobs may be waiting.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// The jobs waiting now (never blocks); jobs whose client has
    /// already been answered [`ControlError::NoAnswer`] are dropped.
    pub fn jobs(&self) -> Vec<Job> {
        let mut sink = [0u8; 256];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        let now = std::time::Instant::now();
        self.jobs.try_iter().filter(|j| now < j.deadline).collect()
    }
}

/// The connections' side: decides at accept, reads and authorizes each
/// request on the connection's thread, hands it to the [`Inbox`].
#[derive(Debug, Clone)]
pub struct ControlServer {
    policy: Arc<Policy>,
    endpoint: Arc<str>,
    jobs: SyncSender<Job>,
    wake: Arc<UnixStream>,
}

impl ControlServer {
    /// A server for `policy` on the socket named `endpoint` (for the
    /// audit), and the loop's [`Inbox`].
    pub fn new(policy: Policy, endpoint: &str) -> std::io::Result<(ControlServer, Inbox)> {
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        // At most one request per served connection is ever waiting, and
        // the gate bounds those: the queue can never fill.
        let (jobs, rx) = std::sync::mpsc::sync_channel(LIMITS.total);
        Ok((
            ControlServer {
                policy: Arc::new(policy),
                endpoint: endpoint.into(),
                jobs,
                wake: Arc::new(wake),
            },
            Inbox {
                jobs: rx,
                wake: wake_rx,
            },
        ))
    }

    /// The gate's verdict on a new peer (see [`admit`]).
    pub fn decide(&self, cred: &Ucred) -> Verdict {
        admit(&self.policy, cred, &self.endpoint)
    }

    /// Serves one admitted connection, on its own thread: reads and
    /// authorizes the request, waits for the restarter's loop to handle
    /// it, writes the answer; the slot is given back when this returns.
    pub fn serve(&self, stream: UnixStream, cred: Ucred, slot: Slot) {
        let result = read_request(&stream)
            .and_then(|req| {
                authorize(&self.policy, &cred, &self.endpoint, req.verb)?;
                Ok(req)
            })
            .and_then(|req| self.ask_loop(req));
        answer(&stream, result);
        drop(slot);
    }

    fn ask_loop(&self, request: Request) -> Result<Vec<String>, ControlError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        // A little short of the client's wait, so a job is either done
        // and answered, or dropped and answered NoAnswer: never both.
        let deadline =
            std::time::Instant::now() + ANSWER_TIMEOUT.saturating_sub(Duration::from_millis(500));
        match self.jobs.try_send(Job {
            request,
            reply,
            deadline,
        }) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => return Err(ControlError::Stopping),
            // Cannot happen (see `new`); answered rather than waited for.
            Err(TrySendError::Full(_)) => return Err(ControlError::NoAnswer),
        }
        // A full wake socket already has a wake-up waiting.
        let _ = (&*self.wake).write(&[1]);
        match answer.recv_timeout(ANSWER_TIMEOUT) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(ControlError::NoAnswer),
            Err(RecvTimeoutError::Disconnected) => Err(ControlError::Stopping),
        }
    }
}

/// The client side: sends `fields`, returns the data lines or the error.
pub fn request(socket: &Path, fields: &[&str]) -> Result<Vec<String>, String> {
    if fields.iter().any(|f| f.contains(['\t', '\n'])) {
        return Err("a request field holds a tab or a newline".into());
    }
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "svc-startd at {}: {e} (is it running? start it with svc-startd)",
            socket.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    // A refused peer may be answered before its request is read, so a
    // failed write still leaves the answer to read.
    let sent = s.write_all(format!("{}\n", fields.join("\t")).as_bytes());
    let mut text = String::new();
    let got = s.take(16 << 20).read_to_string(&mut text);
    if text.is_empty() {
        sent.map_err(|e| format!("svc-startd: {e}"))?;
        got.map_err(|e| format!("svc-startd: {e}"))?;
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match lines.pop() {
        Some(l) if l == "OK" => Ok(lines),
        Some(l) if l.starts_with("ERR ") => Err(l[4..].to_string()),
        _ => Err("svc-startd closed the connection without an answer (refused?)".into()),
    }
}

/// The control socket a client means (see [`crate::paths::Paths::client_socket`]).
pub fn client_socket(session: bool) -> Result<std::path::PathBuf, String> {
    crate::paths::Paths::client_socket(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verb_parses_with_its_privilege_and_unknown_ones_are_named() {
        let table = [
            ("list", Verb::List, Access::Read),
            ("show", Verb::Show, Access::Read),
            ("getprop", Verb::Getprop, Access::Read),
            ("listprop", Verb::Listprop, Access::Read),
            ("enable", Verb::Enable, Access::Write),
            ("disable", Verb::Disable, Access::Write),
            ("restart", Verb::Restart, Access::Write),
            ("refresh", Verb::Refresh, Access::Write),
            ("clear", Verb::Clear, Access::Write),
            ("setprop", Verb::Setprop, Access::Write),
        ];
        for (name, verb, access) in table {
            let v = Verb::parse(name).expect(name);
            assert_eq!((v, v.access()), (verb, access), "{name}");
        }
        assert_eq!(Access::Write.privileges(), vec![xvm_control()]);
        assert_eq!(
            Access::Read.privileges(),
            vec![xvm_control(), virt_manage()]
        );
        let e = Request::parse("destroy\tstore").expect_err("unknown");
        assert_eq!(e.to_string(), "unknown verb destroy");
        assert_eq!(
            Request::parse("").expect_err("empty").to_string(),
            "empty request"
        );
        let long = "x".repeat(1000);
        let e = Verb::parse(&long).expect_err("unknown").to_string();
        assert!(e.len() < 100 && e.ends_with("..."), "{e}");
        assert_eq!(
            Request::parse("show\tstore\t-t").expect("parses"),
            Request {
                verb: Verb::Show,
                args: vec!["store".into(), "-t".into()]
            }
        );
    }

    #[test]
    fn the_refusal_waits_for_a_line_and_names_what_is_missing() {
        let r = LineRefusal;
        assert!(!r.complete(b"lis"));
        assert!(r.complete(b"list\n"));
        assert_eq!(
            r.reply(
                b"",
                "permission denied: xvm_control or virt_manage required"
            ),
            b"ERR permission denied: xvm_control or virt_manage required\n"
        );
        assert_eq!(r.reply(b"x", "a\nb"), b"ERR a b\n");
    }

    #[test]
    fn a_request_is_bounded_in_size_and_in_total_time() {
        let (a, mut b) = UnixStream::pair().expect("pair");
        b.write_all(b"list\tone\n").expect("write");
        assert_eq!(
            read_request(&a).expect("request"),
            Request {
                verb: Verb::List,
                args: vec!["one".to_string()]
            }
        );

        // A peer that trickles and never ends its line is cut off at the
        // deadline, not one read timeout per byte.
        let (a, b) = UnixStream::pair().expect("pair");
        let trickle = std::thread::spawn(move || {
            let mut b = b;
            for _ in 0..8 {
                if b.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        });
        let t = Instant::now();
        let err = read_request(&a).expect_err("cut off");
        assert!(matches!(err, ControlError::Timeout), "{err}");
        assert!(t.elapsed() < READ_TIMEOUT + Duration::from_millis(500));
        assert!(
            err.to_string().contains("not complete within 2 seconds"),
            "{err}"
        );
        drop(a);
        trickle.join().expect("writer");

        let (a, mut b) = UnixStream::pair().expect("pair");
        let big = vec![b'x'; MAX_LINE + 10];
        let w = std::thread::spawn(move || {
            let _ = b.write_all(&big);
        });
        let err = read_request(&a).expect_err("too long");
        assert!(matches!(err, ControlError::TooLong), "{err}");
        drop(a);
        w.join().expect("writer");

        let (a, mut b) = UnixStream::pair().expect("pair");
        b.write_all(b"list\nlist\n").expect("write");
        assert!(matches!(read_request(&a), Err(ControlError::MoreThanOne)));
    }
}
