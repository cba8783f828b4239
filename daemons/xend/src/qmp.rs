//! A small QMP client: greeting, capabilities, one command at a time,
//! events skipped (at most [`MAX_EVENTS`] before an answer). A session has
//! one deadline for all its reads ([`DEADLINE`]), and a line is bounded:
//! a qemu that trickles bytes or floods events cannot hold xend.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// Longest QMP line read.
const MAX_LINE: u64 = 1 << 20;
/// Events skipped while waiting for one answer.
pub const MAX_EVENTS: usize = 64;
/// How long a whole QMP session may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A QMP session.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    deadline: std::time::Instant,
}

impl Qmp {
    /// Connects and negotiates capabilities.
    pub fn connect(path: &Path) -> Result<Qmp, String> {
        let s = UnixStream::connect(path).map_err(|e| format!("QMP {}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let writer = s.try_clone().map_err(|e| e.to_string())?;
        writer
            .set_write_timeout(Some(DEADLINE))
            .map_err(|e| e.to_string())?;
        let mut q = Qmp {
            reader: BufReader::new(s),
            writer,
            deadline: std::time::Instant::now() + DEADLINE,
        };
        let greeting = q.line()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP: no greeting but {greeting}"));
        }
        q.execute("qmp_capabilities")?;
        Ok(q)
    }

    fn line(&mut self) -> Result<Value, String> {
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!("QMP: no answer within {} s", DEADLINE.as_secs()));
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("QMP: {e}"))?;
        if buf.is_empty() {
            return Err("QMP: qemu closed the connection".into());
        }
        serde_json::from_slice(&buf).map_err(|e| format!("QMP: {e}"))
    }

    /// Hands qemu an accepted client connection for `protocol` (`vnc`):
    /// the fd goes over QMP (`getfd`, SCM_RIGHTS), then `add_client`.
    pub fn add_client(
        &mut self,
        protocol: &str,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), String> {
        let mut line =
            serde_json::json!({"execute": "getfd", "arguments": {"fdname": "client"}}).to_string();
        line.push('\n');
        privlib::os::fd::send_with_fd(&self.writer, line.as_bytes(), fd)
            .map_err(|e| format!("QMP getfd: {e}"))?;
        self.answer("getfd")?;
        self.call(
            "add_client",
            serde_json::json!({"protocol": protocol, "fdname": "client", "skipauth": false}),
        )
        .map(drop)
    }

    /// Runs `command` with `arguments`; its return value.
    pub fn call(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let mut line = serde_json::json!({"execute": command, "arguments": arguments}).to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("QMP: {e}"))?;
        self.answer(command)
    }

    /// Runs `command`; its return value.
    pub fn execute(&mut self, command: &str) -> Result<Value, String> {
        let mut line = serde_json::json!({"execute": command}).to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("QMP: {e}"))?;
        self.answer(command)
    }

    fn answer(&mut self, command: &str) -> Result<Value, String> {
        for _ in 0..=MAX_EVENTS {
            let v = self.line()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(format!("QMP {command}: {e}"));
            }
            // An event: not what we wait for.
        }
        Err(format!(
            "QMP {command}: more than {MAX_EVENTS} events and no answer"
        ))
    }
}
