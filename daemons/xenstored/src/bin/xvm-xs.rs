//! `xvm-xs`: a small XenStore client over `xenstored::client`, for hosts
//! without Debian's `xenstore-utils` (and for `scripts/start`). The socket
//! is `$XENSTORED_PATH`, else chosen as every client of the stack chooses
//! ([`privlib::mode::client_socket`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use privlib::mode::{ModeError, client_socket, env_path};
use xenstored::client::{Client, ClientError};
use xenstored::config::{ConfigError, Mode, run_dir};

/// The command line: `--session` and one verb.
type Args = privlib::cli::ClientArgs<Cmd>;

/// What `--help` says the tool is.
const ABOUT: &str = "Reads and changes the XenStore.";

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Prints each node's value.
    Read { paths: Vec<String> },
    /// Writes PATH VALUE pairs, in one transaction.
    Write { pairs: Vec<String> },
    /// Prints the tree under PATH (default `/`), as `xenstore-ls` does.
    Ls { path: Option<String> },
    /// Removes each node and what is beneath it.
    Rm { paths: Vec<String> },
    /// Sets a node's permissions (`n0`, `r5`, ...; the first is the owner).
    Chmod { path: String, perms: Vec<String> },
    /// Introduces a domain.
    Introduce { domid: u32, mfn: u64, port: u32 },
    /// Releases a domain.
    Release { domid: u32 },
}

/// Why a command failed: the one line `main` prints.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// The system run directory is not known.
    #[error("{0}")]
    RunDir(#[from] ConfigError),
    /// No socket to talk to.
    #[error("{0}")]
    Socket(#[source] ModeError),
    /// Connecting failed.
    #[error("{}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: ClientError,
    },
    /// A request failed.
    #[error("{what}: {source}")]
    Request {
        what: String,
        #[source]
        source: ClientError,
    },
    /// `write` was given an odd number of words.
    #[error("write takes PATH VALUE pairs")]
    OddPairs,
}

fn socket(session: bool) -> Result<PathBuf, CliError> {
    if let Some(p) = env_path("XENSTORED_PATH") {
        return Ok(p);
    }
    let own = run_dir(&Mode::Session).ok().map(|d| d.join("socket"));
    client_socket(session, run_dir(&Mode::System)?.join("socket"), own).map_err(CliError::Socket)
}

fn ls(c: &mut Client, path: &str, depth: usize, out: &mut String) -> Result<(), ClientError> {
    for name in c.directory(0, path)? {
        let child = if path == "/" {
            format!("/{name}")
        } else {
            format!("{path}/{name}")
        };
        let value = c.read(0, &child)?;
        out.push_str(&format!(
            "{:indent$}{name} = \"{}\"\n",
            "",
            String::from_utf8_lossy(&value).escape_debug(),
            indent = depth
        ));
        ls(c, &child, depth + 1, out)?;
    }
    Ok(())
}

fn run(a: Args) -> Result<(), CliError> {
    let path = socket(a.mode.session)?;
    let mut c = Client::connect(&path).map_err(|source| CliError::Connect {
        path: path.clone(),
        source,
    })?;
    let err = |what: &str, source: ClientError| CliError::Request {
        what: what.to_string(),
        source,
    };
    match a.cmd {
        Cmd::Read { paths } => {
            for p in paths {
                let v = c.read(0, &p).map_err(|e| err(&p, e))?;
                println!("{}", String::from_utf8_lossy(&v));
            }
        }
        Cmd::Write { pairs } => {
            if pairs.len() % 2 != 0 {
                return Err(CliError::OddPairs);
            }
            c.transaction(5, |c: &mut Client, tx| {
                for kv in pairs.chunks(2) {
                    c.write(tx, &kv[0], kv[1].as_bytes())?;
                }
                Ok(())
            })
            .map_err(|e| err("write", e))?;
        }
        Cmd::Ls { path } => {
            let p = path.unwrap_or_else(|| "/".into());
            let mut out = String::new();
            ls(&mut c, &p, 0, &mut out).map_err(|e| err(&p, e))?;
            print!("{out}");
        }
        Cmd::Rm { paths } => {
            for p in paths {
                c.rm(0, &p).map_err(|e| err(&p, e))?;
            }
        }
        Cmd::Chmod { path, perms } => {
            let perms: Vec<&str> = perms.iter().map(String::as_str).collect();
            c.set_perms(0, &path, &perms).map_err(|e| err(&path, e))?;
        }
        Cmd::Introduce { domid, mfn, port } => {
            c.introduce(domid, mfn, port)
                .map_err(|e| err(&format!("introduce {domid}"), e))?;
        }
        Cmd::Release { domid } => {
            c.release(domid)
                .map_err(|e| err(&format!("release {domid}"), e))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse_as("xvm-xs", ABOUT)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvm-xs: {e}");
            ExitCode::from(1)
        }
    }
}
