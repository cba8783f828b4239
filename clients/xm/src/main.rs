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

use clap::{Parser, Subcommand};
use privlib::mode::{client_socket, env_path, session_run, xvm_root};
use serde_json::{Value, json};
use xend::rpc::Client;

/// Manages domains through xend.
#[derive(Parser, Debug)]
#[command(name = "xm", version)]
struct Args {
    /// The session xend, even as root.
    #[arg(long)]
    session: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

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
    client_socket(session, xvm_root().join("run/xend/xmlrpc.sock"), own)
}

fn call(session: bool, method: &str, params: Value) -> Result<Value, String> {
    let mut c = Client::connect(&socket(session)?)?;
    c.call(method, params).map_err(|e| e.message)
}

fn list(v: &Value) -> String {
    let mut out = format!(
        "{:<32}{:>5}{:>6}{:>6}{:>11}{:>9}\n",
        "Name", "ID", "Mem", "VCPUs", "State", "Time(s)"
    );
    for d in v.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<32}{:>5}{:>6}{:>6}{:>11}{:>9.1}\n",
            d["name"].as_str().unwrap_or("?"),
            d["domid"]
                .as_u64()
                .map_or_else(|| "-".to_string(), |i| i.to_string()),
            d["memory"].as_u64().unwrap_or(0),
            d["vcpus"].as_u64().unwrap_or(0),
            d["state"].as_str().unwrap_or("?"),
            d["time"].as_f64().unwrap_or(0.0)
        ));
    }
    out
}

/// Reads a config (bounded), checks it here first, and names what it has
/// that is not supported.
fn read_config(file: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if meta.len() > xend::config::MAX_FILE as u64 {
        return Err(format!(
            "{}: larger than {} bytes",
            file.display(),
            xend::config::MAX_FILE
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let cfg = xend::config::parse(file, &text).map_err(|e| e.to_string())?;
    for (k, p) in &cfg.unsupported {
        eprintln!(
            "xm: {}:{}:{}: {k} is not supported here; ignored",
            file.display(),
            p.line,
            p.column
        );
    }
    Ok(text)
}

fn run(a: Args) -> Result<(), String> {
    let s = a.session;
    let dom = |method: &str, d: &str| call(s, method, json!({"domain": d}));
    match &a.cmd {
        Cmd::Create { dry_run, file } => {
            let text = read_config(file)?;
            let cfg = xend::config::parse(file, &text).map_err(|e| e.to_string())?;
            if *dry_run {
                print!("{}", cfg.to_text());
                return Ok(());
            }
            let source = file.display().to_string();
            let r = call(
                s,
                "domain.create",
                json!({"source": source, "config": text}),
            )?;
            println!(
                "Started domain {} (id={})",
                r["name"].as_str().unwrap_or("?"),
                r["domid"].as_u64().unwrap_or(0)
            );
        }
        Cmd::New { file } => {
            let text = read_config(file)?;
            let source = file.display().to_string();
            let r = call(s, "domain.new", json!({"source": source, "config": text}))?;
            println!("Domain {} stored", r["name"].as_str().unwrap_or("?"));
        }
        Cmd::Start { name } => {
            let r = dom("domain.start", name)?;
            println!(
                "Started domain {} (id={})",
                r["name"].as_str().unwrap_or("?"),
                r["domid"].as_u64().unwrap_or(0)
            );
        }
        Cmd::Delete { name } => drop(dom("domain.delete", name)?),
        Cmd::List => print!("{}", list(&call(s, "domain.list", json!({}))?)),
        Cmd::Shutdown { domain } => drop(dom("domain.shutdown", domain)?),
        Cmd::Destroy { domain } => drop(dom("domain.destroy", domain)?),
        Cmd::Reboot { domain } => drop(dom("domain.reboot", domain)?),
        Cmd::Pause { domain } => drop(dom("domain.pause", domain)?),
        Cmd::Unpause { domain } => drop(dom("domain.unpause", domain)?),
        Cmd::Domid { name } => println!("{}", dom("domain.info", name)?["domid"]),
        Cmd::Domname { id } => {
            println!(
                "{}",
                dom("domain.info", id)?["name"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xm: {e}");
            ExitCode::from(1)
        }
    }
}
