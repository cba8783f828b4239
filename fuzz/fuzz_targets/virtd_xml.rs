//! libvirt's domain XML as virtd reads it: `virtd::xml::parse`, then
//! `virtd::xml::write`.
//!
//! The input is the XML's text (bytes not UTF-8 are replaced: the
//! protocol's strings are UTF-8). What must hold:
//! - an error is `domain XML line L, column C: WHAT: WHY`, its place is
//!   in the text (a character of it, or just past the end of a line);
//! - a definition read writes as XML that reads back to the same
//!   definition (with and without a running domain's id), and writes the
//!   same again: `virsh dumpxml` output that `virsh define` accepts
//!   unchanged;
//! - what parsing holds is bounded by a fixed multiple of the text
//!   (roxmltree's nodes, bounded in number by `MAX_NODES`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtd::xml::{MAX_XML, Why, parse, write};
use xvm_fuzz::{Counting, inside};

#[global_allocator]
static ALLOC: Counting = Counting::new();

/// What the harness and roxmltree's fixed tables may hold.
const SLACK: usize = 256 * 1024;
/// The most held per byte of text (a node is about 100 bytes; the
/// smallest element, `<a/>`, is 4).
const AMPLIFY: usize = 64;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    ALLOC.reset_peak();
    let before = ALLOC.live();
    let got = parse(&text);
    let held = ALLOC.peak() - before;
    assert!(
        held <= AMPLIFY * text.len() + SLACK,
        "{held} bytes held reading {} bytes",
        text.len()
    );
    match got {
        Err(e) => {
            let shown = e.to_string();
            let head = format!("domain XML line {}, column {}: ", e.line, e.column);
            assert!(shown.starts_with(&head), "{shown}");
            if !matches!(e.why, Why::TooLong { .. }) {
                assert!(
                    inside(&text, e.line as usize, e.column as usize),
                    "error outside the text: {shown}"
                );
            } else {
                assert!(text.len() > MAX_XML);
            }
        }
        Ok(def) => {
            for id in [None, Some(3)] {
                let x = write(&def, id);
                let back = parse(&x).unwrap_or_else(|e| panic!("{e} in what write gave:\n{x}"));
                assert_eq!(back, def, "written as\n{x}");
                assert_eq!(write(&back, id), x, "written twice differently");
            }
        }
    }
});
