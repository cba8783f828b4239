//! The tools' side: one request, its answer.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

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
pub fn client_socket(session: bool) -> Result<std::path::PathBuf, privlib::mode::ModeError> {
    crate::paths::Paths::client_socket(session)
}
