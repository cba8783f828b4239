//! qcow2 headers (`xend::qcow2`): whatever the bytes, `needed` and `parse` return (no panic, no
//! allocation past the input), and a backing name that parses is at most 1023 bytes, without NUL.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = xend::qcow2::needed(data);
    if let Ok(h) = xend::qcow2::parse(data) {
        if let Some(b) = h.backing {
            let n = std::os::unix::ffi::OsStrExt::as_bytes(b.name.as_os_str());
            assert!(!n.is_empty() && n.len() <= xend::qcow2::MAX_NAME && !n.contains(&0));
        }
    }
