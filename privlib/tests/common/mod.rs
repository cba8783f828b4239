//! Shared helpers of privlib's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Serialises tests that fork: a fork while another test thread holds a
/// lock (privlib's process record, the allocator's) would copy it held.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An unprivileged uid with no passwd entry, unlikely to own anything.
pub const UID: u32 = 48_000;

/// A fresh directory under cargo's target tmp dir (same file system as the
/// build, so set-id bits and file capabilities work; /tmp may be nosuid).
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("scratch dir");
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
    // The dir itself must be reachable by the test uid.
    let mut p = d.parent();
    while let Some(dir) = p {
        let _ = fs::metadata(dir).map(|m| {
            if m.permissions().mode() & 0o001 == 0 {
                let _ = fs::set_permissions(
                    dir,
                    fs::Permissions::from_mode(m.permissions().mode() | 0o011),
                );
            }
        });
        p = dir.parent();
    }
    d
}

/// Copies a system binary to `dir/name` owned by root with `mode`.
pub fn copy_binary(src: &str, dir: &Path, name: &str, mode: u32) -> PathBuf {
    let dst = dir.join(name);
    fs::copy(src, &dst).expect("copy binary");
    chown(&dst, Some(0), Some(0)).expect("chown");
    fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).expect("chmod");
    dst
}

/// The `Key:\tvalue` fields of a /proc status text.
pub fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map_or("", str::trim)
}
