//! xl.cfg(5) domain configs: `xend::config::parse_statements` and `parse`.
//!
//! The input is the file's text (bytes not UTF-8 are replaced, as
//! `config::load` would refuse them). What must hold:
//! - an error is `FILE:LINE:COLUMN: why` and its place is in the text
//!   (a character of it, or just past the end of a line);
//! - a key reported as not acted on is placed in the text too (a key
//!   of a `vif` spec, `vif:KEY`, at its spec);
//! - a config that parses prints (`to_text`, what `xm create -n` shows)
//!   as text that parses back to the same config, and prints the same
//!   again; only what `to_text` leaves out may differ: the keys not acted
//!   on, and `vnclisten`/`vncdisplay` when VNC is off.
//!
//! The seeds `known-*.cfg` are what this target found once (fixed in
//! daemons/xend/src/config/): a newline escaped into a disk target, and
//! a `vnclisten` checked only up to its first `:` and printed unescaped,
//! so that `to_text` printed a string not closed on its line, or one
//! ended early by a quote and followed by a statement of the writer's
//! choice. xend creates a domain again from `to_text` on reboot and on
//! `on_crash = "restart"`, so such a domain was lost, or came back with
//! another config. Control characters are now refused in every value
//! acted on, `vnclisten` is checked in full, and `to_text` escapes every
//! string it prints.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xend::config::{self, DomainConfig};
use xvm_fuzz::inside;

const FILE: &str = "guest.cfg";

fn place_ok(text: &str, e: &config::ConfigError) {
    let (line, column) = (e.pos.line as usize, e.pos.column as usize);
    assert!(
        inside(text, line, column),
        "error outside the text: {e} (text {text:?})"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{FILE}:{line}:{column}: ")),
        "{shown}"
    );
}

/// The config as `to_text` keeps it.
fn kept(c: &DomainConfig) -> DomainConfig {
    let mut c = c.clone();
    c.unsupported.clear();
    if !c.vnc {
        c.vnclisten = "127.0.0.1".into();
        c.vncdisplay = None;
    }
    c
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = Path::new(FILE);
    if let Err(e) = config::parse_statements(file, &text) {
        place_ok(&text, &e);
    }
    let c = match config::parse(file, &text) {
        Ok(c) => c,
        Err(e) => return place_ok(&text, &e),
    };
    for (key, pos) in &c.unsupported {
        assert!(
            inside(&text, pos.line as usize, pos.column as usize),
            "{key} placed at {pos:?}, outside the text"
        );
    }
    let printed = c.to_text();
    let again = config::parse(Path::new("printed.cfg"), &printed)
        .unwrap_or_else(|e| panic!("to_text does not parse back: {e}\n{printed}"));
    assert_eq!(
        kept(&c),
        kept(&again),
        "to_text changed the config:\n{printed}"
    );
    assert_eq!(printed, again.to_text(), "to_text is not stable");
});
