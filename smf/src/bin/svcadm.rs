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

use clap::Subcommand;
use smf::control::{client_socket, request};

/// The command line: `--session` and one verb.
type Args = privlib::cli::ClientArgs<Cmd>;

/// What `--help` says the tool is.
const ABOUT: &str = "Manipulates service instances.";

/// The instances a verb acts on.
#[derive(clap::Args, Debug)]
struct Instances {
    /// Instances.
    #[arg(required = true)]
    fmris: Vec<String>,
}

/// How `enable` and `disable` change instances.
#[derive(clap::Args, Debug)]
struct Change {
    /// Until svc-startd restarts only.
    #[arg(short = 't')]
    temporary: bool,
    /// Wait until each is online (enable; or fails) or stopped (disable).
    #[arg(short = 's')]
    sync: bool,
    #[command(flatten)]
    instances: Instances,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Enables instances.
    Enable(Change),
    /// Disables instances.
    Disable(Change),
    /// Restarts online instances.
    Restart(Instances),
    /// Re-reads the properties of instances.
    Refresh(Instances),
    /// Takes instances out of maintenance.
    Clear(Instances),
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
    let socket = client_socket(a.mode.session).map_err(|e| e.to_string())?;
    let each = |verb: &str, fmris: &[String], extra: Option<&str>| -> Result<(), String> {
        for f in fmris {
            let mut fields = vec![verb, f.as_str()];
            fields.extend(extra);
            request(&socket, &fields).map_err(|e| format!("{f}: {e}"))?;
        }
        Ok(())
    };
    // enable/disable, then (-s) wait for the state each should reach.
    let change = |verb: &str, want: &str, c: &Change| -> Result<(), String> {
        each(verb, &c.instances.fmris, c.temporary.then_some("-t"))?;
        if c.sync {
            for f in &c.instances.fmris {
                wait(&socket, f, want)?;
            }
        }
        Ok(())
    };
    match &a.cmd {
        Cmd::Enable(c) => change("enable", "online", c)?,
        Cmd::Disable(c) => change("disable", "disabled", c)?,
        Cmd::Restart(i) => each("restart", &i.fmris, None)?,
        Cmd::Refresh(i) => each("refresh", &i.fmris, None)?,
        Cmd::Clear(i) => each("clear", &i.fmris, None)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    smf::cli::exit(
        Some("svcadm"),
        run(Args::parse_as("svcadm", ABOUT)).map(|()| true),
    )
}
