//! svc-startd's control socket: one request per connection, one line of
//! tab-separated fields (at most [`MAX_LINE`] bytes); the answer is data
//! lines, then `OK` or `ERR why`.
//!
//! Reading (`list`, `show`, `getprop`, `listprop`) needs `virt_manage` or
//! `xvm_control`; changing (`enable`, `disable`, `restart`, `refresh`,
//! `clear`, `setprop`) needs `xvm_control`, as the policy grants them (to
//! root by `uids = [0]`; in session mode, to the owner). Every decision is
//! audited.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use privlib::names::{virt_manage, xvm_control};
use privlib::{Policy, Ucred, require_any};

use crate::fmri::Fmri;
use crate::manifest::PropType;
use crate::props::{Override, split_prop};
use crate::restarter::{Restarter, State, humantime};

/// Longest request line.
pub const MAX_LINE: usize = 64 * 1024;
/// How long a peer may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a request changes something (and needs `xvm_control`).
pub fn writes(verb: &str) -> bool {
    matches!(
        verb,
        "enable" | "disable" | "restart" | "refresh" | "clear" | "setprop"
    )
}

/// Decides whether `cred` may send `verb`; the denial's text if not.
/// Every peer goes through the policy, root too (the shipped policy
/// grants uid 0 by `uids = [0]`; session mode grants the owner).
pub fn gate(policy: &Policy, cred: &Ucred, endpoint: &str, verb: &str) -> Result<(), String> {
    let wanted: &[privlib::names::PrivId] = if writes(verb) {
        &[xvm_control()]
    } else {
        &[xvm_control(), virt_manage()]
    };
    require_any(policy, cred, endpoint, wanted)
        .map(drop)
        .map_err(|d| d.message())
}

/// Reads one request line, bounded in size and in total time (not per
/// read: a peer trickling a byte at a time gets no longer than a fast one).
pub fn read_request(mut stream: &UnixStream) -> Result<Vec<String>, String> {
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    while !line.ends_with(b"\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!(
                "request not complete within {} seconds",
                READ_TIMEOUT.as_secs()
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err("request not ended by a newline".into()),
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
            Err(e) => return Err(format!("reading the request: {e}")),
        };
        line.extend_from_slice(&buf[..n]);
        if line.len() > MAX_LINE {
            return Err(format!("request longer than {MAX_LINE} bytes"));
        }
    }
    line.pop();
    if line.contains(&b'\n') {
        return Err("one request per connection".into());
    }
    let text = String::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    Ok(text.split('\t').map(str::to_string).collect())
}

fn instance(r: &Restarter, f: Option<&String>) -> Result<usize, String> {
    let f = f.ok_or("an FMRI is needed")?;
    r.find(&Fmri::parse(f).map_err(|e| e.to_string())?)
}

/// Serves one request; data lines, or why not.
pub fn handle(r: &mut Restarter, req: &[String]) -> Result<Vec<String>, String> {
    let verb = req.first().map_or("", String::as_str);
    let arg = req.get(1);
    match verb {
        "list" => Ok(r
            .svcs
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
            .collect()),
        "show" => {
            let i = instance(r, arg)?;
            let s = &r.svcs[i];
            let mut out = vec![
                format!("fmri\t{}", s.r.fmri),
                format!("name\t{}", s.r.common_name.as_deref().unwrap_or("")),
                format!("enabled\t{}", s.wanted()),
                format!("state\t{}", s.state.name()),
                format!("next_state\tnone"),
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
        "getprop" | "listprop" => {
            let i = instance(r, arg)?;
            let s = &r.svcs[i];
            let want = req.get(2).map(|p| split_prop(p)).transpose()?;
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
            if verb == "getprop" && out.is_empty() {
                return Err(format!(
                    "{}: no property {}",
                    s.r.fmri,
                    req.get(2).map_or("", String::as_str)
                ));
            }
            Ok(out)
        }
        "enable" | "disable" => {
            let i = instance(r, arg)?;
            let temporary = req.get(2).is_some_and(|t| t == "-t");
            r.set_enabled(i, verb == "enable", temporary)?;
            Ok(Vec::new())
        }
        "restart" => {
            let i = instance(r, arg)?;
            if r.svcs[i].stopping.is_some() {
                return Err(format!("{} is already stopping", r.svcs[i].r.fmri));
            }
            if r.svcs[i].child.is_none() || r.svcs[i].state != State::Online {
                return Err(format!("{} is not online", r.svcs[i].r.fmri));
            }
            r.stop(i, true);
            Ok(Vec::new())
        }
        "refresh" => {
            instance(r, arg)?;
            r.load();
            Ok(Vec::new())
        }
        "clear" => {
            let i = instance(r, arg)?;
            r.clear(i)?;
            Ok(Vec::new())
        }
        "setprop" => {
            let i = instance(r, arg)?;
            let [_, _, prop, ty, value] = req else {
                return Err("setprop takes FMRI, pg/prop, type and value".into());
            };
            split_prop(prop)?;
            let ty = PropType::from_name(ty).ok_or_else(|| format!("no property type \"{ty}\""))?;
            if prop == "general/enabled" && ty != PropType::Boolean {
                return Err("general/enabled is a boolean (true or false)".into());
            }
            if let Some(old) = r.svcs[i]
                .r
                .prop(split_prop(prop)?.0, split_prop(prop)?.1)
                .filter(|p| p.ty != ty)
            {
                return Err(format!(
                    "{prop} is of type {}, not {}",
                    old.ty.name(),
                    ty.name()
                ));
            }
            let f = r.svcs[i].r.fmri.clone();
            r.overrides.set(
                &f,
                prop,
                Override {
                    ty,
                    value: value.clone(),
                },
            )?;
            Ok(Vec::new())
        }
        "" => Err("empty request".into()),
        v => Err(format!("unknown request \"{v}\"")),
    }
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
pub fn answer(mut stream: &UnixStream, result: Result<Vec<String>, String>) {
    let mut text = String::new();
    match result {
        Ok(lines) => {
            for l in lines {
                text.push_str(&l.replace('\n', " "));
                text.push('\n');
            }
            text.push_str("OK\n");
        }
        Err(e) => text.push_str(&format!("ERR {}\n", e.replace('\n', " "))),
    }
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let _ = stream.write_all(text.as_bytes());
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
    // A refused peer is answered before its request is read, so a failed
    // write still leaves the answer to read.
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
    fn a_request_is_bounded_in_size_and_in_total_time() {
        let (a, mut b) = UnixStream::pair().expect("pair");
        b.write_all(b"list\tone\n").expect("write");
        assert_eq!(
            read_request(&a),
            Ok(vec!["list".to_string(), "one".to_string()])
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
        let err = read_request(&a).expect_err("cut off");
        assert!(err.contains("not complete within 2 seconds"), "{err}");
        drop(a);
        trickle.join().expect("writer");

        let (a, mut b) = UnixStream::pair().expect("pair");
        let big = vec![b'x'; MAX_LINE + 10];
        let w = std::thread::spawn(move || {
            let _ = b.write_all(&big);
        });
        let err = read_request(&a).expect_err("too long");
        assert!(err.contains("longer than"), "{err}");
        drop(a);
        w.join().expect("writer");
    }
}
