//! JSON-RPC 2.0 framing on xend's socket: one request per line, each at
//! most [`MAX_LINE`] bytes with its newline, complete within
//! [`READ_TIMEOUT`] of when xend starts waiting for it; one answer line
//! per request. What the methods and their params mean is [`crate::api`].
//!
//! Hand-written rather than a JSON-RPC crate: the framing must be bounded
//! in bytes, time and decoded size before serde builds anything, and the
//! crates read whole streams or lines without a bound.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use privlib::bounded::{LineError, LineReader};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{INVALID_REQUEST, PARSE_ERROR, RpcError};

/// Longest request or answer line, its newline included.
pub const MAX_LINE: usize = 256 * 1024;
/// How long a peer may take to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A request as it arrives: method and params still untyped (typed by
/// [`crate::api::Call::parse`]).
#[derive(Debug, Deserialize, Serialize)]
pub struct Request {
    /// Always "2.0".
    pub jsonrpc: String,
    /// The method.
    pub method: String,
    /// Its parameters (an object).
    #[serde(default)]
    pub params: Value,
    /// The id echoed back; `None` when the request has no `id` member at
    /// all: a notification, which is never answered (JSON-RPC 2.0, 4.1).
    /// `"id": null` is an id (`Some(Value::Null)`), answered like any.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Value>,
}

impl Request {
    /// Whether it is a notification (no `id` member): executed, never
    /// answered.
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// An `id` member that is there, `null` included (serde would read
/// `null` into an `Option` as `None`, which is kept for "absent").
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Why no request line could be read; each is answered (to id `null`)
/// and ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Too long, too slow, cut short, or the stream failed.
    #[error("request: {0}")]
    Line(#[from] LineError),
    /// A second request came before the first was answered.
    #[error("one request at a time: wait for the answer")]
    Pipelined,
}

/// A reader of request lines (or answer lines) bounded by [`MAX_LINE`].
pub fn line_reader(s: &UnixStream) -> LineReader<&UnixStream> {
    LineReader::new(s, MAX_LINE - 1)
}

/// The next request line, without its newline; `None` when the peer
/// closed between requests. The line must be complete within
/// [`READ_TIMEOUT`] from now.
pub fn next_request(r: &mut LineReader<&UnixStream>) -> Result<Option<Vec<u8>>, FrameError> {
    Ok(r.within(READ_TIMEOUT).read_line()?)
}

/// Refuses a line that is to be answered while another follows it: a
/// client waits for each answer, so xend never writes into a peer that
/// is not reading. (A notification gets no answer, so its sender need not
/// wait: what follows one is read as the next request.)
pub fn alone(r: &LineReader<&UnixStream>) -> Result<(), FrameError> {
    if r.has_buffered() {
        return Err(FrameError::Pipelined);
    }
    Ok(())
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

/// Decodes one request line (as [`next_request`] returns it, without
/// its newline).
///
/// # Format
/// A JSON object `{"jsonrpc": "2.0", "method": STRING, "params": VALUE,
/// "id": VALUE}`; `params` may be left out (`null`), and `id` too (a
/// notification: [`Request::is_notification`]); they hold
/// at most [`MAX_CONTAINERS`] objects and arrays in all. Any other
/// `jsonrpc` is [`Undecodable::WrongVersion`] (answered to its id, or
/// `null` when it has none: it is no valid notification either); anything else is
/// [`Undecodable::NotARequest`]: [`PARSE_ERROR`] when the line is not
/// JSON at all, [`INVALID_REQUEST`] when it is JSON of another shape.
pub fn decode(line: &[u8]) -> Result<Request, Undecodable> {
    const WHY_MAX: usize = 200;
    if containers(line) > MAX_CONTAINERS {
        return Err(Undecodable::NotARequest(RpcError::new(
            INVALID_REQUEST,
            format!("not a JSON-RPC 2.0 request: more than {MAX_CONTAINERS} objects and arrays"),
        )));
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
        let code = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => PARSE_ERROR,
            serde_json::error::Category::Data | serde_json::error::Category::Io => INVALID_REQUEST,
        };
        Undecodable::NotARequest(RpcError::new(
            code,
            format!("not a JSON-RPC 2.0 request: {why}"),
        ))
    })?;
    if req.jsonrpc != "2.0" {
        return Err(Undecodable::WrongVersion {
            id: req.id.unwrap_or(Value::Null),
            error: RpcError::new(INVALID_REQUEST, "jsonrpc must be \"2.0\""),
        });
    }
    Ok(req)
}

/// An answer line to `id` (`result` or `error`), newline included.
pub fn answer_line(id: &Value, result: Result<Value, RpcError>) -> Vec<u8> {
    let msg = match result {
        Ok(v) => serde_json::json!({"jsonrpc": "2.0", "result": v, "id": id}),
        Err(e) => serde_json::json!({"jsonrpc": "2.0", "error": e, "id": id}),
    };
    let mut text = msg.to_string().into_bytes();
    text.push(b'\n');
    text
}

/// Writes the answer to `id` (bounded in time: a peer that does not read
/// holds its own thread at most [`READ_TIMEOUT`]).
pub fn answer(mut s: &UnixStream, id: &Value, result: Result<Value, RpcError>) {
    let _ = s.set_write_timeout(Some(READ_TIMEOUT));
    let _ = s.write_all(&answer_line(id, result));
}

/// Writes a successful answer to `id` with `fd` attached to its first
/// byte (SCM_RIGHTS); the client takes the fd with that byte
/// ([`crate::client::Client::call_fd`]). Bounded in time as [`answer`].
pub fn answer_with_fd(mut s: &UnixStream, id: &Value, value: Value, fd: &impl std::os::fd::AsFd) {
    let _ = s.set_write_timeout(Some(READ_TIMEOUT));
    let line = answer_line(id, Ok(value));
    let Some((first, rest)) = line.split_first() else {
        return;
    };
    if privlib::os::fd::send_with_fd(s, std::slice::from_ref(first), fd.as_fd()).is_ok() {
        let _ = s.write_all(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first line `peer` sends, refused as [`alone`] refuses it when
    /// more follows.
    fn read_from(peer: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        let (mut theirs, ours) = UnixStream::pair().expect("socketpair");
        let writer = std::thread::spawn(move || {
            let _ = theirs.write_all(&peer);
        });
        let mut r = line_reader(&ours);
        let got = next_request(&mut r)
            .and_then(|l| alone(&r).map(|()| l))
            .map_err(|e| e.to_string());
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
            Err(format!("request: line longer than {} bytes", MAX_LINE - 1))
        );
        assert_eq!(
            read_from(vec![b' '; 3 * MAX_LINE]),
            Err(format!("request: line longer than {} bytes", MAX_LINE - 1))
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
        assert_eq!(
            (r.method.as_str(), &r.id),
            ("domain.list", &Some(Value::from(7)))
        );
        // params and id may be left out: without an id, a notification;
        // an id of null is an id.
        let r = decode(br#"{"jsonrpc":"2.0","method":"domain.list"}"#).expect("bare");
        assert!(r.is_notification());
        assert_eq!((r.params, r.id), (Value::Null, None));
        let r = decode(br#"{"jsonrpc":"2.0","method":"domain.list","id":null}"#).expect("null");
        assert!(!r.is_notification());
        assert_eq!(r.id, Some(Value::Null));

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

        // Not JSON: a parse error; JSON of another shape: an invalid
        // request.
        for (bad, code) in [
            (&b"domain.list"[..], PARSE_ERROR),
            (br#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
            (br#"{"jsonrpc":2,"method":"x"}"#, INVALID_REQUEST),
            (br#"[1,2]"#, INVALID_REQUEST),
            (br#"{"jsonrpc":"2.0","method":"x"} trailing"#, PARSE_ERROR),
            (b"\xff", PARSE_ERROR),
            (b"", PARSE_ERROR),
        ] {
            let e = decode(bad).expect_err("not a request");
            assert!(matches!(e, Undecodable::NotARequest(_)), "{e:?}");
            assert_eq!(e.id(), &Value::Null);
            assert_eq!(e.error().code, code, "{e:?}");
            assert!(
                e.error()
                    .message
                    .starts_with("not a JSON-RPC 2.0 request: "),
                "{e:?}"
            );
        }
    }
}
