//! Support for tests that need root (used by every crate's root tests).
//!
//! Without root such a test skips with a one-line reason; with
//! `XVM_REQUIRE_ROOT_TESTS=1` (as CI sets) a skip is a failure.

use std::io::Write as _;

use crate::caps::{CapMask, num};
use crate::sys::{Linux, Sys};

/// The capabilities root tests use: ids, capability sets, file ownership
/// and xattrs, namespaces and mounts. (Containers and some CI machines
/// withhold others, such as CAP_SYS_RESOURCE, from root.)
const NEEDED: [u8; 8] = [
    num::SETUID,
    num::SETGID,
    num::SETPCAP,
    num::CHOWN,
    num::DAC_OVERRIDE,
    num::FOWNER,
    num::SETFCAP,
    num::SYS_ADMIN,
];

/// Whether this process runs as root with what root tests need.
pub fn is_root() -> bool {
    let sys = Linux;
    sys.ids().uid[1] == 0
        && sys
            .caps()
            .is_ok_and(|c| c.effective.contains(CapMask::of(&NEEDED)))
}

/// `true` when the test may go on as root; otherwise prints why it skips,
/// or panics when `XVM_REQUIRE_ROOT_TESTS=1` forbids skipping.
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let required = std::env::var("XVM_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: needs root (uid 0 with setuid, setgid, setpcap, chown, dac_override, fowner, setfcap, sys_admin), and XVM_REQUIRE_ROOT_TESTS=1 forbids skipping"
    );
    // Straight to fd 2: libtest captures eprintln! of passing tests, and
    // a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: needs root (XVM_REQUIRE_ROOT_TESTS=1 makes this a failure)"
    );
    false
}

/// Runs `f` in a forked child inside a private mount namespace with a
/// fresh tmpfs at a new directory under the system temp dir, which `f`
/// gets as its scratch space. Nothing it creates or mounts reaches the
/// host; the directory itself is removed afterwards. Root only.
pub fn in_private_tmpfs(
    name: &str,
    f: impl FnOnce(&std::path::Path) -> Result<(), String>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("xvm-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let verdict = crate::sys::child::fork_call(|| {
        crate::sys::ns::unshare_mounts().map_err(|e| format!("unshare mount namespace: {e}"))?;
        crate::sys::ns::mount_tmpfs(&dir)
            .map_err(|e| format!("tmpfs on {}: {e}", dir.display()))?;
        f(&dir)
    });
    let _ = std::fs::remove_dir(&dir);
    verdict
}
