//! virtd's wire: `virtd::packet::read_packet` over a stream of packets,
//! as a connection reads them, then `virtd::xdr::Dec` over each body in
//! the shapes the procedures' arguments take (`remote_nonnull_domain`,
//! names, optional strings, UUIDs, flags, a domain XML).
//!
//! The input is the stream. What must hold:
//! - a packet read is the stream's next bytes: it encodes back to exactly
//!   them, and its body is at most `MAX_BODY`; a length word outside
//!   28..=`MAX_PACKET` is refused before anything is allocated for it;
//! - what reading holds is bounded by the packet bound (the declared
//!   length is allocated once, then the body copied), whatever the
//!   stream declares;
//! - a body that decodes in a shape, with nothing left over, encodes
//!   back in that shape to the same bytes (XDR has one encoding: padding
//!   must be zero, bools 0 or 1), and no decoded string is past its bound;
//! - a domain XML that decodes is read by `virtd::xml::parse` without a
//!   panic (its own target, virtd_xml, says more).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use virtd::packet::{MAX_BODY, MAX_PACKET, read_packet};
use virtd::remote::types::{DomainRef, MAX_NAME, MAX_STRING, MAX_XML};
use virtd::xdr::{Dec, Enc, XdrError};
use xvm_fuzz::Counting;

#[global_allocator]
static ALLOC: Counting = Counting::new();

/// What the harness may hold meanwhile.
const SLACK: usize = 64 * 1024;
/// The most packets read from one input.
const MAX_PACKETS: usize = 64;

/// Decodes `body` as one shape and encodes what it got again; `None` if
/// it did not decode whole.
fn shape(body: &[u8], which: u8) -> Option<Vec<u8>> {
    let mut d = Dec::new(body);
    let mut e = Enc::new();
    let got: Result<(), XdrError> = (|| {
        match which % 7 {
            // DOMAIN_GET_INFO and friends: a domain.
            0 => DomainRef::decode(&mut d)?.encode(&mut e),
            // DESTROY_FLAGS, UNDEFINE_FLAGS, ...: a domain and flags.
            1 => {
                let r = DomainRef::decode(&mut d)?;
                assert!(r.name.len() <= MAX_NAME);
                r.encode(&mut e);
                e.u32(d.u32("flags")?);
            }
            // LOOKUP_BY_NAME: a name.
            2 => {
                let s = d.string("name", MAX_NAME)?;
                assert!(s.len() <= MAX_NAME);
                e.string(s);
            }
            // CONNECT_OPEN: an optional name and flags.
            3 => {
                let s = d.opt_string("name", MAX_STRING)?;
                assert!(s.is_none_or(|s| s.len() <= MAX_STRING));
                e.opt_string(s);
                e.u32(d.u32("flags")?);
            }
            // LOOKUP_BY_UUID: 16 bytes.
            4 => {
                e.fixed(d.fixed("uuid", 16)?);
            }
            // LIST_ALL_DOMAINS: need_results, flags; GET_INFO's reply too.
            5 => {
                e.i32(d.i32("need_results")?);
                e.u32(d.u32("flags")?);
                e.bool(d.bool("more")?);
                e.u64(d.u64("cpu_time")?);
            }
            // DEFINE_XML_FLAGS: a domain XML and flags.
            _ => {
                let x = d.string("xml", MAX_XML)?;
                assert!(x.len() <= MAX_XML);
                let _ = virtd::xml::parse(x);
                e.string(x);
                e.u32(d.u32("flags")?);
            }
        }
        d.finish("args")
    })();
    got.ok().map(|()| e.into_bytes())
}

fuzz_target!(|data: &[u8]| {
    let mut r = Cursor::new(data);
    for _ in 0..MAX_PACKETS {
        let at = usize::try_from(r.position()).expect("position");
        ALLOC.reset_peak();
        let before = ALLOC.live();
        let got = read_packet(&mut r);
        let held = ALLOC.peak() - before;
        assert!(
            held <= 2 * MAX_PACKET + SLACK,
            "reading one packet held {held} bytes"
        );
        let p = match got {
            Ok(Some(p)) => p,
            Ok(None) => {
                assert_eq!(at, data.len(), "nothing read before the end");
                break;
            }
            Err(_) => break,
        };
        let end = usize::try_from(r.position()).expect("position");
        assert!(p.body.len() <= MAX_BODY);
        assert_eq!(p.encode(), &data[at..end], "the packet is not its bytes");
        for which in 0..7 {
            if let Some(again) = shape(&p.body, which) {
                assert_eq!(again, p.body, "shape {which} did not encode back");
            }
        }
    }
});
