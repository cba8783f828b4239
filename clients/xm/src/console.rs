//! `xm console DOMAIN`: runs xenconsole as `xl console` runs Xen's
//! client, by exec, so the terminal is xenconsole's alone (its raw mode,
//! its Ctrl-], its exit status).
//!
//! Which xenconsole: in system mode the installed, setuid one at
//! `<XVM_ROOT or />/usr/lib/xen/bin/xenconsole`, and no other (a
//! xenconsole found elsewhere could not open the system's consoles); in
//! session mode the one beside xm's own executable (a build tree, or an
//! install of both), then the first `xenconsole` on PATH, given
//! `--session`. The mode is xm's own rule ([`privlib::mode::client_socket`]
//! on xend's sockets): `--session`, or a user whose session xend runs.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use privlib::mode::{client_socket, session_run, xvm_root};

/// Where the installed client lives, below the root.
const INSTALLED: &str = "usr/lib/xen/bin/xenconsole";

/// Which console, as xenconsole takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ConsoleType {
    /// The emulated serial port.
    Serial,
    /// The paravirtual console.
    Pv,
}

impl ConsoleType {
    fn arg(self) -> &'static str {
        match self {
            ConsoleType::Serial => "serial",
            ConsoleType::Pv => "pv",
        }
    }
}

/// Why xenconsole was not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// None of the places xenconsole is looked for has it.
    #[error("no xenconsole: tried {}", tried(.0))]
    Missing(Vec<String>),
    /// It is there, and exec failed.
    #[error("running {}: {source}", .path.display())]
    Exec {
        /// The program.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn tried(places: &[String]) -> String {
    places.join(", ")
}

/// Whether the console to attach to is the user's session's.
fn is_session(session: bool) -> bool {
    if session {
        return true;
    }
    let system = xvm_root().join("run/xend/xmlrpc.sock");
    let own = session_run().ok().map(|d| d.join("xend/xmlrpc.sock"));
    client_socket(false, system.clone(), own).is_ok_and(|p| p != system)
}

/// The candidates, in order, and how the error names them.
fn candidates(session: bool) -> (Vec<PathBuf>, Vec<String>) {
    if !session {
        let p = xvm_root().join(INSTALLED);
        let shown = p.display().to_string();
        return (vec![p], vec![shown]);
    }
    let mut found = Vec::new();
    let mut shown = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join("xenconsole");
        shown.push(p.display().to_string());
        found.push(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        found.extend(
            std::env::split_paths(&path)
                .filter(|d| d.is_absolute())
                .map(|d| d.join("xenconsole")),
        );
    }
    shown.push("each directory of PATH".into());
    (found, shown)
}

/// Execs xenconsole for `domain`; returns only when it could not.
pub(crate) fn exec(
    session: bool,
    kind: Option<ConsoleType>,
    num: Option<u32>,
    domain: &str,
) -> ConsoleError {
    let session = is_session(session);
    let (paths, shown) = candidates(session);
    let Some(path) = paths.into_iter().find(|p| p.is_file()) else {
        return ConsoleError::Missing(shown);
    };
    let mut cmd = Command::new(&path);
    if session {
        cmd.arg("--session");
    }
    if let Some(k) = kind {
        cmd.args(["--type", k.arg()]);
    }
    if let Some(n) = num {
        cmd.args(["--num", &n.to_string()]);
    }
    // `--` keeps a domain name that starts with '-' a name.
    cmd.arg("--").arg(domain);
    ConsoleError::Exec {
        path,
        source: cmd.exec(),
    }
}
