//! Where xenstored keeps its sockets and store, and as whom it runs.

use std::path::PathBuf;

/// System mode (root or a service manager starts it; it becomes `xvm`) or
/// session mode (the invoking user, under `$XDG_RUNTIME_DIR/xvm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// System mode.
    System,
    /// Session mode.
    Session,
}

/// The run directory: `$XENSTORED_RUNDIR`, else `$XVM_ROOT/run/xenstored`
/// (system) or `$XDG_RUNTIME_DIR/xvm/xenstored` (session).
pub fn run_dir(mode: &Mode) -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("XENSTORED_RUNDIR") {
        return Ok(PathBuf::from(d));
    }
    match mode {
        Mode::System => {
            let root =
                std::env::var_os("XVM_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from);
            Ok(root.join("run/xenstored"))
        }
        Mode::Session => std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("xvm/xenstored"))
            .ok_or_else(|| "session mode needs XDG_RUNTIME_DIR (or XENSTORED_RUNDIR)".to_string()),
    }
}
