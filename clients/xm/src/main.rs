//! `xm`: the domain CLI. It needs no root: it talks to xend, whose gate
//! asks for `virt_manage` (or `xvm_control`).
//!
//! ```text
//! xm create [-n|--dryrun] FILE   start a domain (-n: parse, print, start nothing)
//! xm new FILE | start NAME | delete NAME    managed domains
//! xm list                        Name ID Mem VCPUs State Time(s)
//! xm shutdown|destroy|reboot|pause|unpause DOMAIN
//! xm domid NAME | xm domname ID
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use privlib::mode::{client_socket, env_path, session_run, xvm_root};
use xend::api::DomainInfo;
use xend::client::Client;
use xend::config::DomainConfig;

/// The command line: `--session` and one verb.
type Args = privlib::cli::ClientArgs<Cmd>;

/// What `--help` says the tool is.
const ABOUT: &str = "Manages domains through xend.";

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Starts a domain from an xl.cfg file.
    Create {
        /// Parse and print the config; start nothing.
        #[arg(short = 'n', long = "dryrun")]
        dry_run: bool,
        /// The config file.
        file: PathBuf,
    },
    /// Stores a domain's config as a managed domain; starts nothing.
    New {
        /// The config file.
        file: PathBuf,
    },
    /// Starts a managed domain.
    Start {
        /// Its name.
        name: String,
    },
    /// Forgets a managed domain (it must not be running).
    Delete {
        /// Its name.
        name: String,
    },
    /// Lists the domains.
    List,
    /// Asks a domain to power off (ACPI), destroying it after a timeout.
    Shutdown {
        /// Name or id.
        domain: String,
    },
    /// Ends a domain at once.
    Destroy {
        /// Name or id.
        domain: String,
    },
    /// Restarts a domain.
    Reboot {
        /// Name or id.
        domain: String,
    },
    /// Pauses a domain.
    Pause {
        /// Name or id.
        domain: String,
    },
    /// Resumes a paused domain.
    Unpause {
        /// Name or id.
        domain: String,
    },
    /// The id of a domain.
    Domid {
        /// Its name.
        name: String,
    },
    /// The name of a domain.
    Domname {
        /// Its id.
        id: String,
    },
}

/// xend's socket: `$XEND_SOCKET`, else by the stack's rule
/// ([`privlib::mode::client_socket`]).
fn socket(session: bool) -> Result<PathBuf, String> {
    if let Some(p) = env_path("XEND_SOCKET") {
        return Ok(p);
    }
    let own = session_run().ok().map(|d| d.join("xend/xmlrpc.sock"));
    client_socket(session, xvm_root().join("run/xend/xmlrpc.sock"), own).map_err(|e| e.to_string())
}

fn connect(session: bool) -> Result<Client, String> {
    Client::connect(&socket(session)?).map_err(|e| e.to_string())
}

/// `xm list`'s table, as Xen's xm prints it.
fn list(rows: &[DomainInfo]) -> String {
    let mut out = format!(
        "{:<32}{:>5}{:>6}{:>6}{:>11}{:>9}\n",
        "Name", "ID", "Mem", "VCPUs", "State", "Time(s)"
    );
    for d in rows {
        out.push_str(&format!(
            "{:<32}{:>5}{:>6}{:>6}{:>11}{:>9.1}\n",
            d.name,
            d.domid.map_or_else(|| "-".to_string(), |i| i.to_string()),
            d.memory,
            d.vcpus,
            d.state.letters(),
            d.time
        ));
    }
    out
}

/// Reads a config (at most [`xend::config::MAX_FILE`] bytes, the bound
/// xend holds it to), checks it here first, and names what it has that
/// is not supported.
fn read_config(file: &Path) -> Result<(String, DomainConfig), String> {
    let max = u64::try_from(xend::config::MAX_FILE).unwrap_or(u64::MAX);
    let text = privlib::bounded::read_to_string(file, max).map_err(|e| e.to_string())?;
    let cfg = xend::config::parse(file, &text).map_err(|e| e.to_string())?;
    for (k, p) in &cfg.unsupported {
        eprintln!(
            "xm: {}:{}:{}: {k} is not supported here; ignored",
            file.display(),
            p.line,
            p.column
        );
    }
    Ok((text, cfg))
}

fn started(d: &DomainInfo) {
    match d.domid {
        Some(id) => println!("Started domain {} (id={id})", d.name),
        None => println!("Started domain {}", d.name),
    }
}

fn run(a: Args) -> Result<(), String> {
    let e = |e: xend::client::ClientError| e.to_string();
    // A config is read and checked before xend is asked: its errors need
    // no xend, and `create -n` starts nothing.
    let text = match &a.cmd {
        Cmd::Create {
            dry_run: true,
            file,
        } => {
            print!("{}", read_config(file)?.1.to_text());
            return Ok(());
        }
        Cmd::Create { file, .. } | Cmd::New { file } => read_config(file)?.0,
        _ => String::new(),
    };
    let mut c = connect(a.mode.session)?;
    match &a.cmd {
        Cmd::Create { file, .. } => {
            started(&c.create(&file.display().to_string(), &text).map_err(e)?);
        }
        Cmd::New { file } => {
            let r = c
                .new_managed(&file.display().to_string(), &text)
                .map_err(e)?;
            println!("Domain {} stored", r.name);
        }
        Cmd::Start { name } => started(&c.start(name).map_err(e)?),
        Cmd::Delete { name } => drop(c.delete(name).map_err(e)?),
        Cmd::List => print!("{}", list(&c.list().map_err(e)?)),
        Cmd::Shutdown { domain } => drop(c.shutdown(domain).map_err(e)?),
        Cmd::Destroy { domain } => drop(c.destroy(domain).map_err(e)?),
        Cmd::Reboot { domain } => drop(c.reboot(domain).map_err(e)?),
        Cmd::Pause { domain } => drop(c.pause(domain).map_err(e)?),
        Cmd::Unpause { domain } => drop(c.unpause(domain).map_err(e)?),
        Cmd::Domid { name } => match c.info(name).map_err(e)?.domid {
            Some(id) => println!("{id}"),
            None => return Err(format!("{name} is not running")),
        },
        Cmd::Domname { id } => println!("{}", c.info(id).map_err(e)?.name),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse_as("xm", ABOUT)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xm: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xend::api::DomainState;

    #[test]
    fn list_prints_each_row_and_managed_ones_without_an_id() {
        let row = |name: &str, domid: Option<u32>, state| DomainInfo {
            name: name.into(),
            domid,
            uuid: None,
            memory: 512,
            vcpus: 2,
            state,
            time: 1.5,
            pid: None,
            serial: None,
        };
        let out = list(&[
            row("Domain-0", Some(0), DomainState::Running),
            row("web", None, DomainState::None),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["Domain-0", "0", "512", "2", "r-----", "1.5"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["web", "-", "512", "2", "------", "1.5"]
        );
    }
}
