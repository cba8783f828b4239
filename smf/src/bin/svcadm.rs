//! `svcadm`: changes the state of services.
//!
//! ```text
//! svcadm enable [-t] [-s] FMRI...    (-t: until svc-startd restarts; -s: wait)
//! svcadm disable [-t] [-s] FMRI...
//! svcadm restart FMRI...
//! svcadm refresh FMRI...             re-read properties
//! svcadm clear FMRI...               out of maintenance
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use smf::control::{client_socket, request};

/// Manipulates service instances.
#[derive(Parser, Debug)]
#[command(name = "svcadm", version)]
struct Args {
    /// The session restarter, even as root.
    #[arg(long)]
    session: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Enables instances.
    Enable {
        /// Until svc-startd restarts only.
        #[arg(short = 't')]
        temporary: bool,
        /// Wait until each is online (or fails).
        #[arg(short = 's')]
        sync: bool,
        /// Instances.
        #[arg(required = true)]
        fmris: Vec<String>,
    },
    /// Disables instances.
    Disable {
        /// Until svc-startd restarts only.
        #[arg(short = 't')]
        temporary: bool,
        /// Wait until each is stopped.
        #[arg(short = 's')]
        sync: bool,
        /// Instances.
        #[arg(required = true)]
        fmris: Vec<String>,
    },
    /// Restarts online instances.
    Restart {
        /// Instances.
        #[arg(required = true)]
        fmris: Vec<String>,
    },
    /// Re-reads the properties of instances.
    Refresh {
        /// Instances.
        #[arg(required = true)]
        fmris: Vec<String>,
    },
    /// Takes instances out of maintenance.
    Clear {
        /// Instances.
        #[arg(required = true)]
        fmris: Vec<String>,
    },
}

fn state_of(socket: &std::path::Path, fmri: &str) -> Result<(String, String), String> {
    let show = request(socket, &["show", fmri]).map_err(|e| e.to_string())?;
    let get = |k: &str| {
        show.iter()
            .find_map(|l| l.strip_prefix(&format!("{k}\t")))
            .unwrap_or("")
            .to_string()
    };
    Ok((get("state"), get("reason")))
}

fn wait(socket: &std::path::Path, fmri: &str, want: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (state, reason) = state_of(socket, fmri)?;
        if state == want {
            return Ok(());
        }
        if state == "maintenance" && want != "maintenance" {
            return Err(format!("{fmri} went to maintenance: {reason}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{fmri} is {state}, not {want}, after 120 s: {reason}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(a: Args) -> Result<(), String> {
    let socket = client_socket(a.session).map_err(|e| e.to_string())?;
    let each = |verb: &str, fmris: &[String], extra: Option<&str>| -> Result<(), String> {
        for f in fmris {
            let mut fields = vec![verb, f.as_str()];
            fields.extend(extra);
            request(&socket, &fields).map_err(|e| format!("{f}: {e}"))?;
        }
        Ok(())
    };
    match a.cmd {
        Cmd::Enable {
            temporary,
            sync,
            fmris,
        } => {
            each("enable", &fmris, temporary.then_some("-t"))?;
            if sync {
                for f in &fmris {
                    wait(&socket, f, "online")?;
                }
            }
        }
        Cmd::Disable {
            temporary,
            sync,
            fmris,
        } => {
            each("disable", &fmris, temporary.then_some("-t"))?;
            if sync {
                for f in &fmris {
                    wait(&socket, f, "disabled")?;
                }
            }
        }
        Cmd::Restart { fmris } => each("restart", &fmris, None)?,
        Cmd::Refresh { fmris } => each("refresh", &fmris, None)?,
        Cmd::Clear { fmris } => each("clear", &fmris, None)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("svcadm: {e}");
            ExitCode::from(1)
        }
    }
}
