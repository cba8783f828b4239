//! Where svc-startd keeps its socket, state and logs.
//!
//! System mode (under `$XVM_ROOT`, default `/`): `run/xvm/svc-startd/`
//! (the `control` socket), `var/lib/xvm/smf/` (the administrator's
//! properties), `var/log/xvm/` (one log per instance). Session mode:
//! `$XDG_RUNTIME_DIR/xvm/svc-startd/`, `$XDG_DATA_HOME/xvm/smf/` (or
//! `~/.local/share/xvm/smf/`), `$XDG_RUNTIME_DIR/xvm/log/`.

use std::path::PathBuf;

use privlib::mode::{ModeError, client_socket, session_data, session_run, xvm_root};

/// The directories.
#[derive(Clone, Debug)]
pub struct Paths {
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
                run: root.join("run/xvm/svc-startd"),
                state: root.join("var/lib/xvm/smf"),
                log: root.join("var/log/xvm"),
            });
        }
        let rt = session_run()?;
        Ok(Paths {
            run: rt.join("svc-startd"),
            state: session_data()?.join("smf"),
            log: rt.join("log"),
        })
    }

    /// The control socket a client means ([`privlib::mode::client_socket`]).
    pub fn client_socket(session: bool) -> Result<PathBuf, ModeError> {
        let own = Paths::new(false).ok().map(|p| p.run.join("control"));
        client_socket(session, Paths::new(true)?.run.join("control"), own)
    }
}

/// Makes directory `p` with `mode`, and each missing parent as a host has
/// them (mode 0755), whatever the umask: a fresh `XVM_ROOT` must let the
/// daemons reach their own directories below `var/lib` and `run`.
pub fn make_dir(p: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = p.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        make_dir(parent, 0o755)?;
    }
    match std::fs::create_dir(p) {
        Ok(()) => std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
