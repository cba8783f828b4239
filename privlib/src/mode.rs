//! System mode or session mode, decided the same way by every daemon and
//! client of the stack, and the environment paths both read.
//!
//! A daemon runs in system mode when told (`--system`, as a service
//! manager starting it as `xvm` does) or when started by root without
//! `--session`; otherwise in session mode, as the invoking user. A client
//! given no `--session` talks to the system daemon as root (to the
//! session one if only that runs), and as anyone else to their own
//! session daemon if it runs, else to the system one, whose gate decides.

use std::path::{Path, PathBuf};

/// An environment variable holding a path, if set and not empty.
pub fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XVM_ROOT`, or `/`: where system mode's paths start.
pub fn xvm_root() -> PathBuf {
    env_path("XVM_ROOT").unwrap_or_else(|| PathBuf::from("/"))
}

/// `$XDG_RUNTIME_DIR/xvm`: session mode's run directory.
pub fn session_run() -> Result<PathBuf, String> {
    env_path("XDG_RUNTIME_DIR")
        .map(|d| d.join("xvm"))
        .ok_or_else(|| "session mode needs XDG_RUNTIME_DIR".to_string())
}

/// `$XDG_DATA_HOME` (or `~/.local/share`) `/xvm`: session mode's data.
pub fn session_data() -> Result<PathBuf, String> {
    env_path("XDG_DATA_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("xvm"))
        .ok_or_else(|| "session mode needs XDG_DATA_HOME or HOME".to_string())
}

fn caller_is_root() -> Result<bool, String> {
    crate::procfs::read_cred(Path::new("/proc"), "self")
        .map(|c| c.uid[1] == 0)
        .map_err(|e| e.to_string())
}

/// Whether a daemon runs in system mode, from its `--session` and
/// `--system` flags and who started it.
pub fn daemon_is_system(session: bool, system: bool) -> Result<bool, String> {
    Ok(system || (!session && caller_is_root()?))
}

/// The socket a client means: `system` or the caller's own session one
/// (`own`, `None` when there is no session), by the rule above.
pub fn client_socket(
    session: bool,
    system: PathBuf,
    own: Option<PathBuf>,
) -> Result<PathBuf, String> {
    if session {
        return own.ok_or_else(|| "session mode needs XDG_RUNTIME_DIR".to_string());
    }
    let root = caller_is_root()?;
    Ok(match own.filter(|p| p.exists()) {
        Some(p) if !root || !system.exists() => p,
        _ => system,
    })
}
