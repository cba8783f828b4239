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
use smf::control::{ClientError, client_socket, request};

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

/// What svcadm fails with; main prints it as one line.
#[derive(Debug, thiserror::Error)]
enum SvcadmError {
    /// Which restarter to talk to could not be decided.
    #[error("{0}")]
    Socket(#[source] privlib::mode::ModeError),
    /// The restarter could not be asked, or refused, about an instance.
    #[error("{fmri}: {source}")]
    Request {
        /// The instance.
        fmri: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// `-s`: the instance went to maintenance instead.
    #[error("{fmri} went to maintenance: {reason}")]
    Maintenance {
        /// The instance.
        fmri: String,
        /// The restarter's reason.
        reason: String,
    },
    /// `-s`: the instance did not reach the state in time.
    #[error("{fmri} is {state}, not {want}, after {} s: {reason}", WAIT.as_secs())]
    Timeout {
        /// The instance.
        fmri: String,
        /// Its state at the deadline.
        state: String,
        /// The state waited for.
        want: String,
        /// The restarter's reason.
        reason: String,
    },
}

/// How long `-s` waits for an instance's state.
const WAIT: Duration = Duration::from_secs(120);

fn ask(socket: &std::path::Path, fields: &[&str]) -> Result<Vec<String>, SvcadmError> {
    request(socket, fields).map_err(|source| SvcadmError::Request {
        fmri: fields.get(1).copied().unwrap_or_default().to_string(),
        source,
    })
}

fn state_of(socket: &std::path::Path, fmri: &str) -> Result<(String, String), SvcadmError> {
    let show = ask(socket, &["show", fmri])?;
    let get = |k: &str| {
        show.iter()
            .find_map(|l| l.strip_prefix(&format!("{k}\t")))
            .unwrap_or("")
            .to_string()
    };
    Ok((get("state"), get("reason")))
}

fn wait(socket: &std::path::Path, fmri: &str, want: &str) -> Result<(), SvcadmError> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (state, reason) = state_of(socket, fmri)?;
        if state == want {
            return Ok(());
        }
        if state == "maintenance" && want != "maintenance" {
            return Err(SvcadmError::Maintenance {
                fmri: fmri.to_string(),
                reason,
            });
        }
        if Instant::now() > deadline {
            return Err(SvcadmError::Timeout {
                fmri: fmri.to_string(),
                state,
                want: want.to_string(),
                reason,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(a: Args) -> Result<(), SvcadmError> {
    let socket = client_socket(a.mode.session).map_err(SvcadmError::Socket)?;
    let each = |verb: &str, fmris: &[String], extra: Option<&str>| -> Result<(), SvcadmError> {
        for f in fmris {
            let mut fields = vec![verb, f.as_str()];
            fields.extend(extra);
            ask(&socket, &fields)?;
        }
        Ok(())
    };
    // enable/disable, then (-s) wait for the state each should reach.
    let change = |verb: &str, want: &str, c: &Change| -> Result<(), SvcadmError> {
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
