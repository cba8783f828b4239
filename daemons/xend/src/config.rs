//! Domain configurations in xl.cfg(5) syntax.
//!
//! `KEY = VALUE` statements, ended by a newline or `;`; values are strings
//! (`"..."` or `'...'`, with C escapes), integers (decimal or `0x`), or
//! lists `[ v, v, ... ]` that may span lines; `KEY += VALUE` appends to a
//! list; `#` starts a comment. A syntax error names file, line and column.
//! Keys this stack does not act on are reported by name (with their
//! place), never dropped silently; a PV guest is refused with a clear
//! message, as only HVM guests run here.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A config that cannot be used: `FILE:LINE:COLUMN: why`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {why}", file.display(), pos.line, pos.column)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub why: String,
}

/// A value as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A list.
    List(Vec<(Value, Pos)>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(&quoted(s)),
            Value::Int(i) => write!(f, "{i}"),
            Value::List(v) => {
                write!(f, "[ ")?;
                for (i, (x, _)) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, " ]")
            }
        }
    }
}

/// `s` as a double-quoted string this module's lexer reads back as `s`:
/// `\`, `"`, newline, tab and carriage return are escaped, so what is
/// printed never ends the string or the line early. Any other control
/// character (which [`parse`] refuses in every value it acts on) is
/// printed as `\u{..}`, an escape the lexer refuses: such a string reads
/// back as an error, never as something else.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Longest config file read.
pub const MAX_FILE: usize = 1 << 20;

struct Lexer<'a> {
    text: &'a [u8],
    at: usize,
    line: u32,
    column: u32,
    file: &'a Path,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Eq,
    PlusEq,
    Open,
    Close,
    Comma,
    End,
    Eof,
}

impl<'a> Lexer<'a> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn err(&self, pos: Pos, why: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            pos,
            why: why.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if c & 0xc0 != 0x80 {
            self.column += 1;
        }
        Some(c)
    }

    /// The next token and where it starts; newlines count only when
    /// `newlines` (inside a list they do not end anything).
    fn next(&mut self, newlines: bool) -> Result<(Tok, Pos), ConfigError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r') => {
                    self.bump();
                }
                Some(b'\n') if !newlines => {
                    self.bump();
                }
                Some(b'#') => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        let pos = self.pos();
        let Some(c) = self.bump() else {
            return Ok((Tok::Eof, pos));
        };
        let tok = match c {
            b'\n' | b';' => Tok::End,
            b'=' => Tok::Eq,
            b'+' if self.peek() == Some(b'=') => {
                self.bump();
                Tok::PlusEq
            }
            b'[' => Tok::Open,
            b']' => Tok::Close,
            b',' => Tok::Comma,
            b'"' | b'\'' => Tok::Str(self.string(c, pos)?),
            b'0'..=b'9' | b'-' => {
                let start = self.at - 1;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.bump();
                }
                let word = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
                let n = if let Some(h) = word.strip_prefix("0x") {
                    i64::from_str_radix(h, 16).ok()
                } else {
                    word.parse::<i64>().ok()
                };
                Tok::Int(n.ok_or_else(|| self.err(pos, format!("\"{word}\" is not a number")))?)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.at - 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.bump();
                }
                Tok::Ident(String::from_utf8_lossy(&self.text[start..self.at]).into_owned())
            }
            other => {
                return Err(self.err(
                    pos,
                    format!(
                        "unexpected character '{}'",
                        char::from(other).escape_default()
                    ),
                ));
            }
        };
        Ok((tok, pos))
    }

    fn string(&mut self, quote: u8, start: Pos) -> Result<String, ConfigError> {
        let mut out = Vec::new();
        loop {
            let pos = self.pos();
            match self.bump() {
                None | Some(b'\n') => return Err(self.err(start, "string not closed on its line")),
                Some(c) if c == quote => break,
                Some(b'\\') => {
                    let e = self
                        .bump()
                        .ok_or_else(|| self.err(pos, "\\ ends the file"))?;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'\\' | b'"' | b'\'' => e,
                        _ => {
                            return Err(self.err(
                                pos,
                                format!("unknown escape \\{}", char::from(e).escape_default()),
                            ));
                        }
                    });
                }
                Some(c) => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err(start, "string is not UTF-8"))
    }
}

/// Every statement, in order: key, value, where the key is.
pub fn parse_statements(file: &Path, text: &str) -> Result<Vec<(String, Value, Pos)>, ConfigError> {
    let mut lx = Lexer {
        text: text.as_bytes(),
        at: 0,
        line: 1,
        column: 1,
        file,
    };
    let mut out: Vec<(String, Value, Pos)> = Vec::new();
    loop {
        let (tok, pos) = lx.next(true)?;
        let key = match tok {
            Tok::Eof => return Ok(out),
            Tok::End => continue,
            Tok::Ident(k) => k,
            t => return Err(lx.err(pos, format!("expected a key, found {}", show(&t)))),
        };
        let (op, opos) = lx.next(true)?;
        let append = match op {
            Tok::Eq => false,
            Tok::PlusEq => true,
            t => return Err(lx.err(opos, format!("expected = after {key}, found {}", show(&t)))),
        };
        let value = value(&mut lx)?;
        let (end, epos) = lx.next(true)?;
        if !matches!(end, Tok::End | Tok::Eof) {
            return Err(lx.err(
                epos,
                format!("expected the end of the line, found {}", show(&end)),
            ));
        }
        if append {
            let Some((_, Value::List(have), _)) = out.iter_mut().rev().find(|(k, _, _)| *k == key)
            else {
                return Err(lx.err(pos, format!("{key} += needs an earlier list {key} = [...]")));
            };
            match value {
                Value::List(more) => have.extend(more),
                v => have.push((v, opos)),
            }
        } else {
            out.retain(|(k, _, _)| *k != key);
            out.push((key, value, pos));
        }
        if end == Tok::Eof {
            return Ok(out);
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("\"{s}\""),
        Tok::Str(_) => "a string".into(),
        Tok::Int(_) => "a number".into(),
        Tok::Eq => "=".into(),
        Tok::PlusEq => "+=".into(),
        Tok::Open => "[".into(),
        Tok::Close => "]".into(),
        Tok::Comma => ",".into(),
        Tok::End => "the end of the line".into(),
        Tok::Eof => "the end of the file".into(),
    }
}

fn value(lx: &mut Lexer<'_>) -> Result<Value, ConfigError> {
    let (tok, pos) = lx.next(true)?;
    match tok {
        Tok::Str(s) => Ok(Value::Str(s)),
        Tok::Int(i) => Ok(Value::Int(i)),
        Tok::Open => {
            let mut items = Vec::new();
            loop {
                let (t, p) = lx.next(false)?;
                match t {
                    Tok::Close => return Ok(Value::List(items)),
                    Tok::Eof => return Err(lx.err(pos, "this [ is never closed")),
                    Tok::Str(s) => items.push((Value::Str(s), p)),
                    Tok::Int(i) => items.push((Value::Int(i), p)),
                    t => {
                        return Err(lx.err(p, format!("expected a value or ], found {}", show(&t))));
                    }
                }
                let (t, p) = lx.next(false)?;
                match t {
                    Tok::Eof => return Err(lx.err(pos, "this [ is never closed")),
                    Tok::Comma => {}
                    Tok::Close => return Ok(Value::List(items)),
                    t => return Err(lx.err(p, format!("expected , or ], found {}", show(&t)))),
                }
            }
        }
        t => Err(lx.err(pos, format!("expected a value, found {}", show(&t)))),
    }
}

/// What happens when a guest powers off, reboots or crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The domain goes away.
    Destroy,
    /// It starts again.
    Restart,
    /// It is kept, stopped, for inspection.
    Preserve,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "destroy" => Action::Destroy,
            "restart" => Action::Restart,
            "preserve" => Action::Preserve,
            _ => return None,
        })
    }

    /// Its xl.cfg spelling.
    pub fn name(self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Restart => "restart",
            Action::Preserve => "preserve",
        }
    }
}

/// A disk image format qemu is told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Raw bytes.
    Raw,
    /// qcow2.
    Qcow2,
}

impl Format {
    /// Every format, for messages.
    pub const ALL: [Format; 2] = [Format::Raw, Format::Qcow2];

    /// Its name in a disk spec and on qemu's command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }

    /// The format `name` names (`""` is raw, as in xl.cfg).
    pub fn from_name(name: &str) -> Option<Format> {
        if name.is_empty() {
            return Some(Format::Raw);
        }
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// One disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// The image (a file or block device).
    pub target: PathBuf,
    /// Its format.
    pub format: Format,
    /// The guest's name for it (`hda`, `xvda`, ...).
    pub vdev: String,
    /// Read-only.
    pub read_only: bool,
    /// A CD-ROM.
    pub cdrom: bool,
}

/// A domain's configuration, as this stack runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// `name`.
    pub name: String,
    /// `uuid`, if given.
    pub uuid: Option<String>,
    /// `memory`, in MiB.
    pub memory_mib: u64,
    /// `vcpus`.
    pub vcpus: u32,
    /// `disk`.
    pub disks: Vec<Disk>,
    /// `serial`: `pty` (the console daemon's), or `none`.
    pub serial: String,
    /// `vnc`.
    pub vnc: bool,
    /// `vnclisten` (`127.0.0.1`, or an address the administrator chose),
    /// kept for the console gates; VNC is served on the domain's unix
    /// socket.
    pub vnclisten: String,
    /// `vncdisplay`, if fixed.
    pub vncdisplay: Option<u32>,
    /// `on_poweroff`.
    pub on_poweroff: Action,
    /// `on_reboot`.
    pub on_reboot: Action,
    /// `on_crash`.
    pub on_crash: Action,
    /// Keys present but not acted on here, with where they are.
    pub unsupported: Vec<(String, Pos)>,
}

/// Keys xl.cfg has that this stack knows it does not act on (they are
/// reported, not refused).
const KNOWN_UNSUPPORTED: &[&str] = &[
    "vif",
    "sdl",
    "maxmem",
    "maxvcpus",
    "cpus",
    "pci",
    "usb",
    "usbdevice",
    "boot",
    "kernel",
    "ramdisk",
    "extra",
    "bootloader",
    "acpi",
    "apic",
    "pae",
    "viridian",
    "videoram",
    "vga",
    "stdvga",
    "soundhw",
    "localtime",
    "nographic",
    "keymap",
    "device_model_version",
    "device_model_override",
    "seclabel",
    "vtpm",
    "vfb",
    "channel",
    "rdm",
    "shadow_memory",
    "hap",
    "nestedhvm",
    "cpuid",
    "timer_mode",
    "hpet",
    "xen_platform_pci",
    "tsc_mode",
];

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Str(s) => s.trim().parse().ok(),
        Value::List(_) => None,
    }
}

fn as_text(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// The IDE slot (0 to 3) a vdev names: `hda`..`hdd`, `sda`..`sdd`,
/// `xvda`..`xvdd`.
pub fn ide_index(vdev: &str) -> Option<usize> {
    let letter = vdev
        .strip_prefix("xvd")
        .or_else(|| vdev.strip_prefix("hd"))
        .or_else(|| vdev.strip_prefix("sd"))?;
    match letter {
        "a" => Some(0),
        "b" => Some(1),
        "c" => Some(2),
        "d" => Some(3),
        _ => None,
    }
}

/// Reads a disk spec: positional `target,format,vdev,access` or the
/// `key=value` form (`target=` last, as it may hold commas).
pub fn parse_disk(spec: &str) -> Result<Disk, String> {
    let mut target = None;
    let mut format = Format::Raw;
    let mut vdev = None;
    let mut read_only = false;
    let mut cdrom = false;
    let mut positional = 0;
    let mut rest = spec.trim();
    while !rest.is_empty() {
        if let Some(t) = rest.strip_prefix("target=") {
            target = Some(t.trim().to_string());
            break;
        }
        let (item, more) = rest.split_once(',').unwrap_or((rest, ""));
        rest = more.trim_start();
        let item = item.trim();
        // Bare keywords are flags, never positional parts.
        if item == "cdrom" {
            cdrom = true;
            continue;
        }
        let (key, val) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => {
                positional += 1;
                match positional {
                    1 => ("target", item),
                    2 => ("format", item),
                    3 => ("vdev", item),
                    4 => ("access", item),
                    _ => return Err(format!("disk \"{spec}\": too many positional parts")),
                }
            }
        };
        match key {
            "target" => target = Some(val.to_string()),
            "format" => {
                format = match val {
                    "raw" | "" => Format::Raw,
                    "qcow2" => Format::Qcow2,
                    o => {
                        return Err(format!(
                            "disk \"{spec}\": format {o} is not supported (raw, qcow2)"
                        ));
                    }
                }
            }
            "vdev" => {
                // The legacy `hdc:cdrom` spelling.
                let (v, kind) = val.split_once(':').unwrap_or((val, ""));
                match kind {
                    "" => {}
                    "cdrom" => cdrom = true,
                    "disk" => {}
                    o => {
                        return Err(format!(
                            "disk \"{spec}\": vdev {val}: {o} is not disk or cdrom"
                        ));
                    }
                }
                vdev = Some(v.to_string());
            }
            "access" => {
                read_only = match val {
                    "ro" | "r" => true,
                    "rw" | "w" | "" => false,
                    o => return Err(format!("disk \"{spec}\": access {o}: ro or rw")),
                }
            }
            "devtype" => {
                cdrom = match val {
                    "cdrom" => true,
                    "disk" | "" => false,
                    o => return Err(format!("disk \"{spec}\": devtype {o}: disk or cdrom")),
                }
            }
            k => return Err(format!("disk \"{spec}\": {k} is not supported")),
        }
    }
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("disk \"{spec}\": no target"))?;
    let vdev = vdev.ok_or_else(|| format!("disk \"{spec}\": no vdev"))?;
    ide_index(&vdev).ok_or_else(|| {
        format!("disk \"{spec}\": vdev {vdev}: the emulated IDE controller has hda to hdd (or xvda/sda to xvdd/sdd)")
    })?;
    if cdrom {
        read_only = true;
    }
    Ok(Disk {
        target: PathBuf::from(target),
        format,
        vdev,
        read_only,
        cdrom,
    })
}

/// The first control character in `s` (C0, DEL or C1), if any.
fn control(s: &str) -> Option<char> {
    s.chars().find(|ch| ch.is_control())
}

/// Checks a `vnclisten` value in full: `HOST` or `HOST:PORT`, where
/// `HOST` is an IPv4 address, `localhost`, or an IPv6 address in
/// brackets (`[::1]`), and `PORT` is decimal digits, at most 65535.
fn check_vnclisten(l: &str) -> Result<(), &'static str> {
    let (host_ok, port) = if let Some(rest) = l.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("[ without ]")?;
        (h.parse::<std::net::Ipv6Addr>().is_ok(), after)
    } else {
        let (h, after) = l.find(':').map_or((l, ""), |i| l.split_at(i));
        (
            h == "localhost" || h.parse::<std::net::Ipv4Addr>().is_ok(),
            after,
        )
    };
    if !host_ok {
        return Err("the host is not an IPv4 address, localhost or [IPv6 address]");
    }
    if port.is_empty() {
        return Ok(());
    }
    let digits = port
        .strip_prefix(':')
        .ok_or("the host is not followed by :PORT")?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.parse::<u16>().is_err()
    {
        return Err("the port is not a number from 0 to 65535");
    }
    Ok(())
}

/// Parses a domain config read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<DomainConfig, ConfigError> {
    let stmts = parse_statements(file, text)?;
    let err = |pos: Pos, why: String| ConfigError {
        file: file.to_path_buf(),
        pos,
        why,
    };
    let mut c = DomainConfig {
        name: String::new(),
        uuid: None,
        memory_mib: 128,
        vcpus: 1,
        disks: Vec::new(),
        serial: "pty".into(),
        vnc: false,
        vnclisten: "127.0.0.1".into(),
        vncdisplay: None,
        on_poweroff: Action::Destroy,
        on_reboot: Action::Restart,
        on_crash: Action::Destroy,
        unsupported: Vec::new(),
    };
    let mut name_seen = false;
    let mut hvm = false;
    for (key, v, pos) in &stmts {
        // No value acted on holds a control character: none has any use
        // for one, and each would reach names, paths and the text
        // `to_text` prints. (Keys not acted on are only reported.)
        if !KNOWN_UNSUPPORTED.contains(&key.as_str()) {
            let one = |s: &str, at: Pos| match control(s) {
                Some(ch) => Err(err(
                    at,
                    format!(
                        "{key} {}: a control character (U+{:04X}) has no place in a config value",
                        quoted(s),
                        u32::from(ch)
                    ),
                )),
                None => Ok(()),
            };
            match v {
                Value::Str(s) => one(s, *pos)?,
                Value::Int(_) => {}
                Value::List(items) => {
                    for (item, at) in items {
                        if let Value::Str(s) = item {
                            one(s, *at)?;
                        }
                    }
                }
            }
        }
        let want_str = |what: &str| {
            as_text(v)
                .map(str::to_string)
                .ok_or_else(|| err(*pos, format!("{key} must be a string ({what})")))
        };
        let want_int = |lo: i64, hi: i64| {
            int(v).filter(|i| (lo..=hi).contains(i)).ok_or_else(|| {
                err(
                    *pos,
                    format!("{key} must be a number from {lo} to {hi}, not {v}"),
                )
            })
        };
        match key.as_str() {
            "name" => {
                let n = want_str("the domain's name")?;
                if n.is_empty()
                    || n.len() > 64
                    || !n
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
                {
                    return Err(err(
                        *pos,
                        format!("name \"{n}\": 1 to 64 letters, digits, '-', '_' or '.'"),
                    ));
                }
                c.name = n;
                name_seen = true;
            }
            "type" | "builder" => {
                let t = want_str("hvm")?;
                match t.as_str() {
                    "hvm" => hvm = true,
                    "generic" if key == "builder" => {}
                    "pv" | "pvh" | "linux" => {
                        return Err(err(
                            *pos,
                            format!(
                                "{key} = \"{t}\": PV guests are not supported here; only HVM guests (type = \"hvm\") run under an unprivileged device model"
                            ),
                        ));
                    }
                    o => return Err(err(*pos, format!("{key} = \"{o}\": unknown guest type"))),
                }
            }
            "memory" => c.memory_mib = u64::try_from(want_int(16, 1 << 20)?).unwrap_or(128),
            "vcpus" => c.vcpus = u32::try_from(want_int(1, 128)?).unwrap_or(1),
            "uuid" => {
                let u = want_str("a UUID")?;
                let hex: String = u.chars().filter(|ch| *ch != '-').collect();
                if hex.len() != 32 || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
                    return Err(err(*pos, format!("uuid \"{u}\" is not a UUID")));
                }
                c.uuid = Some(u.to_lowercase());
            }
            "disk" => {
                let Value::List(items) = v else {
                    return Err(err(*pos, "disk must be a list of disk specs".into()));
                };
                for (item, ipos) in items {
                    let spec = as_text(item)
                        .ok_or_else(|| err(*ipos, "a disk spec is a string".into()))?;
                    let disk = parse_disk(spec).map_err(|why| err(*ipos, why))?;
                    if c.disks
                        .iter()
                        .any(|d| ide_index(&d.vdev) == ide_index(&disk.vdev))
                    {
                        return Err(err(
                            *ipos,
                            format!("disk \"{spec}\": another disk has slot {}", disk.vdev),
                        ));
                    }
                    c.disks.push(disk);
                }
            }
            "serial" => {
                let s = match v {
                    Value::List(items) if items.len() == 1 => {
                        as_text(&items[0].0).map(str::to_string)
                    }
                    _ => as_text(v).map(str::to_string),
                }
                .ok_or_else(|| err(*pos, "serial must be a string, such as \"pty\"".into()))?;
                if !matches!(s.as_str(), "pty" | "none") {
                    return Err(err(
                        *pos,
                        format!("serial = \"{s}\": pty (the console daemon's) or none"),
                    ));
                }
                c.serial = s;
            }
            "vnc" => c.vnc = want_int(0, 1)? == 1,
            "vnclisten" => {
                let l = want_str("an address")?;
                check_vnclisten(&l).map_err(|why| {
                    err(
                        *pos,
                        format!("vnclisten {} is not HOST[:PORT]: {why}", quoted(&l)),
                    )
                })?;
                c.vnclisten = l;
            }
            "vncdisplay" => c.vncdisplay = Some(u32::try_from(want_int(0, 99)?).unwrap_or(0)),
            "on_poweroff" | "on_reboot" | "on_crash" => {
                let a = want_str("destroy, restart or preserve")?;
                let act = Action::parse(&a).ok_or_else(|| {
                    err(
                        *pos,
                        format!("{key} = \"{a}\": destroy, restart or preserve"),
                    )
                })?;
                match key.as_str() {
                    "on_poweroff" => c.on_poweroff = act,
                    "on_reboot" if act != Action::Restart => {
                        return Err(err(
                            *pos,
                            format!(
                                "on_reboot = \"{a}\": only restart (qemu resets the guest in place)"
                            ),
                        ));
                    }
                    "on_reboot" => c.on_reboot = act,
                    _ => c.on_crash = act,
                }
            }
            k if KNOWN_UNSUPPORTED.contains(&k) => c.unsupported.push((k.to_string(), *pos)),
            k => {
                return Err(err(*pos, format!("unknown key \"{k}\" (see xl.cfg(5))")));
            }
        }
    }
    if !name_seen {
        return Err(err(Pos { line: 1, column: 1 }, "no name = \"...\"".into()));
    }
    if !hvm {
        return Err(err(
            Pos { line: 1, column: 1 },
            "no type = \"hvm\": PV guests are not supported here; only HVM guests run under an unprivileged device model".into(),
        ));
    }
    Ok(c)
}

/// Reads and parses the config at `path` (at most [`MAX_FILE`] bytes).
pub fn load(path: &Path) -> Result<DomainConfig, ConfigError> {
    let io = |why: String| ConfigError {
        file: path.to_path_buf(),
        pos: Pos { line: 0, column: 0 },
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if meta.len() > MAX_FILE as u64 {
        return Err(io(format!("larger than {MAX_FILE} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
    parse(path, &text)
}

impl DomainConfig {
    /// The config as xl.cfg text (what `xm create -n` prints, and what
    /// xend creates the domain from again on reboot and on a crash with
    /// `on_crash = "restart"`). Every string is printed with [`quoted`],
    /// so for every config [`parse`] returns, parsing this text gives the
    /// same config back (but for the keys not acted on, and `vnclisten`
    /// and `vncdisplay` when VNC is off, which are left out); and whatever
    /// a config holds, no string printed ends early or adds a statement.
    pub fn to_text(&self) -> String {
        let mut t = format!("name = {}\ntype = \"hvm\"\n", quoted(&self.name));
        if let Some(u) = &self.uuid {
            t.push_str(&format!("uuid = {}\n", quoted(u)));
        }
        t.push_str(&format!(
            "memory = {}\nvcpus = {}\n",
            self.memory_mib, self.vcpus
        ));
        if !self.disks.is_empty() {
            let d: Vec<String> = self
                .disks
                .iter()
                .map(|d| {
                    // `target=` last: it takes the rest, commas and all.
                    quoted(&format!(
                        "format={},vdev={},access={}{},target={}",
                        d.format.name(),
                        d.vdev,
                        if d.read_only { "ro" } else { "rw" },
                        if d.cdrom { ",devtype=cdrom" } else { "" },
                        d.target.display()
                    ))
                })
                .collect();
            t.push_str(&format!("disk = [ {} ]\n", d.join(", ")));
        }
        t.push_str(&format!("serial = {}\n", quoted(&self.serial)));
        t.push_str(&format!("vnc = {}\n", u8::from(self.vnc)));
        if self.vnc {
            t.push_str(&format!("vnclisten = {}\n", quoted(&self.vnclisten)));
            if let Some(d) = self.vncdisplay {
                t.push_str(&format!("vncdisplay = {d}\n"));
            }
        }
        t.push_str(&format!(
            "on_poweroff = \"{}\"\non_reboot = \"{}\"\non_crash = \"{}\"\n",
            self.on_poweroff.name(),
            self.on_reboot.name(),
            self.on_crash.name()
        ));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# a test guest
name = "guest1"
type = "hvm"
memory = 64 ; vcpus = 2
uuid = "6F0C9A5E-1D2B-4C3D-9E8F-0123456789AB"
disk = [ '/var/lib/xend/storage/a.img,raw,hda,rw',
         "format=qcow2, vdev=hdb, access=ro, target=/images/b,c.qcow2", ]
disk += [ 'vdev=hdc,devtype=cdrom,target=/images/cd.iso' ]
serial = "pty"
vnc = 1
vnclisten = "127.0.0.1"
on_crash = 'preserve'
vif = [ '' ]
"#;

    #[test]
    fn reads_the_keys_it_runs() {
        let c = parse(Path::new("g.cfg"), GOOD).expect("parses");
        assert_eq!((c.name.as_str(), c.memory_mib, c.vcpus), ("guest1", 64, 2));
        assert_eq!(
            c.uuid.as_deref(),
            Some("6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab")
        );
        assert_eq!(c.disks.len(), 3);
        assert_eq!(
            c.disks[0].target,
            PathBuf::from("/var/lib/xend/storage/a.img")
        );
        assert_eq!(
            (c.disks[1].format, c.disks[1].read_only),
            (Format::Qcow2, true)
        );
        assert_eq!(c.disks[1].target, PathBuf::from("/images/b,c.qcow2"));
        assert!(c.disks[2].cdrom && c.disks[2].read_only);
        assert!(c.vnc);
        assert_eq!(c.on_crash, Action::Preserve);
        assert_eq!(
            c.unsupported,
            vec![(
                "vif".to_string(),
                Pos {
                    line: 13,
                    column: 1
                }
            )]
        );
        // What -n prints parses back to the same.
        let again = parse(Path::new("x"), &c.to_text()).expect("round trip");
        assert_eq!(again.disks, c.disks);
        assert_eq!(again.name, c.name);
    }

    #[test]
    fn disk_flags_and_slots() {
        let d = parse_disk("vdev=hdd,cdrom,target=/i.iso").expect("cdrom flag");
        assert!(d.cdrom && d.read_only && d.target == Path::new("/i.iso"));
        let d = parse_disk("/i.iso,raw,hdc:cdrom,r").expect("legacy cdrom");
        assert!(d.cdrom && d.read_only && d.vdev == "hdc");
        assert!(
            parse_disk("/a,raw,hde,rw")
                .expect_err("slot")
                .contains("hda to hdd")
        );
        let two = "name = \"a\"\ntype = \"hvm\"\ndisk = [ '/a,raw,hda,rw', '/b,raw,xvda,rw' ]\n";
        let e = parse(Path::new("g"), two)
            .expect_err("same slot")
            .to_string();
        assert!(
            e.starts_with("g:3:") && e.contains("another disk has slot xvda"),
            "{e}"
        );
        let e = parse(
            Path::new("g"),
            "name = \"a\"\ntype = \"hvm\"\non_reboot = \"destroy\"\n",
        )
        .expect_err("on_reboot")
        .to_string();
        assert!(
            e.starts_with("g:3:1: on_reboot = \"destroy\": only restart"),
            "{e}"
        );
        // A quote in a path survives the round trip through to_text.
        let q = "name = \"a\"\ntype = \"hvm\"\ndisk = [ \"/x/it's.img,raw,hda,rw\" ]\n";
        let c = parse(Path::new("g"), q).expect("quote");
        let again = parse(Path::new("g"), &c.to_text()).expect("round trip");
        assert_eq!(again.disks[0].target, Path::new("/x/it's.img"));
    }

    #[test]
    fn errors_name_the_place() {
        let cases: [(&str, &str); 9] = [
            (
                "name = \"a\"\ntype = \"hvm\"\nmemory = = 5\n",
                "g:3:10: expected a value, found =",
            ),
            (
                "name = \"a\ntype = \"hvm\"\n",
                "g:1:8: string not closed on its line",
            ),
            (
                "name = \"a\"\ntype = \"hvm\"\ndisk = [ 'x,raw' \n",
                "g:3:8: this [ is never closed",
            ),
            (
                "name = \"a\"\ntype = \"pv\"\n",
                "g:2:1: type = \"pv\": PV guests are not supported here",
            ),
            ("name = \"a\"\n", "g:1:1: no type = \"hvm\""),
            (
                "name = \"a\"\ntype = \"hvm\"\nfrobnicate = 1\n",
                "g:3:1: unknown key \"frobnicate\"",
            ),
            (
                "name = \"a\"\ntype = \"hvm\"\nmemory = 12abc\n",
                "g:3:10: \"12abc\" is not a number",
            ),
            ("name = \"a b\"\ntype = \"hvm\"\n", "g:1:1: name \"a b\""),
            (
                "name = \"a\"\ntype = \"hvm\"\ndisk = [ 'only-a-target' ]\n",
                "g:3:10: disk \"only-a-target\": no vdev",
            ),
        ];
        for (text, want) in cases {
            let e = parse(Path::new("g"), text).expect_err(want).to_string();
            assert!(e.starts_with(want), "want {want}, got {e}");
        }
    }

    const HEAD: &str = "name = \"a\"\ntype = \"hvm\"\n";

    fn refused(text: &str) -> String {
        parse(Path::new("g"), &format!("{HEAD}{text}"))
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn control_characters_are_refused_where_written() {
        // The fuzzer's input: a newline escaped into a disk target.
        let e = refused("disk = [ \"/a\\nb,raw,hda,rw\" ]\n");
        assert!(
            e.starts_with(
                "g:3:10: disk \"/a\\nb,raw,hda,rw\": a control character (U+000A) has no place"
            ),
            "{e}"
        );
        // The error is one line: the newline is shown escaped.
        assert!(!e.contains('\n'), "{e}");
        // A tab, a carriage return, DEL and a C1 control (written raw),
        // in a later item of a list, in a path given as target=.
        for c in ["\\t", "\\r", "\u{7f}", "\u{85}"] {
            let e = refused(&format!(
                "disk = [ '/a,raw,hda,rw',\n  'vdev=hdb,target=/b{c}c' ]\n"
            ));
            assert!(
                e.starts_with("g:4:3: disk ") && e.contains("control character"),
                "{e}"
            );
        }
        // Names, vnclisten and every other value acted on, placed at the key.
        for (text, want) in [
            (
                "name = \"a\\n\"\n",
                "g:3:1: name \"a\\n\": a control character (U+000A)",
            ),
            (
                "vnclisten = \"127.0.0.1\\n\"\n",
                "g:3:1: vnclisten \"127.0.0.1\\n\": a control",
            ),
            (
                "serial = [ \"pty\\r\" ]\n",
                "g:3:12: serial \"pty\\r\": a control",
            ),
            ("memory = \"64\\n\"\n", "g:3:1: memory \"64\\n\": a control"),
            (
                "on_crash = \"restart\\t\"\n",
                "g:3:1: on_crash \"restart\\t\": a control",
            ),
        ] {
            let e = refused(text);
            assert!(e.starts_with(want), "want {want}, got {e}");
        }
        // Keys not acted on are reported, not read: what they hold is no matter.
        let c = parse(Path::new("g"), &format!("{HEAD}extra = \"a\\nb\"\n")).expect("extra");
        assert_eq!(c.unsupported[0].0, "extra");
    }

    #[test]
    fn vnclisten_is_checked_in_full() {
        for good in [
            "127.0.0.1",
            "0.0.0.0:5900",
            "localhost",
            "localhost:0",
            "[::1]",
            "[::1]:65535",
            "[fe80::1]:5",
        ] {
            let c = parse(
                Path::new("g"),
                &format!("{HEAD}vnc = 1\nvnclisten = '{good}'\n"),
            )
            .unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(c.vnclisten, good);
        }
        // The fuzzer's input: a quote after the colon.
        let e = refused("vnc = 1\nvnclisten = \"127.0.0.1:\\\"x\"\n");
        assert!(
            e.starts_with("g:4:1: vnclisten \"127.0.0.1:\\\"x\" is not HOST[:PORT]: the port"),
            "{e}"
        );
        // A quote, then a newline and a statement of the writer's choice.
        let e = refused("vnc = 1\nvnclisten = \"127.0.0.1:\\\"\\non_crash = \\\"restart\"\n");
        assert!(
            e.starts_with("g:4:1: vnclisten ") && e.contains("U+000A"),
            "{e}"
        );
        for bad in [
            "",
            ":5900",
            "127.0.0.1:",
            "127.0.0.1:x",
            "127.0.0.1:5900x",
            "127.0.0.1:5:6",
            "127.0.0.1:65536",
            "127.0.0.1:+5",
            "127.0.0.1:-5",
            "127.0.0.1 ",
            " 127.0.0.1",
            "127.0.0.1/8",
            "01.2.3.4",
            "localhost.",
            "example.org",
            "::1",
            "::1:5900",
            "[::1",
            "[::1]5900",
            "[::1]:",
            "[127.0.0.1]",
            "[fe80::1%eth0]",
            "127.0.0.1:'x",
            "127.0.0.1:\\\\",
        ] {
            let e = refused(&format!("vnclisten = \"{bad}\"\n"));
            assert!(
                e.starts_with("g:3:1: vnclisten ") && e.contains("HOST[:PORT]"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn to_text_reads_back_as_the_same_config() {
        let texts = [
            GOOD,
            // Quotes, backslashes, commas, '=' and non-ASCII in paths,
            // both forms; a cdrom; every key with a value to print.
            concat!(
                "name = 'x.y-z_1'\ntype = 'hvm'\nuuid = '6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab'\n",
                "memory = 0x100\nvcpus = '3'\n",
                "disk = [ \"/x/it's \\\\ \\\"q\\\" .img,qcow2,xvda,w\",\n",
                "  'vdev=hdb, access=ro, target= /y/a,b=c, \\\\\\' é ',\n",
                "  \"/z/\\\"\\\\,raw,sdc:cdrom,rw\", 'devtype=cdrom,vdev=hdd,target=target=t' ]\n",
                "serial = 'none'\nvnc = 1\nvnclisten = '[::1]:5901'\nvncdisplay = 99\n",
                "on_poweroff = 'restart'\non_crash = 'restart'\n",
            ),
            // The fuzzer's seeds for the two holes, made good.
            "name = \"a\"\ntype = \"hvm\"\ndisk = [ \"/a\\\\nb,raw,hda,rw\" ]\n",
            "name = \"a\"\ntype = \"hvm\"\nvnc = 1\nvnclisten = \"localhost:5900\"\n",
        ];
        for text in texts {
            let mut c = parse(Path::new("g"), text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            c.unsupported.clear();
            let printed = c.to_text();
            let again =
                parse(Path::new("p"), &printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
            assert_eq!(again, c, "{printed}");
            assert_eq!(again.to_text(), printed);
        }
        let c = parse(Path::new("g"), texts[1]).expect("parses");
        assert_eq!(c.disks[0].target, Path::new("/x/it's \\ \"q\" .img"));
        assert_eq!(c.disks[1].target, Path::new("/y/a,b=c, \\' é"));
        assert_eq!(c.disks[2].target, Path::new("/z/\"\\"));
        assert_eq!(c.disks[3].target, Path::new("target=t"));
        assert_eq!(c.vnclisten, "[::1]:5901");
    }

    #[test]
    fn to_text_adds_no_statement_whatever_a_config_holds() {
        // Built, not parsed: what parse refuses is still printed escaped.
        let evil = "127.0.0.1:\"\non_crash = \"restart\"\n#";
        let mut c = parse(Path::new("g"), &format!("{HEAD}vnc = 1\n")).expect("parses");
        c.name = format!("a\"\ntype = \"pv{evil}");
        c.vnclisten = evil.into();
        c.serial = format!("pty\u{1}\u{85}\r\t\\{evil}");
        c.disks.push(Disk {
            target: PathBuf::from(format!("/a\nb'\\{evil}")),
            format: Format::Raw,
            vdev: "hda".into(),
            read_only: false,
            cdrom: false,
        });
        let printed = c.to_text();
        // Each statement on its line, no more: the control characters the
        // lexer has no escape for are printed as \u{..}, which it refuses.
        let keys: Vec<&str> = printed
            .lines()
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "type",
                "memory",
                "vcpus",
                "disk",
                "serial",
                "vnc",
                "vnclisten",
                "on_poweroff",
                "on_reboot",
                "on_crash"
            ],
            "{printed}"
        );
        assert!(printed.contains("\\u{1}\\u{85}\\r\\t\\\\"), "{printed}");
        let e = parse_statements(Path::new("p"), &printed)
            .expect_err("\\u")
            .to_string();
        assert!(
            e.starts_with("p:6:") && e.contains("unknown escape \\u"),
            "{e}"
        );
        // Without them every string reads back as it was, and parse
        // refuses the config for the control characters it holds.
        c.serial = format!("pty\r\t\\{evil}");
        let printed = c.to_text();
        let stmts = parse_statements(Path::new("p"), &printed).expect("statements");
        let get = |k: &str| stmts.iter().find(|s| s.0 == k).map(|s| s.1.clone());
        assert_eq!(get("vnclisten"), Some(Value::Str(evil.into())));
        assert_eq!(get("name"), Some(Value::Str(c.name.clone())));
        assert_eq!(get("serial"), Some(Value::Str(c.serial.clone())));
        assert_eq!(get("on_crash"), Some(Value::Str("destroy".into())));
        assert_eq!(stmts.len(), 11);
        let e = parse(Path::new("p"), &printed)
            .expect_err("controls")
            .to_string();
        assert!(
            e.starts_with("p:1:1: name ") && e.contains("control character"),
            "{e}"
        );
    }

    #[test]
    fn values_display_as_the_lexer_reads_them() {
        for s in ["", "a\"b'c\\d\n\t\r é", "[x, y]"] {
            let v = Value::List(vec![(Value::Str(s.into()), Pos { line: 1, column: 1 })]);
            let text = format!("k = {v}\n");
            let stmts = parse_statements(Path::new("v"), &text).expect("reads");
            assert_eq!(stmts[0].1.to_string(), v.to_string());
            let Value::List(items) = &stmts[0].1 else {
                panic!("{text}")
            };
            assert_eq!(items[0].0, Value::Str(s.into()));
        }
    }
}
