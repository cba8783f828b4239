//! `ppriv`: print or change privilege sets, like illumos ppriv(1).

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use privlib::{PrivSet, SetSpec, last_cap, ppriv};

/// Print or change process privilege sets.
#[derive(Parser, Debug)]
#[command(
    name = "ppriv",
    about = "Print or change process privilege sets (illumos ppriv on Linux)"
)]
struct Args {
    /// List privileges (optionally only those in the given sets).
    #[arg(short = 'l')]
    list: bool,
    /// Verbose: every privilege by name; with -l, each one's Linux backing.
    #[arg(short = 'v')]
    verbose: bool,
    /// Run the command given as the remaining arguments with changed sets.
    #[arg(short = 'e')]
    exec: bool,
    /// A set change: [AEILP][+-=]privileges (A: all sets).
    #[arg(short = 's', value_name = "SPEC")]
    spec: Vec<String>,
    /// PIDs (or `self`), privilege sets with -l, or the command with -e.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let last = last_cap();
    if a.list {
        if a.exec || !a.spec.is_empty() {
            eprintln!("ppriv: -l cannot be combined with -e or -s");
            return ExitCode::from(2);
        }
        if a.args.is_empty() {
            print!("{}", ppriv::list(None, a.verbose, last));
        }
        for arg in &a.args {
            match PrivSet::parse(&arg.to_string_lossy(), last) {
                Ok(s) => print!("{}", ppriv::list(Some(&s), a.verbose, last)),
                Err(e) => {
                    eprintln!("ppriv: {}: bad privilege list: {e}", arg.to_string_lossy());
                    return ExitCode::from(3);
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let specs: Result<Vec<SetSpec>, _> = a.spec.iter().map(|s| SetSpec::parse(s, last)).collect();
    let specs = match specs {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ppriv: {e}");
            return ExitCode::from(3);
        }
    };
    if a.exec {
        return match ppriv::exec(&specs, &a.args) {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                ExitCode::from(u8::try_from(code).unwrap_or(255))
            }
            // A set Linux cannot make is a bad specification: nothing ran.
            Err(e @ ppriv::ExecError::HeldAnyway { .. }) => {
                eprintln!("ppriv: {e}");
                ExitCode::from(3)
            }
            Err(e) => {
                eprintln!("ppriv: {e}");
                ExitCode::from(255)
            }
        };
    }
    if !specs.is_empty() {
        eprintln!(
            "ppriv: Linux cannot change another process's sets; use -e to start a command with them"
        );
        return ExitCode::from(2);
    }
    let pids = if a.args.is_empty() {
        vec![OsString::from("self")]
    } else {
        a.args
    };
    let mut failures = 0u8;
    for pid in &pids {
        match ppriv::show_pid(Path::new("/proc"), &pid.to_string_lossy(), a.verbose) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("ppriv: {e}");
                failures = failures.saturating_add(1);
            }
        }
    }
    ExitCode::from(failures)
}
