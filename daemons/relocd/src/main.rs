//! `xvm-relocd`: the relocation server. Started as root (or as xvm by a
//! service manager), it reads its TLS files, binds its port, becomes
//! xvm:xvm with nothing beyond basic, and moves domains between hosts
//! for xend (see the library).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use relocd::start::{Options, start};

/// The relocation server.
#[derive(Parser, Debug)]
#[command(name = "xvm-relocd", version)]
struct Args {
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    #[command(flatten)]
    account: privlib::cli::DaemonAccount,
    /// The address and port to listen on.
    #[arg(long, default_value = "0.0.0.0:8002")]
    listen: SocketAddr,
    /// This host's certificate chain (PEM), from the CA.
    #[arg(long)]
    cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// The CA every peer's certificate must come from (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// The hosts allowed, by the names their certificates carry (DNS
    /// names or IP addresses, comma-separated or repeated): both the
    /// hosts that may send domains here and those this host sends to.
    #[arg(long, value_delimiter = ',', required = true)]
    allow: Vec<String>,
    /// xend's socket (default by mode).
    #[arg(long = "xend-socket")]
    xend_socket: Option<PathBuf>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let r = start(Options {
        mode: a.mode,
        account: a.account,
        listen: a.listen,
        cert: a.cert,
        key: a.key,
        ca: a.ca,
        allow: a.allow,
        xend_socket: a.xend_socket,
    });
    if let Err(e) = r {
        eprintln!("xvm-relocd: {e}");
    }
    ExitCode::from(1)
}
