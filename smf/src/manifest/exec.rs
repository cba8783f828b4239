//! What a method runs: `exec` read into an [`Exec`], command lines split
//! into words (no shell runs the methods) and their `%` tokens expanded.

use super::model::Exec;
use super::property::split_prop;
use super::resolve::Resolved;

/// Reads `exec`: `:kill`, `:kill -SIGNAL`, `:true`, or a command line.
pub fn parse_exec(text: &str) -> Result<Exec, String> {
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
            .ok_or_else(|| format!("exec=\"{text}\": :kill takes -SIGNAL"))?;
        return signal(sig)
            .map(Exec::Kill)
            .ok_or_else(|| format!("exec=\"{text}\": no signal \"{sig}\""));
    }
    if t.starts_with(':') {
        return Err(format!(
            "exec=\"{text}\": the only special methods are :kill and :true"
        ));
    }
    if t.is_empty() {
        return Err("exec is empty".into());
    }
    split_command(t).map_err(|e| format!("exec=\"{text}\": {e}"))?;
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
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
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
                            cur.push(it.next().ok_or("a \\ ends the line")?);
                        }
                        Some(o) => cur.push(o),
                        None => return Err(format!("unclosed {c}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(it.next().ok_or("a \\ ends the line")?);
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
        return Err("no command".into());
    }
    Ok(words)
}

/// Expands a method's `%` tokens: `%{pg/prop}` (the property's values,
/// space-separated; an unset property is an error naming it), `%s` service,
/// `%i` instance, `%f` FMRI, `%m` method, `%%`.
pub fn expand(text: &str, r: &Resolved, method: &str) -> Result<String, String> {
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
                        None => return Err(format!("%{{{name} is not closed")),
                    }
                }
                let (g, p) = split_prop(&name)?;
                let prop = r
                    .prop(g, p)
                    .ok_or_else(|| format!("%{{{name}}}: {} has no property {name}", r.fmri))?;
                out.push_str(&prop.values.join(" "));
            }
            Some(o) => return Err(format!("unknown token %{o}")),
            None => return Err("a % ends the line".into()),
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
