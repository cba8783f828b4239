//! xend's request lines: `xend::rpc::next_request` on a unix socket, then
//! `xend::rpc::decode`, as xend serves a connection.
//!
//! The input is `[cut, pad, stream...]`: the peer sends spaces (JSON
//! whitespace, so a request still decodes) in one write, then the stream
//! in writes of `cut` + 1 bytes, and closes. `pad` below 240 is that many spaces;
//! 240 to 255 are 8 KiB below `MAX_LINE` and up in steps of 1 KiB, across
//! the bound (kept rare: a quarter of a megabyte per run is slow). What
//! must hold:
//! - `next_request` gives a line only when the stream starts with it and a
//!   newline, and shorter than `MAX_LINE`; nothing only for an empty
//!   stream; a stream that is one line ending in a newline, within the
//!   bound, is that line; one with no newline is an error;
//! - while it reads, `next_request` holds at most `MAX_LINE` + 1 bytes
//!   (twice that for the moment its buffer grows and is copied);
//! - `decode` gives only version 2.0 requests, which encode and decode
//!   back to the same method, params and id (floats aside); its errors are
//!   `INVALID_REQUEST` or `PARSE_ERROR` with a message of bounded length,
//!   whatever the line; what it holds while decoding is bounded by a fixed
//!   multiple of the line (`AMPLIFY`).
#![no_main]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use xend::api::{INVALID_REQUEST, PARSE_ERROR};
use xend::rpc::{self, MAX_LINE, Undecodable};
use xvm_fuzz::Counting;

#[global_allocator]
static ALLOC: Counting = Counting::new();

/// What a thread start and the test harness may allocate meanwhile.
const SLACK: usize = 64 * 1024;
/// The most `decode` may hold per byte of line: a JSON array of small
/// numbers (`0,` for each 32-byte `Value`, in a `Vec` that may double);
/// objects and arrays, which cost far more (`{"":0}` is a map node), are
/// bounded in number by `rpc::MAX_CONTAINERS`, and their cost is in
/// `SLACK`.
const AMPLIFY: usize = 33;
/// The longest error message `decode` may give.
const MESSAGE_MAX: usize = 512;

fn read_line_ok(full: &[u8], got: &Result<Option<Vec<u8>>, String>) {
    let newline = full.iter().position(|b| *b == b'\n');
    match got {
        Ok(None) => assert!(full.is_empty(), "nothing read from {} bytes", full.len()),
        Ok(Some(l)) => {
            assert!(l.len() < MAX_LINE, "a line of {} bytes", l.len());
            assert_eq!(newline, Some(l.len()), "the line is not the stream's first");
            assert_eq!(&full[..l.len()], &l[..]);
        }
        Err(e) => {
            assert!(!full.is_empty(), "{e} for an empty stream");
            if let Some(i) = newline {
                assert!(
                    i + 1 != full.len() || full.len() > MAX_LINE,
                    "one line of {} bytes refused: {e}",
                    full.len()
                );
            }
        }
    }
    if newline.is_none() && !full.is_empty() {
        assert!(got.is_err(), "a stream with no newline gave {got:?}");
    }
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

fn decode_ok(line: &[u8]) {
    let base = ALLOC.live();
    ALLOC.reset_peak();
    let got = rpc::decode(line);
    let held = ALLOC.peak().saturating_sub(base);
    assert!(
        held <= AMPLIFY * line.len() + SLACK,
        "decode held {held} bytes for a line of {}",
        line.len()
    );
    match got {
        Ok(req) => {
            assert_eq!(req.jsonrpc, "2.0");
            let again = serde_json::to_vec(&req).expect("a request encodes");
            let back = rpc::decode(&again).expect("an encoded request decodes");
            assert_eq!(back.method, req.method);
            // serde_json (without its float_roundtrip feature) may read a
            // long decimal as the float next to the nearest: only values
            // without floats are compared whole. xend reads only strings.
            if !has_float(&req.params) && !req.id.as_ref().is_some_and(has_float) {
                assert_eq!((&back.params, &back.id), (&req.params, &req.id));
            }
        }
        Err(e) => {
            assert!(
                [INVALID_REQUEST, PARSE_ERROR].contains(&e.error().code),
                "{e:?}"
            );
            assert!(
                e.error().message.len() <= MESSAGE_MAX,
                "an error message of {} bytes",
                e.error().message.len()
            );
            if let Undecodable::NotARequest(_) = e {
                assert!(e.id().is_null());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [cut, pad, stream @ ..] = data else {
        return;
    };
    let pad = match *pad {
        p @ 0..240 => usize::from(p),
        p => MAX_LINE - 8192 + usize::from(p - 240) * 1024,
    };
    let mut full = vec![b' '; pad];
    full.extend_from_slice(stream);
    let chunk = usize::from(*cut) + 1;
    let (theirs, ours) = UnixStream::pair().expect("socketpair");

    let got = std::thread::scope(|s| {
        let full = &full;
        s.spawn(move || {
            let mut theirs = theirs;
            let (spaces, stream) = full.split_at(pad);
            if theirs.write_all(spaces).is_err() {
                return;
            }
            for piece in stream.chunks(chunk) {
                if theirs.write_all(piece).is_err() {
                    break;
                }
            }
        });
        let base = ALLOC.live();
        ALLOC.reset_peak();
        let got = rpc::next_request(&mut rpc::line_reader(&ours)).map_err(|e| e.to_string());
        let held = ALLOC.peak().saturating_sub(base);
        assert!(
            held <= 2 * (MAX_LINE + 1) + SLACK,
            "read_line held {held} bytes"
        );
        // Take the rest, so the writer never meets a closed socket.
        let mut rest = Vec::new();
        let _ = (&ours).read_to_end(&mut rest);
        got
    });
    read_line_ok(&full, &got);

    // What xend decodes: the line read, or (to reach decode with the
    // whole input also when read_line refused it) the stream's first line.
    let line = match &got {
        Ok(Some(l)) => l.as_slice(),
        _ => full.split(|b| *b == b'\n').next().unwrap_or(&[]),
    };
    decode_ok(&line[..line.len().min(MAX_LINE)]);
});
