//! A small QMP client: greeting, capabilities, one command at a time; an
//! event that comes before an answer (at most [`MAX_EVENTS`] of them) is
//! kept, the last [`MAX_EVENTS`] only, for [`Qmp::wait_event`]. A session
//! has one deadline for all its reads ([`DEADLINE`], moved on only by
//! [`Qmp::wait_event`] for its own bounded wait), and a line is bounded
//! ([`MAX_LINE`]): a qemu that trickles bytes or floods events cannot hold
//! xend. Lines are read by [`privlib::bounded::LineReader`].
//!
//! Files go to qemu over the socket (SCM_RIGHTS, on the command's own
//! line): [`Qmp::get_fd`] names one (`getfd`, for `netdev_add` and VNC
//! clients), [`Qmp::add_fd`] puts one in an fd set (`add-fd`, for a block
//! node's `/dev/fdset/N`).
//!
//! # Format
//! QMP (qemu's `docs/interop/qmp-spec.rst`): JSON objects, one per line.
//! qemu greets with `{"QMP": {...}}`; each `{"execute": CMD, "arguments":
//! {...}}` is answered by `{"return": VALUE}` or `{"error": {...}}`, with
//! `{"event": ...}` lines possibly in between.

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use privlib::bounded::{LineError, LineReader};
use serde_json::{Value, json};

/// Longest QMP line read.
pub const MAX_LINE: usize = 1 << 20;
/// Events skipped while waiting for one answer.
pub const MAX_EVENTS: usize = 64;
/// How long a whole QMP session may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// Why a QMP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket could not be reached.
    #[error("QMP {}: {source}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The socket is served by another process than the domain's
    /// device model: the domain of that id ended and another took its
    /// id while the request waited. Nothing was sent.
    #[error(
        "QMP {}: served by pid {got}, not by the device model (pid {want}) recorded when the request was checked: the domain changed while the request waited; nothing was sent",
        path.display()
    )]
    Changed {
        /// The socket.
        path: PathBuf,
        /// The device model's pid, as recorded.
        want: i32,
        /// The pid serving the socket.
        got: i32,
    },
    /// The socket could not be set up or written.
    #[error("QMP {step}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line could not be read: too long, past the deadline, cut.
    #[error("QMP: {0}")]
    Read(#[source] LineError),
    /// qemu closed the connection.
    #[error("QMP: qemu closed the connection")]
    Closed,
    /// A line is not JSON.
    #[error("QMP: {0}")]
    Json(#[source] serde_json::Error),
    /// qemu did not greet as QMP does.
    #[error("QMP: no greeting but {0}")]
    NoGreeting(Value),
    /// qemu answered a command with an error.
    #[error("QMP {command}: {error}")]
    Command {
        /// The command.
        command: String,
        /// qemu's error object.
        error: Value,
    },
    /// Only events came.
    #[error("QMP {0}: more than {MAX_EVENTS} events and no answer")]
    Events(String),
    /// The awaited event did not come in time.
    #[error("QMP: no {event} event within {}s", within.as_secs())]
    NoEvent {
        /// What was awaited.
        event: String,
        /// How long.
        within: Duration,
    },
    /// An answer of another shape than the command's.
    #[error("QMP {command}: unexpected answer {answer}")]
    Unexpected {
        /// The command.
        command: String,
        /// What came.
        answer: Value,
    },
}

/// Events read while waiting for [`Qmp::wait_event`] (after those kept).
pub const MAX_WAITED_EVENTS: usize = 1024;

/// A QMP session.
#[derive(Debug)]
pub struct Qmp {
    reader: LineReader<UnixStream>,
    writer: UnixStream,
    /// Events that came before an answer, oldest first, at most
    /// [`MAX_EVENTS`].
    events: std::collections::VecDeque<Value>,
}

fn connect(path: &Path) -> Result<UnixStream, QmpError> {
    UnixStream::connect(path).map_err(|source| QmpError::Connect {
        path: path.to_path_buf(),
        source,
    })
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> QmpError {
    move |source| QmpError::Io { step, source }
}

impl Qmp {
    /// Connects and negotiates capabilities.
    pub fn connect(path: &Path) -> Result<Qmp, QmpError> {
        Qmp::session(connect(path)?)
    }

    /// [`Qmp::connect`] to the socket of the device model `pid`: one
    /// served by another process (its `SO_PEERCRED` pid: the last to
    /// `listen` on it, which qemu does on the fd it is given) is
    /// [`QmpError::Changed`], before anything is sent or read.
    pub fn connect_to(path: &Path, pid: i32) -> Result<Qmp, QmpError> {
        let s = connect(path)?;
        let got = privlib::getpeerucred(&s).map_err(io("peer"))?.pid;
        if got != pid {
            return Err(QmpError::Changed {
                path: path.to_path_buf(),
                want: pid,
                got,
            });
        }
        Qmp::session(s)
    }

    fn session(s: UnixStream) -> Result<Qmp, QmpError> {
        let writer = s.try_clone().map_err(io("socket"))?;
        writer
            .set_write_timeout(Some(DEADLINE))
            .map_err(io("socket"))?;
        let mut reader = LineReader::new(s, MAX_LINE);
        reader.deadline(Instant::now() + DEADLINE);
        let mut q = Qmp {
            reader,
            writer,
            events: std::collections::VecDeque::new(),
        };
        let greeting = q.line()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::NoGreeting(greeting));
        }
        q.execute("qmp_capabilities")?;
        Ok(q)
    }

    fn line(&mut self) -> Result<Value, QmpError> {
        let buf = self
            .reader
            .read_line()
            .map_err(QmpError::Read)?
            .ok_or(QmpError::Closed)?;
        serde_json::from_slice(&buf).map_err(QmpError::Json)
    }

    /// Hands qemu an accepted client connection for `protocol` (`vnc`):
    /// the fd goes over QMP (`getfd`, SCM_RIGHTS), then `add_client`.
    pub fn add_client(&mut self, protocol: &str, fd: BorrowedFd<'_>) -> Result<(), QmpError> {
        self.get_fd("client", fd)?;
        self.call(
            "add_client",
            json!({"protocol": protocol, "fdname": "client", "skipauth": false}),
        )
        .map(drop)
    }

    /// Gives qemu `fd` under `name` (`getfd`): what `netdev_add` and
    /// `add_client` take as `fd`/`fdname`. A name given again replaces
    /// the fd it named.
    pub fn get_fd(&mut self, name: &str, fd: BorrowedFd<'_>) -> Result<(), QmpError> {
        self.with_fd("getfd", json!({"fdname": name}), fd).map(drop)
    }

    /// Puts `fd` in qemu's fd set `fdset` (`add-fd`; the set is made when
    /// new): a block node opens it as `/dev/fdset/{fdset}`, taking the fd
    /// of the set whose access mode matches. `opaque` is kept with it
    /// (`query-fdsets` shows it). Returns the fd's number in qemu.
    pub fn add_fd(
        &mut self,
        fdset: u32,
        fd: BorrowedFd<'_>,
        opaque: &str,
    ) -> Result<i64, QmpError> {
        let r = self.with_fd("add-fd", json!({"fdset-id": fdset, "opaque": opaque}), fd)?;
        match (
            r.get("fdset-id").and_then(Value::as_u64),
            r.get("fd").and_then(Value::as_i64),
        ) {
            (Some(set), Some(n)) if set == u64::from(fdset) => Ok(n),
            _ => Err(QmpError::Unexpected {
                command: "add-fd".into(),
                answer: r,
            }),
        }
    }

    /// Closes every fd of qemu's fd set `fdset` (`remove-fd`): those no
    /// node holds are closed at once, the others when their node goes.
    pub fn remove_fdset(&mut self, fdset: u32) -> Result<(), QmpError> {
        self.call("remove-fd", json!({"fdset-id": fdset})).map(drop)
    }

    fn with_fd(
        &mut self,
        command: &str,
        arguments: Value,
        fd: BorrowedFd<'_>,
    ) -> Result<Value, QmpError> {
        let mut line = json!({"execute": command, "arguments": arguments}).to_string();
        line.push('\n');
        privlib::os::fd::send_with_fd(&self.writer, line.as_bytes(), fd)
            .map_err(io("sending an fd"))?;
        self.answer(command)
    }

    /// Waits up to `within` for an event `matches` accepts (the events
    /// kept from before are looked at first, and dropped with it); at
    /// most [`MAX_WAITED_EVENTS`] more are read. The session's reads get
    /// a deadline of their own for this wait, and a fresh [`DEADLINE`]
    /// after it (for the commands that follow).
    pub fn wait_event(
        &mut self,
        event: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, QmpError> {
        let is = |v: &Value| v.get("event").and_then(Value::as_str) == Some(event) && matches(v);
        if let Some(i) = self.events.iter().position(is) {
            return Ok(self.events.drain(..=i).next_back().unwrap_or(Value::Null));
        }
        self.events.clear();
        self.reader.deadline(Instant::now() + within);
        let none = || QmpError::NoEvent {
            event: event.to_string(),
            within,
        };
        let mut got = Err(none());
        for _ in 0..MAX_WAITED_EVENTS {
            match self.line() {
                Ok(v) if is(&v) => {
                    got = Ok(v);
                    break;
                }
                Ok(_) => {}
                Err(QmpError::Read(LineError::Timeout { .. })) => break,
                Err(e) => {
                    got = Err(e);
                    break;
                }
            }
        }
        self.reader.deadline(Instant::now() + DEADLINE);
        got
    }

    /// Runs `command` with `arguments`; its return value.
    pub fn call(&mut self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        self.send(
            &json!({"execute": command, "arguments": arguments}),
            command,
        )
    }

    /// Runs `command`; its return value.
    pub fn execute(&mut self, command: &str) -> Result<Value, QmpError> {
        self.send(&json!({"execute": command}), command)
    }

    fn send(&mut self, msg: &Value, command: &str) -> Result<Value, QmpError> {
        let mut line = msg.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(io("write"))?;
        self.answer(command)
    }

    fn answer(&mut self, command: &str) -> Result<Value, QmpError> {
        for _ in 0..=MAX_EVENTS {
            let v = self.line()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(QmpError::Command {
                    command: command.to_string(),
                    error: e.clone(),
                });
            }
            // An event: kept for wait_event, the last few only.
            if self.events.len() >= MAX_EVENTS {
                self.events.pop_front();
            }
            self.events.push_back(v);
        }
        Err(QmpError::Events(command.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use std::os::unix::net::UnixListener;

    /// A fake qemu at a fresh socket (in a scratch directory, removed
    /// when dropped) that writes `script` to the first client, then reads
    /// until it closes.
    fn fake(name: &str, script: Vec<u8>) -> (Scratch, PathBuf) {
        let dir = Scratch::new(&format!("qmp-{name}"));
        let p = dir.join("qmp");
        let l = UnixListener::bind(&p).expect("bind");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let _ = s.write_all(&script);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let _ = std::io::copy(&mut s, &mut std::io::sink());
            }
        });
        (dir, p)
    }

    #[test]
    fn a_session_answers_and_skips_events() {
        let (_dir, p) = fake(
            "ok",
            b"{\"QMP\":{}}\n{\"return\":{}}\n{\"event\":\"X\"}\n{\"return\":7}\n".to_vec(),
        );
        let mut q = Qmp::connect(&p).expect("connected");
        assert_eq!(q.execute("query-x").expect("answer"), json!(7));
    }

    #[test]
    fn events_before_an_answer_are_kept_for_a_wait_and_a_wait_is_bounded() {
        let mut script = b"{\"QMP\":{}}\n{\"return\":{}}\n".to_vec();
        let event = |i: usize| format!("{{\"event\":\"E\",\"data\":{{\"i\":{i}}}}}\n");
        // As many as one answer may follow, then two more before the
        // next: more than are kept, so the oldest go.
        for i in 0..MAX_EVENTS {
            script.extend(event(i).as_bytes());
        }
        script.extend(b"{\"return\":1}\n");
        script.extend(event(MAX_EVENTS).as_bytes());
        script.extend(event(MAX_EVENTS + 1).as_bytes());
        script.extend(b"{\"return\":2}\n");
        let (_dir, p) = fake("events", script);
        let mut q = Qmp::connect(&p).expect("connected");
        assert_eq!(q.execute("x").expect("answer"), json!(1));
        assert_eq!(q.execute("y").expect("answer"), json!(2));
        let first = |v: &Value| v.pointer("/data/i") == Some(&json!(0));
        let last = |v: &Value| v.pointer("/data/i") == Some(&json!(MAX_EVENTS + 1));
        let short = Duration::from_millis(200);
        let got = q.wait_event("E", short, last).expect("kept");
        assert_eq!(got["event"], "E");
        // The first was dropped (only the last MAX_EVENTS are kept); the
        // fake then closes, which ends the wait (a wait on a qemu that
        // stays silent ends at its bound: the hot-plug tests).
        let e = q.wait_event("E", short, first).expect_err("dropped");
        assert!(matches!(e, QmpError::Closed), "{e}");
    }

    #[test]
    fn a_socket_served_by_another_pid_than_the_device_models_is_refused_before_a_word() {
        // The fake listens in this process: its peer pid is ours.
        let me = i32::try_from(std::process::id()).expect("pid");
        let other = me.wrapping_add(1);
        let dir = Scratch::new("qmp-peer");
        let p = dir.join("qmp");
        let l = UnixListener::bind(&p).expect("bind");
        let fake = std::thread::spawn(move || {
            let mut heard = Vec::new();
            for _ in 0..2 {
                let Ok((mut s, _)) = l.accept() else { break };
                let _ = s.write_all(b"{\"QMP\":{}}\n{\"return\":{}}\n");
                let mut got = Vec::new();
                let _ = std::io::Read::read_to_end(&mut s, &mut got);
                heard.push(got);
            }
            heard
        });
        let e = Qmp::connect_to(&p, other).expect_err("another pid");
        assert!(
            matches!(e, QmpError::Changed { want, got, .. } if want == other && got == me),
            "{e:?}"
        );
        assert!(
            e.to_string().contains(&format!(
                "served by pid {me}, not by the device model (pid {other})"
            )) && e
                .to_string()
                .contains("the domain changed while the request waited"),
            "{e}"
        );
        drop(Qmp::connect_to(&p, me).expect("the device model's own"));
        let heard = fake.join().expect("fake");
        assert_eq!(heard.len(), 2);
        assert!(heard[0].is_empty(), "sent to another pid: {:?}", heard[0]);
        assert!(
            String::from_utf8_lossy(&heard[1]).contains("qmp_capabilities"),
            "{:?}",
            heard[1]
        );
    }

    #[test]
    fn refusals_are_typed() {
        let (_dir, p) = fake("greet", b"{\"hello\":1}\n".to_vec());
        assert!(matches!(Qmp::connect(&p), Err(QmpError::NoGreeting(_))));
        let (_dir, p) = fake(
            "err",
            b"{\"QMP\":{}}\n{\"error\":{\"class\":\"X\"}}\n".to_vec(),
        );
        let e = Qmp::connect(&p).expect_err("refused");
        assert!(matches!(&e, QmpError::Command { command, .. } if command == "qmp_capabilities"));
        let mut flood = b"{\"QMP\":{}}\n".to_vec();
        flood.extend(b"{\"event\":\"X\"}\n".repeat(MAX_EVENTS + 1));
        let (_dir, p) = fake("flood", flood);
        assert!(matches!(Qmp::connect(&p), Err(QmpError::Events(_))));
        let (_dir, p) = fake("long", vec![b' '; MAX_LINE + 2]);
        assert!(matches!(
            Qmp::connect(&p),
            Err(QmpError::Read(LineError::TooLong { .. }))
        ));
        let (_dir, p) = fake("closed", Vec::new());
        assert!(matches!(Qmp::connect(&p), Err(QmpError::Closed)));
    }
}
