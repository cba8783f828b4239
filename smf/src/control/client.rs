//! The tools' side: one request, its answer, read bounded in size and in
//! time like the request on the server's side.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use privlib::bounded::{LineError, LineReader};
use privlib::mode::ModeError;

use super::error::Lines;
use super::limits::{ANSWER_TIMEOUT, MAX_LINE};

/// The longest answer line: a data line quotes at most a request's worth
/// of value, and a little around it.
pub const MAX_ANSWER_LINE: usize = MAX_LINE + 4096;
/// The most an answer may hold in all (every instance, every property).
pub const MAX_ANSWER: usize = 16 << 20;
/// How long the whole answer may take: a little past the server's own
/// wait for the restarter's loop.
pub const ANSWER_DEADLINE: Duration = ANSWER_TIMEOUT.saturating_add(Duration::from_secs(5));

/// Why a request got no answer, or the answer was a refusal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A field would not stay one field of one line.
    #[error("a request field holds a tab or a newline")]
    Field,
    /// The socket could not be reached.
    #[error("svc-startd at {}: {source} (is it running? start it with svc-startd)", socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be sent, and nothing came back.
    #[error("svc-startd: {0}")]
    Send(#[source] std::io::Error),
    /// The answer could not be read, or broke a bound.
    #[error("svc-startd: {0}")]
    Read(#[source] LineError),
    /// The answer is larger than [`MAX_ANSWER`].
    #[error("svc-startd: an answer larger than {MAX_ANSWER} bytes")]
    TooLarge,
    /// The answer is not UTF-8.
    #[error("svc-startd: an answer that is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    /// The connection ended without `OK` or `ERR`.
    #[error("svc-startd closed the connection without an answer (refused?)")]
    NoAnswer,
    /// svc-startd's `ERR` line: why it did not serve the request.
    #[error("{0}")]
    Refused(String),
}

/// The client side: sends `fields`, returns the data lines, or the error
/// (svc-startd's own reason, [`ClientError::Refused`], when it answered
/// `ERR`).
pub fn request(socket: &Path, fields: &[&str]) -> Result<Lines, ClientError> {
    if fields.iter().any(|f| f.contains(['\t', '\n'])) {
        return Err(ClientError::Field);
    }
    let s = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        socket: socket.to_path_buf(),
        source,
    })?;
    // A refused peer may be answered before its request is read, so a
    // failed write still leaves the answer to read.
    let sent = (&s).write_all(format!("{}\n", fields.join("\t")).as_bytes());
    let mut reader = LineReader::new(&s, MAX_ANSWER_LINE);
    reader.within(ANSWER_DEADLINE);
    let mut lines = Vec::new();
    let mut total = 0usize;
    loop {
        let line = match reader.read_line() {
            Ok(Some(l)) => l,
            Ok(None) => {
                if lines.is_empty() {
                    sent.map_err(ClientError::Send)?;
                }
                return Err(ClientError::NoAnswer);
            }
            Err(e) => {
                if lines.is_empty()
                    && let Err(e) = sent
                {
                    return Err(ClientError::Send(e));
                }
                return Err(ClientError::Read(e));
            }
        };
        total = total.saturating_add(line.len() + 1);
        if total > MAX_ANSWER {
            return Err(ClientError::TooLarge);
        }
        let line = String::from_utf8(line).map_err(ClientError::NotUtf8)?;
        if line == "OK" {
            return Ok(lines);
        }
        if let Some(why) = line.strip_prefix("ERR ") {
            return Err(ClientError::Refused(why.to_string()));
        }
        lines.push(line);
    }
}

/// The control socket a client means (see [`crate::paths::Paths::client_socket`]).
pub fn client_socket(session: bool) -> Result<PathBuf, ModeError> {
    crate::paths::Paths::client_socket(session)
}
