//! System mode or session mode, decided the same way by every daemon and
//! client of the stack, and the environment paths both read.
//!
//! A daemon runs in system mode when told (`--system`, as a service
//! manager starting it as `xvm` does) or when started by root without
//! `--session`; otherwise in session mode, as the invoking user. A client
//! given no `--session` talks to the system daemon as root (to the
//! session one if only that runs), and as anyone else to their own
//! session daemon if it runs, else to the system one, whose gate decides.
//!
//! Session mode's run directory ([`session_run`]) is found by one rule, so
//! that a daemon and a client started in different shells agree on it:
//! 1. `$XDG_RUNTIME_DIR/xvm` when `XDG_RUNTIME_DIR` is set;
//! 2. else `/run/user/UID/xvm` when `/run/user/UID` is a directory (not a
//!    symlink) owned by the caller that neither group nor others may write;
//! 3. else `/tmp/xvm-run-UID`, created mode 0700; refused when it exists
//!    as a symlink or not as a directory, is not the caller's, or has any
//!    group or other permission bit (someone else could plant sockets).

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use crate::procfs::ProcError;
use crate::sys::{Linux, Sys as _};

/// Why a mode or a path could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    /// Session mode was asked for, and the caller had no session socket.
    #[error("session mode: no session run directory")]
    NoSession,
    /// Session mode keeps its data under the user's home.
    #[error("session mode needs XDG_DATA_HOME or HOME")]
    NoDataDir,
    /// Who the caller is could not be read.
    #[error("reading the caller's credentials: {0}")]
    Caller(#[source] ProcError),
    /// The fallback run directory is unsafe to use.
    #[error("session run directory {}: {why}; set XDG_RUNTIME_DIR", .path.display())]
    UnsafeRunDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        why: RunDirProblem,
    },
    /// The fallback run directory could not be created or examined.
    #[error("session run directory {}: {source}", .path.display())]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// What makes a fallback run directory unsafe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunDirProblem {
    /// A symlink: it could point anywhere.
    #[error("is a symlink")]
    Symlink,
    /// Something other than a directory.
    #[error("is not a directory")]
    NotDirectory,
    /// Someone else's.
    #[error("belongs to uid {owner}, not to uid {uid}")]
    NotOwned {
        /// Its owner.
        owner: u32,
        /// The caller.
        uid: u32,
    },
    /// Group or others may use it.
    #[error("has mode {mode:04o}, open to group or others")]
    Open {
        /// Its permission bits.
        mode: u32,
    },
}

/// Whether this process is a set-id (or file-capability) program run by
/// someone else: the kernel's `AT_SECURE`, or real and effective ids
/// that differ. Its environment is then the caller's to choose, and
/// nothing of it is trusted (DESIGN invariant 9).
pub fn secure_exec() -> bool {
    crate::sys::secure_exec()
}

/// An environment variable holding a path, if set and not empty; never
/// in a set-id program ([`secure_exec`]): its paths are the system's.
pub fn env_path(key: &str) -> Option<PathBuf> {
    if secure_exec() {
        return None;
    }
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XVM_ROOT`, or `/`: where system mode's paths start.
pub fn xvm_root() -> PathBuf {
    env_path("XVM_ROOT").unwrap_or_else(|| PathBuf::from("/"))
}

/// Where [`session_run_in`] looks: the environment and the host's paths,
/// passed in so the rule is tested without the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDirSearch {
    /// `$XDG_RUNTIME_DIR`, if set and not empty.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The caller's effective uid.
    pub uid: u32,
    /// Where per-user runtime directories live (`/run/user`).
    pub run_user: PathBuf,
    /// Where the last fallback is made (`/tmp`).
    pub tmp: PathBuf,
}

impl RunDirSearch {
    /// The caller's environment and uid, with the host's `/run/user` and `/tmp`.
    pub fn host() -> RunDirSearch {
        RunDirSearch {
            xdg_runtime_dir: env_path("XDG_RUNTIME_DIR"),
            uid: Linux.ids().uid[1],
            run_user: PathBuf::from("/run/user"),
            tmp: PathBuf::from("/tmp"),
        }
    }
}

/// Session mode's run directory, by the rule in the module comment.
pub fn session_run() -> Result<PathBuf, ModeError> {
    session_run_in(&RunDirSearch::host())
}

/// [`session_run`] for a given environment; creates the `/tmp` fallback.
pub fn session_run_in(s: &RunDirSearch) -> Result<PathBuf, ModeError> {
    if let Some(d) = &s.xdg_runtime_dir {
        return Ok(d.join("xvm"));
    }
    let user_dir = s.run_user.join(s.uid.to_string());
    if std::fs::symlink_metadata(&user_dir).is_ok_and(|m| problem(&m, s.uid, 0o022).is_none()) {
        return Ok(user_dir.join("xvm"));
    }
    let fallback = s.tmp.join(format!("xvm-run-{}", s.uid));
    let io_err = |source| ModeError::RunDir {
        path: fallback.clone(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&fallback) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(e)),
    }
    // Checked after the create, whoever made it: a directory planted in
    // /tmp by someone else, or opened up, is refused.
    let meta = std::fs::symlink_metadata(&fallback).map_err(io_err)?;
    match problem(&meta, s.uid, 0o077) {
        None => Ok(fallback),
        Some(why) => Err(ModeError::UnsafeRunDir {
            path: fallback,
            why,
        }),
    }
}

/// What is wrong with a run directory's `lstat`, for a caller `uid` that
/// allows none of the permission bits in `forbidden`.
fn problem(meta: &std::fs::Metadata, uid: u32, forbidden: u32) -> Option<RunDirProblem> {
    let t = meta.file_type();
    if t.is_symlink() {
        Some(RunDirProblem::Symlink)
    } else if !t.is_dir() {
        Some(RunDirProblem::NotDirectory)
    } else if meta.uid() != uid {
        Some(RunDirProblem::NotOwned {
            owner: meta.uid(),
            uid,
        })
    } else if meta.mode() & forbidden != 0 {
        Some(RunDirProblem::Open {
            mode: meta.mode() & 0o7777,
        })
    } else {
        None
    }
}

/// `$XDG_DATA_HOME` (or `~/.local/share`) `/xvm`: session mode's data.
pub fn session_data() -> Result<PathBuf, ModeError> {
    env_path("XDG_DATA_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("xvm"))
        .ok_or(ModeError::NoDataDir)
}

fn caller_is_root() -> Result<bool, ModeError> {
    crate::procfs::read_cred(Path::new("/proc"), "self")
        .map(|c| c.uid[1] == 0)
        .map_err(ModeError::Caller)
}

/// Whether a daemon runs in system mode, from its `--session` and
/// `--system` flags and who started it.
pub fn daemon_is_system(session: bool, system: bool) -> Result<bool, ModeError> {
    Ok(system || (!session && caller_is_root()?))
}

/// The socket a client means: `system` or the caller's own session one
/// (`own`, `None` when there is no session run directory), by the rule above.
pub fn client_socket(
    session: bool,
    system: PathBuf,
    own: Option<PathBuf>,
) -> Result<PathBuf, ModeError> {
    if session {
        // No own socket: say why the run directory could not be had.
        return own.ok_or_else(|| session_run().err().unwrap_or(ModeError::NoSession));
    }
    let root = caller_is_root()?;
    Ok(match own.filter(|p| p.exists()) {
        Some(p) if !root || !system.exists() => p,
        _ => system,
    })
}

#[cfg(test)]
#[path = "mode_tests.rs"]
mod tests;
