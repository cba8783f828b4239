//! A unit being written, one checked line at a time, and the values that
//! go on its lines: unit names, capability names, command lines.

use privlib::caps::{CAP_NAMES, CapMask};

use super::error::{LineProblem, UnitError};
use crate::fmri::Fmri;
use crate::manifest::{Resolved, expand, split_command};

/// Where exported units find the programs (`--bindir`).
pub const DEFAULT_BINDIR: &str = "/usr/lib/xvm/bin";

/// The unit name of an instance: `xvm-store.service`.
pub fn unit_name(fmri: &Fmri) -> String {
    format!("xvm-{}.service", fmri.short())
}

pub(super) fn unit_of(dep: &str) -> Option<String> {
    let f = Fmri::parse(dep).ok()?;
    let f = if f.instance.is_none() {
        Fmri::instance(&f.service, "default")
    } else {
        f
    };
    Some(unit_name(&f))
}

pub(super) fn cap_names(m: CapMask) -> String {
    CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| u8::try_from(*i).is_ok_and(|c| m.has(c)))
        .map(|(_, n)| n.to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command line with its program made absolute.
pub(super) fn command(
    r: &Resolved,
    method: &str,
    text: &str,
    bindir: &str,
) -> Result<String, UnitError> {
    let expanded = expand(text, r, method).map_err(UnitError::Command)?;
    let mut words = split_command(&expanded).map_err(UnitError::Command)?;
    if !words[0].starts_with('/') {
        words[0] = format!("{bindir}/{}", words[0]);
    }
    Ok(words
        .iter()
        .map(|w| {
            if w.chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '\'' | '$' | '%' | ';'))
            {
                format!(
                    "\"{}\"",
                    w.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('$', "$$")
                        .replace('%', "%%")
                )
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// A unit being written, line by line.
pub(super) struct Unit {
    pub(super) fmri: String,
    pub(super) text: String,
}

impl Unit {
    /// Adds `l`, or refuses it if it would not stay one line of the unit
    /// as systemd reads it: a value from the manifest must never start a
    /// directive of its own (the unit runs as root) nor join the next.
    pub(super) fn line(&mut self, l: &str) -> Result<(), UnitError> {
        if let Err(why) = one_line(l) {
            let what = match l.split_once('=') {
                Some((key, _)) if !l.starts_with('#') => format!("{key}="),
                _ => "a comment".into(),
            };
            return Err(UnitError::Line {
                fmri: self.fmri.clone(),
                what,
                line: l.to_string(),
                why,
            });
        }
        self.text.push_str(l);
        self.text.push('\n');
        Ok(())
    }
}

/// Why `l` is not one line of a unit file. systemd ends a line at `\n`,
/// `\r` or NUL, and joins a line that ends in `\` to the next one (a value
/// could so swallow `CapabilityBoundingSet=`, say); other control
/// characters have no business in a unit either.
pub(super) fn one_line(l: &str) -> Result<(), LineProblem> {
    if let Some(c) = l.chars().find(|c| c.is_control()) {
        return Err(LineProblem::Control(u32::from(c)));
    }
    if l.ends_with('\\') {
        return Err(LineProblem::Continuation);
    }
    Ok(())
}

pub(super) fn prop_str<'a>(r: &'a Resolved, pg: &str, p: &str) -> Option<&'a str> {
    r.prop(pg, p)
        .and_then(|p| p.values.first())
        .map(String::as_str)
}

pub(super) fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        n => n.to_string(),
    }
}
