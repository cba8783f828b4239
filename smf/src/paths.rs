//! Where svc-startd keeps its socket, state and logs.
//!
//! System mode (under `$XVM_ROOT`, default `/`): `run/xvm/svc-startd/`
//! (the `control` socket), `var/lib/xvm/smf/` (the administrator's
//! properties), `var/log/xvm/` (one log per instance). Session mode:
//! `$XDG_RUNTIME_DIR/xvm/svc-startd/`, `$XDG_DATA_HOME/xvm/smf/` (or
//! `~/.local/share/xvm/smf/`), `$XDG_RUNTIME_DIR/xvm/log/`.

use std::path::PathBuf;

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

fn var(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Paths {
    /// The directories of system (`true`) or session mode.
    pub fn new(system: bool) -> Result<Paths, String> {
        if system {
            let root = var("XVM_ROOT").unwrap_or_else(|| PathBuf::from("/"));
            return Ok(Paths {
                run: root.join("run/xvm/svc-startd"),
                state: root.join("var/lib/xvm/smf"),
                log: root.join("var/log/xvm"),
            });
        }
        let rt = var("XDG_RUNTIME_DIR")
            .ok_or("session mode needs XDG_RUNTIME_DIR")?
            .join("xvm");
        let data = var("XDG_DATA_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".local/share")))
            .ok_or("session mode needs XDG_DATA_HOME or HOME")?;
        Ok(Paths {
            run: rt.join("svc-startd"),
            state: data.join("xvm/smf"),
            log: rt.join("log"),
        })
    }

    /// Which restarter a client means: `--session` says; otherwise root
    /// gets the system one (the session one if only that runs), and
    /// anyone else their own session one if it runs, else the system one
    /// (whose gate then decides).
    pub fn for_client(session: bool) -> Result<Paths, String> {
        if session {
            return Paths::new(false);
        }
        let root = privlib::procfs::read_cred(std::path::Path::new("/proc"), "self")
            .map_err(|e| e.to_string())?
            .uid[1]
            == 0;
        let running = |p: &Paths| p.run.join("control").exists();
        let sys = Paths::new(true)?;
        let own = Paths::new(false).ok().filter(running);
        Ok(match own {
            Some(s) if !root || !running(&sys) => s,
            _ => sys,
        })
    }
}
