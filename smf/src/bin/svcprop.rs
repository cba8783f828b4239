//! `svcprop [-p pg/prop] FMRI`: an instance's properties (with `-p`, the
//! value alone, as scripts want it).

use std::process::ExitCode;

use clap::Parser;
use smf::control::{client_socket, request};

/// Retrieves service properties.
#[derive(Parser, Debug)]
#[command(name = "svcprop", version)]
struct Args {
    /// One property.
    #[arg(short = 'p')]
    prop: Option<String>,
    #[command(flatten)]
    mode: privlib::cli::ClientMode,
    /// The instance.
    fmri: String,
}

fn run(a: Args) -> Result<(), String> {
    let socket = client_socket(a.mode.session).map_err(|e| e.to_string())?;
    match &a.prop {
        Some(p) => {
            for l in request(&socket, &["getprop", &a.fmri, p]).map_err(|e| e.to_string())? {
                println!("{}", l.splitn(3, '\t').nth(2).unwrap_or(""));
            }
        }
        None => {
            for l in request(&socket, &["listprop", &a.fmri]).map_err(|e| e.to_string())? {
                println!("{}", l.replace('\t', " "));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    smf::cli::exit(Some("svcprop"), run(Args::parse()).map(|()| true))
}
