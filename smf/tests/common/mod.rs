//! Shared by smf's tests: where the binaries are, a check, and stopping a
//! restarter the way its services expect.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory the workspace's binaries are built into.
pub fn bindir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_svc-startd"))
        .parent()
        .expect("bindir")
        .to_path_buf()
}

pub fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// Stops a svc-startd: SIGTERM, so it stops its services (SIGKILL would
/// leave them running), then SIGKILL if it has not ended within 10 s.
/// For `Drop`, on a failed check too.
pub fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `svc-startd --system` over `manifests`, with `XVM_ROOT=root`
/// and its stderr in `log`.
pub fn spawn_system_startd(manifests: &Path, root: &Path, log: &Path) -> Result<Child, String> {
    Command::new(bindir().join("svc-startd"))
        .arg("--system")
        .arg("--manifests")
        .arg(manifests)
        .arg("--bindir")
        .arg(bindir())
        .env("XVM_ROOT", root)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?)
        .spawn()
        .map_err(|e| format!("svc-startd: {e}"))
}
