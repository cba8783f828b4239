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

/// A fresh directory under the system temp dir, for tests that need no root.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xvm-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Copies a system binary to `dir/name` owned by root with `mode`.
pub fn copy_binary(src: &str, dir: &Path, name: &str, mode: u32) -> Result<PathBuf, String> {
    let dst = dir.join(name);
    fs::copy(src, &dst).map_err(|e| format!("copy {src}: {e}"))?;
    chown(&dst, Some(0), Some(0)).map_err(|e| format!("chown {}: {e}", dst.display()))?;
    fs::set_permissions(&dst, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod: {e}"))?;
    Ok(dst)
}

/// The value of `Key:` in a /proc status text.
pub fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map_or("", str::trim)
}

/// `Err(what)` unless `ok`.
pub fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}
