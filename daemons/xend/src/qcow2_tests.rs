//! qcow2 headers made by the real qemu-img, and hostile ones: each
//! refusal is its typed error, and no input panics.

use std::path::Path;
use std::process::Command;

use super::{Backing, MAGIC, Qcow2Error, needed, parse};
use crate::config::Format;
use crate::scratch::Scratch;

/// qemu-img's output for `args`, or `None` when there is no qemu-img
/// (the hostile-header tests below need none).
fn qemu_img(args: &[&str]) -> Option<()> {
    let out = Command::new("qemu-img").args(args).output().ok()?;
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

fn header_of(path: &Path) -> Result<super::Header, Qcow2Error> {
    let b = std::fs::read(path).expect("image");
    let n = needed(&b[..b.len().min(72)])?;
    parse(&b[..b.len().min(n)])
}

#[test]
fn qemu_imgs_overlay_names_its_backing_file_and_format() {
    let dir = Scratch::new("qcow2-overlay");
    let base = dir.join("base.img");
    std::fs::write(&base, vec![0u8; 1 << 20]).expect("base");
    let mid = dir.join("mid.qcow2");
    let top = dir.join("top.qcow2");
    let (b, m, t) = (
        base.to_str().expect("utf-8"),
        mid.to_str().expect("utf-8"),
        top.to_str().expect("utf-8"),
    );
    if !xvm_tests::require_program(
        "qemu_imgs_overlay_names_its_backing_file_and_format",
        "qemu-img",
        "qemu-utils",
    ) {
        return;
    }
    qemu_img(&["create", "-q", "-f", "qcow2", "-b", b, "-F", "raw", m]).expect("mid");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "mid.qcow2",
        "-F",
        "qcow2",
        t,
    ])
    .expect("top");
    let h = header_of(&mid).expect("mid");
    assert_eq!(h.version, 3);
    assert_eq!(
        h.backing,
        Some(Backing {
            name: b.into(),
            format: Format::Raw
        })
    );
    let h = header_of(&top).expect("top");
    assert_eq!(
        h.backing,
        Some(Backing {
            name: "mid.qcow2".into(),
            format: Format::Qcow2
        })
    );
    let plain = dir.join("plain.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "compat=0.10",
        plain.to_str().expect("utf-8"),
        "1M",
    ])
    .expect("plain");
    let h = header_of(&plain).expect("plain");
    assert_eq!((h.version, h.backing), (2, None));
}

/// A version 3 header with a backing name `name` and a backing-format
/// extension `format` (none when `None`), in a 64 KiB cluster.
fn made(name: &[u8], format: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&3u32.to_be_bytes());
    b[20..24].copy_from_slice(&16u32.to_be_bytes());
    b[96..100].copy_from_slice(&4u32.to_be_bytes());
    b[100..104].copy_from_slice(&104u32.to_be_bytes());
    let mut at = 104;
    if let Some(f) = format {
        b[at..at + 4].copy_from_slice(&0xe279_2acau32.to_be_bytes());
        b[at + 4..at + 8].copy_from_slice(&u32::try_from(f.len()).expect("len").to_be_bytes());
        b[at + 8..at + 8 + f.len()].copy_from_slice(f);
        at += 8 + f.len().div_ceil(8) * 8;
    }
    at += 8; // the end extension
    if !name.is_empty() {
        b[8..16].copy_from_slice(&u64::try_from(at).expect("at").to_be_bytes());
        b[16..20].copy_from_slice(&u32::try_from(name.len()).expect("len").to_be_bytes());
        b[at..at + name.len()].copy_from_slice(name);
    }
    b
}

#[test]
fn a_made_header_reads_back() {
    let h = parse(&made(b"base.img", Some(b"raw"))).expect("parse");
    assert_eq!(
        h.backing,
        Some(Backing {
            name: "base.img".into(),
            format: Format::Raw
        })
    );
}

#[test]
fn hostile_headers_are_refused_by_name() {
    assert!(matches!(
        parse(&[0u8; 10]),
        Err(Qcow2Error::Short { len: 10 })
    ));
    assert!(matches!(parse(&[0u8; 200]), Err(Qcow2Error::Magic(0))));
    let mut b = made(b"b", Some(b"raw"));
    b[4..8].copy_from_slice(&4u32.to_be_bytes());
    assert_eq!(parse(&b), Err(Qcow2Error::Version(4)));
    let mut b = made(b"b", Some(b"raw"));
    b[20..24].copy_from_slice(&40u32.to_be_bytes());
    assert_eq!(parse(&b), Err(Qcow2Error::ClusterBits(40)));
    // A name too long, past what was read, or with a NUL.
    let long = vec![b'a'; 1024];
    assert!(matches!(
        parse(&made(&long, Some(b"raw"))),
        Err(Qcow2Error::BackingName { .. })
    ));
    let mut b = made(b"base", Some(b"raw"));
    b[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(parse(&b), Err(Qcow2Error::BackingName { .. })));
    let mut b = made(b"base", Some(b"raw"));
    b[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(parse(&b), Err(Qcow2Error::BackingName { .. })));
    assert!(matches!(
        parse(&made(b"a\0b", Some(b"raw"))),
        Err(Qcow2Error::BackingName { .. })
    ));
    // The format unrecorded, unknown; an extension running past the header.
    assert!(matches!(
        parse(&made(b"base", None)),
        Err(Qcow2Error::BackingFormatMissing { .. })
    ));
    assert!(matches!(
        parse(&made(b"base", Some(b"vmdk"))),
        Err(Qcow2Error::BackingFormat(_))
    ));
    let mut b = made(b"base", Some(b"raw"));
    b[108..112].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(parse(&b), Err(Qcow2Error::Extension { .. })));
    // An external data file, by feature bit or by extension.
    let mut b = made(b"", None);
    b[79] |= 4;
    assert_eq!(parse(&b), Err(Qcow2Error::DataFile));
    let mut b = made(b"", None);
    b[104..108].copy_from_slice(&0x4441_5441u32.to_be_bytes());
    b[108..112].copy_from_slice(&4u32.to_be_bytes());
    assert_eq!(parse(&b), Err(Qcow2Error::DataFile));
    // A header_length past the cluster.
    let mut b = made(b"", None);
    b[100..104].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(parse(&b), Err(Qcow2Error::HeaderLength(_))));
}

#[test]
fn no_truncation_or_byte_flip_of_a_real_header_panics() {
    let good = made(b"../images/base.img", Some(b"qcow2"));
    for n in 0..good.len().min(400) {
        let _ = parse(&good[..n]);
    }
    // Every byte of the header and the first extensions, set to each of a
    // few hostile values.
    for i in 0..200 {
        for v in [0u8, 1, 7, 0x7f, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] = v;
            let _ = parse(&b);
            let _ = needed(&b);
        }
    }
}
