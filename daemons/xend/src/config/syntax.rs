//! xl.cfg(5) syntax: `KEY = VALUE` statements, ended by a newline or
//! `;`; values are strings (`"..."` or `'...'`, with C escapes), integers
//! (decimal or `0x`), or lists `[ v, v, ... ]` that may span lines;
//! `KEY += VALUE` appends to a list; `#` starts a comment. Every error
//! names file, line and column ([`SyntaxFault`]). What the keys mean is
//! [`super::domain`]'s.
//!
//! Written by hand, not with a parser crate: the grammar is a dozen
//! tokens, and every refusal must carry its line and column.

use std::fmt;
use std::path::Path;

use super::error::{ConfigError, Pos, SyntaxFault};

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
/// character (which [`super::parse`] refuses in every value it acts on) is
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

    fn err(&self, pos: Pos, fault: SyntaxFault) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            pos,
            fault: fault.into(),
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
                Tok::Int(n.ok_or_else(|| self.err(pos, SyntaxFault::NotANumber(word.to_string())))?)
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
                return Err(self.err(pos, SyntaxFault::UnexpectedChar(char::from(other))));
            }
        };
        Ok((tok, pos))
    }

    fn string(&mut self, quote: u8, start: Pos) -> Result<String, ConfigError> {
        let mut out = Vec::new();
        loop {
            let pos = self.pos();
            match self.bump() {
                None | Some(b'\n') => return Err(self.err(start, SyntaxFault::UnclosedString)),
                Some(c) if c == quote => break,
                Some(b'\\') => {
                    let e = self
                        .bump()
                        .ok_or_else(|| self.err(pos, SyntaxFault::EscapeAtEnd))?;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'\\' | b'"' | b'\'' => e,
                        _ => {
                            return Err(self.err(pos, SyntaxFault::UnknownEscape(char::from(e))));
                        }
                    });
                }
                Some(c) => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| self.err(start, SyntaxFault::NotUtf8(e)))
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
            t => return Err(lx.err(pos, SyntaxFault::ExpectedKey { found: show(&t) })),
        };
        let (op, opos) = lx.next(true)?;
        let append = match op {
            Tok::Eq => false,
            Tok::PlusEq => true,
            t => {
                return Err(lx.err(
                    opos,
                    SyntaxFault::ExpectedEq {
                        key,
                        found: show(&t),
                    },
                ));
            }
        };
        let value = value(&mut lx)?;
        let (end, epos) = lx.next(true)?;
        if !matches!(end, Tok::End | Tok::Eof) {
            return Err(lx.err(epos, SyntaxFault::ExpectedEnd { found: show(&end) }));
        }
        if append {
            let Some((_, Value::List(have), _)) = out.iter_mut().rev().find(|(k, _, _)| *k == key)
            else {
                return Err(lx.err(pos, SyntaxFault::AppendWithoutList(key)));
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
                    Tok::Eof => return Err(lx.err(pos, SyntaxFault::UnclosedList)),
                    Tok::Str(s) => items.push((Value::Str(s), p)),
                    Tok::Int(i) => items.push((Value::Int(i), p)),
                    t => {
                        return Err(lx.err(p, SyntaxFault::ExpectedItem { found: show(&t) }));
                    }
                }
                let (t, p) = lx.next(false)?;
                match t {
                    Tok::Eof => return Err(lx.err(pos, SyntaxFault::UnclosedList)),
                    Tok::Comma => {}
                    Tok::Close => return Ok(Value::List(items)),
                    t => {
                        return Err(
                            lx.err(p, SyntaxFault::ExpectedCommaOrClose { found: show(&t) })
                        );
                    }
                }
            }
        }
        t => Err(lx.err(pos, SyntaxFault::ExpectedValue { found: show(&t) })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> ConfigError {
        parse_statements(Path::new("s"), text).expect_err(text)
    }

    #[test]
    fn statements_read_in_order_with_the_last_of_a_key_kept() {
        let text = "a = 1 ; b = 'x' # c = 2\nb = \"y\"\nl = [ 1,\n 0x10, ]\nl += 'z'\n";
        let s = parse_statements(Path::new("s"), text).expect("reads");
        let keys: Vec<&str> = s.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "l"]);
        assert_eq!(s[1].1, Value::Str("y".into()));
        assert_eq!(s[1].2, Pos { line: 2, column: 1 });
        let Value::List(items) = &s[2].1 else {
            panic!("{:?}", s[2])
        };
        let vals: Vec<&Value> = items.iter().map(|(v, _)| v).collect();
        assert_eq!(
            vals,
            [&Value::Int(1), &Value::Int(16), &Value::Str("z".into())]
        );
        assert_eq!(items[1].1, Pos { line: 4, column: 2 });
    }

    #[test]
    fn each_syntax_error_is_its_fault_at_its_place() {
        let cases = [
            (
                "a = = 1\n",
                1,
                5,
                SyntaxFault::ExpectedValue { found: "=".into() },
            ),
            ("a = 'x\n", 1, 5, SyntaxFault::UnclosedString),
            ("a = [ 1\n", 1, 5, SyntaxFault::UnclosedList),
            ("a = 12abc\n", 1, 5, SyntaxFault::NotANumber("12abc".into())),
            (
                "a = 1 2\n",
                1,
                7,
                SyntaxFault::ExpectedEnd {
                    found: "a number".into(),
                },
            ),
            ("a += 1\n", 1, 1, SyntaxFault::AppendWithoutList("a".into())),
            (
                "= 1\n",
                1,
                1,
                SyntaxFault::ExpectedKey { found: "=".into() },
            ),
            (
                "a 1\n",
                1,
                3,
                SyntaxFault::ExpectedEq {
                    key: "a".into(),
                    found: "a number".into(),
                },
            ),
            (
                "a = [ = ]\n",
                1,
                7,
                SyntaxFault::ExpectedItem { found: "=".into() },
            ),
            (
                "a = [ 1 2 ]\n",
                1,
                9,
                SyntaxFault::ExpectedCommaOrClose {
                    found: "a number".into(),
                },
            ),
            ("a = 'x\\q'\n", 1, 7, SyntaxFault::UnknownEscape('q')),
            ("a = 'x\\", 1, 7, SyntaxFault::EscapeAtEnd),
            ("a = @\n", 1, 5, SyntaxFault::UnexpectedChar('@')),
        ];
        for (text, line, column, want) in cases {
            let e = refused(text);
            assert_eq!(e.pos, Pos { line, column }, "{text:?}: {e}");
            assert!(
                matches!(&e.fault, crate::config::Fault::Syntax(f) if *f == want),
                "{text:?}: {e:?}"
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("s:{line}:{column}: {want}")),
                "{e}"
            );
        }
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
