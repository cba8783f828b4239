//! Where xenstored keeps its sockets and store, and as whom it runs.

use std::path::PathBuf;

use privlib::mode::ModeError;

/// System mode (root or a service manager starts it; it becomes `xvm`) or
/// session mode (the invoking user, under `$XDG_RUNTIME_DIR/xvm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// System mode.
    System,
    /// Session mode.
    Session,
}

/// Why the run directory is not known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Session mode has no run directory.
    #[error("{0}")]
    Session(#[source] ModeError),
}

/// The run directory: `$XENSTORED_RUNDIR`, else `$XVM_ROOT/run/xenstored`
/// (system) or `$XDG_RUNTIME_DIR/xvm/xenstored` (session).
pub fn run_dir(mode: &Mode) -> Result<PathBuf, ConfigError> {
    if let Some(d) = privlib::mode::env_path("XENSTORED_RUNDIR") {
        return Ok(d);
    }
    match mode {
        Mode::System => Ok(privlib::mode::xvm_root().join("run/xenstored")),
        Mode::Session => Ok(privlib::mode::session_run()
            .map_err(ConfigError::Session)?
            .join("xenstored")),
    }
}
