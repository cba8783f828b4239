//! A small QMP client: greeting, capabilities, one command at a time,
//! events skipped. Every read has a deadline; an answer is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// Longest QMP line read.
const MAX_LINE: u64 = 1 << 20;

/// A QMP session.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects and negotiates capabilities.
    pub fn connect(path: &Path) -> Result<Qmp, String> {
        let s = UnixStream::connect(path).map_err(|e| format!("QMP {}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let writer = s.try_clone().map_err(|e| e.to_string())?;
        let mut q = Qmp {
            reader: BufReader::new(s),
            writer,
        };
        let greeting = q.line()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP: no greeting but {greeting}"));
        }
        q.execute("qmp_capabilities")?;
        Ok(q)
    }

    fn line(&mut self) -> Result<Value, String> {
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

    /// Runs `command`; its return value.
    pub fn execute(&mut self, command: &str) -> Result<Value, String> {
        let mut line = serde_json::json!({"execute": command}).to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("QMP: {e}"))?;
        loop {
            let v = self.line()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(format!("QMP {command}: {e}"));
            }
            // An event: not what we wait for.
        }
    }
}
