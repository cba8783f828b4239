//! JSON-RPC 2.0, one request per line, on xend's socket. A line is at
//! most [`MAX_LINE`] bytes and must arrive within [`READ_TIMEOUT`].

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest request or answer line.
pub const MAX_LINE: usize = 256 * 1024;
/// How long a peer may take to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A request.
#[derive(Debug, Deserialize, Serialize)]
pub struct Request {
    /// Always "2.0".
    pub jsonrpc: String,
    /// The method.
    pub method: String,
    /// Its parameters (an object).
    #[serde(default)]
    pub params: Value,
    /// The id echoed back.
    #[serde(default)]
    pub id: Value,
}

/// An error object.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
}

/// Invalid request, method not found, invalid params, internal error;
/// and ours: permission denied.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Bad parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// The operation failed.
pub const FAILED: i64 = -32000;
/// The peer lacks the privilege.
pub const DENIED: i64 = -32001;

/// Reads one line, bounded in size and total time.
pub fn read_line(mut s: &UnixStream) -> Result<Option<Vec<u8>>, String> {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut line = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        if let Some(i) = line.iter().position(|b| *b == b'\n') {
            if i + 1 != line.len() {
                return Err("one request at a time: wait for the answer".into());
            }
            line.pop();
            return Ok(Some(line));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "request not complete within {} s",
                READ_TIMEOUT.as_secs()
            ));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match s.read(&mut byte) {
            Ok(0) if line.is_empty() => return Ok(None),
            Ok(0) => return Err("request not ended by a newline".into()),
            Ok(n) => line.extend_from_slice(&byte[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
        if line.len() > MAX_LINE {
            return Err(format!("request longer than {MAX_LINE} bytes"));
        }
    }
}

/// Writes the answer to `id`.
pub fn answer(mut s: &UnixStream, id: &Value, result: Result<Value, RpcError>) {
    let msg = match result {
        Ok(v) => serde_json::json!({"jsonrpc": "2.0", "result": v, "id": id}),
        Err(e) => serde_json::json!({"jsonrpc": "2.0", "error": e, "id": id}),
    };
    let mut text = msg.to_string();
    text.push('\n');
    let _ = s.set_write_timeout(Some(READ_TIMEOUT));
    let _ = s.write_all(text.as_bytes());
}

/// A connection to xend.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connects to xend's socket.
    pub fn connect(path: &Path) -> Result<Client, String> {
        let stream = UnixStream::connect(path)
            .map_err(|e| format!("xend at {}: {e} (is xend running?)", path.display()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        Ok(Client { stream, next_id: 1 })
    }

    /// Calls `method`; the result, or the error's message.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line =
            serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id})
                .to_string();
        line.push('\n');
        let io = |e: String| RpcError {
            code: FAILED,
            message: e,
        };
        // A refused peer is answered before its request is read.
        let sent = self.stream.write_all(line.as_bytes());
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        while !buf.ends_with(b"\n") {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(io(format!("xend: {e}"))),
            }
            if buf.len() > MAX_LINE {
                return Err(io("xend's answer is too long".into()));
            }
        }
        if buf.is_empty() {
            return Err(io(match sent {
                Err(e) => format!("xend: {e}"),
                Ok(()) => "xend closed the connection without an answer".into(),
            }));
        }
        let v: Value =
            serde_json::from_slice(&buf).map_err(|e| io(format!("xend's answer: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(
                serde_json::from_value(err.clone()).unwrap_or_else(|_| io(format!("xend: {err}")))
            );
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }
}
