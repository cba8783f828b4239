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
    // Bytes already searched for the newline: each is looked at once, so a
    // peer sending a byte at a time costs linear time, not quadratic.
    let mut searched = 0;
    loop {
        if let Some(i) = line[searched..].iter().position(|b| *b == b'\n') {
            if searched + i + 1 != line.len() {
                return Err("one request at a time: wait for the answer".into());
            }
            line.pop();
            return Ok(Some(line));
        }
        searched = line.len();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "request not complete within {} s",
                READ_TIMEOUT.as_secs()
            ));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        // Never more than one byte past the bound: what a peer makes xend
        // hold is MAX_LINE + 1 bytes, not the next power of two above it.
        let room = (MAX_LINE + 1).saturating_sub(line.len()).min(byte.len());
        match s.read(&mut byte[..room]) {
            Ok(0) if line.is_empty() => return Ok(None),
            Ok(0) => return Err("request not ended by a newline".into()),
            Ok(n) => {
                if line.len() + n > line.capacity() {
                    let want = (line.capacity() * 2).clamp(line.len() + n, MAX_LINE + 1);
                    line.reserve_exact(want - line.len());
                }
                line.extend_from_slice(&byte[..n]);
            }
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

/// A request line that is not a JSON-RPC 2.0 request, and how to answer it.
#[derive(Debug, Clone, PartialEq)]
pub enum Undecodable {
    /// Not a request object at all (not JSON, or missing `jsonrpc` or
    /// `method`): answered to id `null`, and the connection ends, as the
    /// peer's framing cannot be trusted.
    NotARequest(RpcError),
    /// A request of another version: answered to its own id; the
    /// connection may go on.
    WrongVersion {
        /// The request's id.
        id: Value,
        /// The error to answer with.
        error: RpcError,
    },
}

impl Undecodable {
    /// The id to answer to.
    pub fn id(&self) -> &Value {
        match self {
            Undecodable::NotARequest(_) => &Value::Null,
            Undecodable::WrongVersion { id, .. } => id,
        }
    }

    /// The error to answer with.
    pub fn error(&self) -> &RpcError {
        match self {
            Undecodable::NotARequest(e) | Undecodable::WrongVersion { error: e, .. } => e,
        }
    }
}

/// Objects and arrays a request line may hold (xm's hold two). Each costs
/// hundreds of bytes once decoded however short it is written (`{"":0}`,
/// 6 bytes, is a map node): a line of them made xend hold 83 times the
/// line. They are counted before anything is built; what is left (strings
/// and numbers) holds at most about 32 times the line.
pub const MAX_CONTAINERS: usize = 64;

/// The `{` and `[` of `line` outside strings.
fn containers(line: &[u8]) -> usize {
    let (mut n, mut in_string, mut escaped) = (0, false, false);
    for &b in line {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// Decodes one request line (as [`read_line`] returns it, without its
/// newline).
///
/// # Format
/// A JSON object `{"jsonrpc": "2.0", "method": STRING, "params": VALUE,
/// "id": VALUE}`; `params` and `id` may be left out (`null`), and hold
/// at most [`MAX_CONTAINERS`] objects and arrays in all. Any other
/// `jsonrpc` is [`Undecodable::WrongVersion`]; anything else that is not
/// such an object is [`Undecodable::NotARequest`]. Both carry
/// [`INVALID_REQUEST`].
pub fn decode(line: &[u8]) -> Result<Request, Undecodable> {
    const WHY_MAX: usize = 200;
    if containers(line) > MAX_CONTAINERS {
        return Err(Undecodable::NotARequest(RpcError {
            code: INVALID_REQUEST,
            message: format!(
                "not a JSON-RPC 2.0 request: more than {MAX_CONTAINERS} objects and arrays"
            ),
        }));
    }
    let req: Request = serde_json::from_slice(line).map_err(|e| {
        // serde_json quotes what it did not expect: for a line that is one
        // long JSON string, the whole of it, escaped (up to 6 bytes for 1).
        // The answer keeps its start and the place.
        let mut why = e.to_string();
        if why.len() > WHY_MAX {
            let cut = (0..=WHY_MAX)
                .rev()
                .find(|i| why.is_char_boundary(*i))
                .unwrap_or(0);
            why.truncate(cut);
            why.push_str(&format!("... at line {} column {}", e.line(), e.column()));
        }
        Undecodable::NotARequest(RpcError {
            code: INVALID_REQUEST,
            message: format!("not a JSON-RPC 2.0 request: {why}"),
        })
    })?;
    if req.jsonrpc != "2.0" {
        return Err(Undecodable::WrongVersion {
            id: req.id,
            error: RpcError {
                code: INVALID_REQUEST,
                message: "jsonrpc must be \"2.0\"".into(),
            },
        });
    }
    Ok(req)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_from(peer: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        let (mut theirs, ours) = UnixStream::pair().expect("socketpair");
        let writer = std::thread::spawn(move || {
            let _ = theirs.write_all(&peer);
        });
        let got = read_line(&ours);
        drop(ours);
        writer.join().expect("writer");
        got
    }

    #[test]
    fn a_line_is_bounded() {
        let mut most = vec![b'x'; MAX_LINE - 1];
        most.push(b'\n');
        let got = read_from(most).expect("the longest line").expect("a line");
        assert_eq!(got.len(), MAX_LINE - 1);
        let mut over = vec![b'x'; MAX_LINE];
        over.push(b'\n');
        assert_eq!(
            read_from(over),
            Err(format!("request longer than {MAX_LINE} bytes"))
        );
        assert_eq!(
            read_from(vec![b' '; 3 * MAX_LINE]),
            Err(format!("request longer than {MAX_LINE} bytes"))
        );
        assert_eq!(read_from(Vec::new()), Ok(None));
        assert_eq!(
            read_from(b"{}\n{}\n".to_vec()),
            Err("one request at a time: wait for the answer".into())
        );
    }

    #[test]
    fn decode_answers_as_xend_does() {
        let r = decode(br#"{"jsonrpc":"2.0","method":"domain.list","params":{},"id":7}"#)
            .expect("a request");
        assert_eq!((r.method.as_str(), &r.id), ("domain.list", &Value::from(7)));
        // params and id may be left out.
        let r = decode(br#"{"jsonrpc":"2.0","method":"domain.list"}"#).expect("bare");
        assert_eq!((r.params, r.id), (Value::Null, Value::Null));

        let e =
            decode(br#"{"jsonrpc":"1.0","method":"domain.list","id":"a"}"#).expect_err("version");
        assert_eq!(e.id(), &Value::from("a"));
        assert_eq!(e.error().code, INVALID_REQUEST);
        assert_eq!(e.error().message, "jsonrpc must be \"2.0\"");
        assert!(matches!(e, Undecodable::WrongVersion { .. }));

        // What serde_json quotes is cut: the answer stays short.
        let long = format!("\"{}\"", "\u{7f}".repeat(100_000));
        let e = decode(long.as_bytes()).expect_err("a string");
        assert!(e.error().message.len() < 300, "{}", e.error().message.len());
        assert!(
            e.error().message.ends_with("at line 1 column 100002"),
            "{e:?}"
        );

        // Objects and arrays are counted; brackets in strings are text.
        let many = format!(
            r#"{{"jsonrpc":"2.0","method":"x","params":[{}]}}"#,
            vec![r#"{"":0}"#; MAX_CONTAINERS].join(",")
        );
        let e = decode(many.as_bytes()).expect_err("too many");
        assert!(e.error().message.ends_with("objects and arrays"), "{e:?}");
        let text = format!(
            r#"{{"jsonrpc":"2.0","method":"x","params":{{"config":"{}\\\"[{{"}}}}"#,
            "disk = [ '' ] ".repeat(100)
        );
        assert!(decode(text.as_bytes()).is_ok(), "{text}");

        for bad in [
            &b"domain.list"[..],
            br#"{"jsonrpc":"2.0","id":1}"#,
            br#"{"jsonrpc":2,"method":"x"}"#,
            br#"{"jsonrpc":"2.0","method":"x"} trailing"#,
            b"\xff",
            b"",
        ] {
            let e = decode(bad).expect_err("not a request");
            assert!(matches!(e, Undecodable::NotARequest(_)), "{e:?}");
            assert_eq!(e.id(), &Value::Null);
            assert_eq!(e.error().code, INVALID_REQUEST);
            assert!(
                e.error()
                    .message
                    .starts_with("not a JSON-RPC 2.0 request: "),
                "{e:?}"
            );
        }
    }
}
