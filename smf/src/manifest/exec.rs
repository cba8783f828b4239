//! What a method runs: `exec` read into an [`Exec`], command lines split
//! into words (no shell runs the methods) and their `%` tokens expanded.

use super::model::Exec;
use super::property::{PropertyError, split_prop};
use super::resolve::Resolved;
use crate::fmri::Fmri;

/// A command line's words, the program first.
pub type Words = Vec<String>;

/// Why an `exec`, a command line or a `%` token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// `:kill` followed by something other than `-SIGNAL`.
    #[error("exec=\"{0}\": :kill takes -SIGNAL")]
    KillTakesSignal(String),
    /// `:kill -SIGNAL` with a signal that does not exist.
    #[error("exec=\"{exec}\": no signal \"{signal}\"")]
    NoSignal {
        /// The `exec` as written.
        exec: String,
        /// The signal as written.
        signal: String,
    },
    /// A `:` method other than `:kill` and `:true`.
    #[error("exec=\"{0}\": the only special methods are :kill and :true")]
    Special(String),
    /// `exec=""`.
    #[error("exec is empty")]
    Empty,
    /// The command line does not split into words.
    #[error("exec=\"{exec}\": {source}")]
    Command {
        /// The `exec` as written.
        exec: String,
        /// Why.
        #[source]
        source: Box<ExecError>,
    },
    /// A quote that is not closed.
    #[error("unclosed {0}")]
    Unclosed(char),
    /// A `\\` with nothing after it.
    #[error("a \\ ends the line")]
    TrailingBackslash,
    /// Only blanks.
    #[error("no command")]
    NoCommand,
    /// `%{` without its `}`.
    #[error("%{{{0} is not closed")]
    TokenNotClosed(String),
    /// `%{pg/prop}` names a property the instance does not have.
    #[error("%{{{name}}}: {fmri} has no property {name}")]
    NoProperty {
        /// The instance.
        fmri: Fmri,
        /// The property named.
        name: String,
    },
    /// `%{name}` where name is not `pg/prop`.
    #[error("{0}")]
    PropName(#[source] PropertyError),
    /// `%` followed by a letter that is no token.
    #[error("unknown token %{0}")]
    UnknownToken(char),
    /// A `%` with nothing after it.
    #[error("a % ends the line")]
    TrailingPercent,
}

/// Reads `exec`: `:kill`, `:kill -SIGNAL`, `:true`, or a command line.
pub fn parse_exec(text: &str) -> Result<Exec, ExecError> {
    let t = text.trim();
    if t == ":true" {
        return Ok(Exec::True);
    }
    if let Some(rest) = t.strip_prefix(":kill") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(Exec::Kill(libc::SIGTERM));
        }
        let sig = rest
            .strip_prefix('-')
            .ok_or_else(|| ExecError::KillTakesSignal(text.to_string()))?;
        return signal(sig)
            .map(Exec::Kill)
            .ok_or_else(|| ExecError::NoSignal {
                exec: text.to_string(),
                signal: sig.to_string(),
            });
    }
    if t.starts_with(':') {
        return Err(ExecError::Special(text.to_string()));
    }
    if t.is_empty() {
        return Err(ExecError::Empty);
    }
    split_command(t).map_err(|e| ExecError::Command {
        exec: text.to_string(),
        source: Box::new(e),
    })?;
    Ok(Exec::Command(t.to_string()))
}

fn signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let s = s.strip_prefix("SIG").unwrap_or(s);
    Some(match s {
        "TERM" => libc::SIGTERM,
        "KILL" => libc::SIGKILL,
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        _ => return None,
    })
}

/// Splits a command line into words: blanks separate, `'...'` and `"..."`
/// quote, `\` escapes the next character. No shell runs the methods.
pub fn split_command(s: &str) -> Result<Words, ExecError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                loop {
                    match it.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => {
                            cur.push(it.next().ok_or(ExecError::TrailingBackslash)?);
                        }
                        Some(o) => cur.push(o),
                        None => return Err(ExecError::Unclosed(c)),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(it.next().ok_or(ExecError::TrailingBackslash)?);
            }
            o => {
                in_word = true;
                cur.push(o);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(ExecError::NoCommand);
    }
    Ok(words)
}

/// Expands a method's `%` tokens: `%{pg/prop}` (the property's values,
/// space-separated; an unset property is an error naming it), `%s` service,
/// `%i` instance, `%f` FMRI, `%m` method, `%%`.
pub fn expand(text: &str, r: &Resolved, method: &str) -> Result<String, ExecError> {
    let mut out = String::new();
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('%') => out.push('%'),
            Some('s') => out.push_str(&r.fmri.service),
            Some('i') => out.push_str(r.fmri.instance.as_deref().unwrap_or("")),
            Some('f') => out.push_str(&r.fmri.to_string()),
            Some('m') => out.push_str(method),
            Some('{') => {
                let mut name = String::new();
                loop {
                    match it.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err(ExecError::TokenNotClosed(name)),
                    }
                }
                let (g, p) = split_prop(&name).map_err(ExecError::PropName)?;
                let prop = r.prop(g, p).ok_or_else(|| ExecError::NoProperty {
                    fmri: r.fmri.clone(),
                    name: name.clone(),
                })?;
                out.push_str(&prop.values.join(" "));
            }
            Some(o) => return Err(ExecError::UnknownToken(o)),
            None => return Err(ExecError::TrailingPercent),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell_would_without_one() {
        assert_eq!(
            split_command(r#"/usr/sbin/xenstored -N --entry-nb 'a b' "c \"d\"" e\ f"#),
            Ok(vec![
                "/usr/sbin/xenstored".to_string(),
                "-N".into(),
                "--entry-nb".into(),
                "a b".into(),
                "c \"d\"".into(),
                "e f".into()
            ])
        );
        assert!(split_command("a 'b").is_err());
        assert!(split_command("   ").is_err());
    }
}
