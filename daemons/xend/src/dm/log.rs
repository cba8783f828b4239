//! qemu's output: copied by xend into the domain's `qemu.log`, bounded,
//! and its tail shown when qemu ends.

use std::os::fd::OwnedFd;
use std::path::Path;

/// Bytes of qemu's log shown when it ends.
pub(crate) const QEMU_LOG_TAIL: u64 = 2048;
/// Bytes of qemu's output kept in its `qemu.log`; the rest is dropped.
pub const QEMU_LOG_MAX: u64 = 1 << 20;

/// Copies what qemu writes to its stdout and stderr into `log`, up to
/// `max` bytes; past that it reads on (so qemu never blocks on a full
/// pipe) and drops, saying so once in the log. Ends when qemu does.
pub fn pump_log(from: OwnedFd, log: std::fs::File, max: u64) {
    use std::io::{Read, Write};
    let mut from = std::fs::File::from(from);
    let mut log = log;
    let mut kept = 0u64;
    let mut dropped = false;
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let room = usize::try_from(max.saturating_sub(kept)).unwrap_or(usize::MAX);
        let take = n.min(room);
        if take > 0 && log.write_all(&buf[..take]).is_ok() {
            kept += u64::try_from(take).unwrap_or(u64::MAX);
        }
        if take < n && !dropped {
            dropped = true;
            let _ = writeln!(
                log,
                "\n[xend: qemu's log reached {max} bytes; the rest is dropped]"
            );
        }
    }
}

/// The last `max` bytes of a log, read from its end (never the whole
/// file, whatever its size); an unreadable log shows as nothing.
pub(crate) fn log_tail(path: &Path, max: u64) -> String {
    privlib::bounded::read_tail(path, max)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
