//! Where svc-startd keeps its socket, state and logs, and making them.
//!
//! System mode (under `$XVM_ROOT`, default `/`): `run/xvm/svc-startd/`
//! (the `control` socket), `var/lib/xvm/smf/` (the administrator's
//! properties), `var/log/xvm/` (one log per instance), laid out with the
//! host's directories above them as [`crate::layout`] says. Session mode:
//! `$XDG_RUNTIME_DIR/xvm/svc-startd/`, `$XDG_DATA_HOME/xvm/smf/` (or
//! `~/.local/share/xvm/smf/`), `$XDG_RUNTIME_DIR/xvm/log/`.

use std::path::{Path, PathBuf};

use privlib::mode::{ModeError, client_socket, session_data, session_run, xvm_root};

use crate::fixperms::{Failure, Plan};
use crate::layout::{STARTD_LOG, STARTD_RUN, STARTD_STATE, STARTD_SYSTEM_DIRS, make_dir};

/// Why svc-startd's directories could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// System mode: the layout failed (each failure, as xvm-fixperms says it).
    #[error("laying out {}: {}", root.display(), joined(failures))]
    Layout {
        /// The root.
        root: PathBuf,
        /// What failed, each with its node and cause.
        failures: Vec<Failure>,
    },
    /// Who the caller is could not be read.
    #[error("reading the caller's credentials: {0}")]
    Caller(#[source] privlib::procfs::ProcError),
    /// A directory could not be made.
    #[error("{}: {source}", path.display())]
    Make {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The failures, one after another as one line.
fn joined(failures: &[Failure]) -> String {
    let each: Vec<String> = failures.iter().map(ToString::to_string).collect();
    each.join("; ")
}

/// The directories.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The root the system-mode tree is under (`XVM_ROOT`, or `/`); `None`
    /// in session mode.
    pub root: Option<PathBuf>,
    /// The run directory (control socket).
    pub run: PathBuf,
    /// Persistent state.
    pub state: PathBuf,
    /// Method logs.
    pub log: PathBuf,
}

impl Paths {
    /// The directories of system (`true`) or session mode.
    pub fn new(system: bool) -> Result<Paths, ModeError> {
        if system {
            let root = xvm_root();
            return Ok(Paths {
                run: root.join(STARTD_RUN),
                state: root.join(STARTD_STATE),
                log: root.join(STARTD_LOG),
                root: Some(root),
            });
        }
        let rt = session_run()?;
        Ok(Paths {
            root: None,
            run: rt.join("svc-startd"),
            state: session_data()?.join("smf"),
            log: rt.join("log"),
        })
    }

    /// Makes the directories; the changes made. System mode: the host's
    /// directories and svc-startd's own under the root, as a host has
    /// them ([`STARTD_SYSTEM_DIRS`], through xvm-fixperms' [`Plan`]: no
    /// symlink followed, existing ones made right). Session mode: the
    /// user's own, private.
    pub fn make(&self) -> Result<Vec<String>, PathsError> {
        if let Some(root) = &self.root {
            let euid = privlib::procfs::read_cred(Path::new("/proc"), "self")
                .map_err(PathsError::Caller)?
                .uid[1];
            if euid != 0 {
                // `--system` run by a user (a tree of one's own): the same
                // directories and modes, the caller's, as it can make them.
                for d in &STARTD_SYSTEM_DIRS {
                    let p = root.join(d.path);
                    make_dir(&p, d.mode).map_err(|source| PathsError::Make { path: p, source })?;
                }
                return Ok(Vec::new());
            }
            let report = Plan {
                root: root.clone(),
                uid: 0,
                gid: 0,
                dry_run: false,
                dirs: &STARTD_SYSTEM_DIRS,
            }
            .run();
            if !report.failures.is_empty() {
                return Err(PathsError::Layout {
                    root: root.clone(),
                    failures: report.failures,
                });
            }
            return Ok(report.changes);
        }
        // The run directory may be passed, not listed (the control socket,
        // 0666, is the gate); the rest is the user's.
        let dirs = [self.run.parent(), self.state.parent()]
            .into_iter()
            .flatten()
            .map(|d| (d, 0o711))
            .chain([
                (self.run.as_path(), 0o711),
                (self.state.as_path(), 0o700),
                (self.log.as_path(), 0o750),
            ]);
        for (p, mode) in dirs {
            make_dir(p, mode).map_err(|source| PathsError::Make {
                path: p.to_path_buf(),
                source,
            })?;
        }
        Ok(Vec::new())
    }

    /// The control socket a client means ([`privlib::mode::client_socket`]).
    pub fn client_socket(session: bool) -> Result<PathBuf, ModeError> {
        let own = Paths::new(false).ok().map(|p| p.run.join("control"));
        client_socket(session, Paths::new(true)?.run.join("control"), own)
    }
}
