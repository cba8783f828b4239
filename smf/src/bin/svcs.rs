//! `svcs`: the state of the services.
//!
//! ```text
//! svcs [-a] [-p] [FMRI...]   STATE STIME FMRI (-p: each process, uid, privileges)
//! svcs -l FMRI...            everything about an instance
//! svcs -x [FMRI...]          what is wrong, and why
//! ```

use std::process::ExitCode;

use clap::Parser;
use smf::control::{client_socket, request};

/// Reports service status.
#[derive(Parser, Debug)]
#[command(name = "svcs", version)]
struct Args {
    /// Also disabled instances.
    #[arg(short = 'a')]
    all: bool,
    /// Each instance's processes with uid and privileges.
    #[arg(short = 'p')]
    procs: bool,
    /// Everything about each named instance.
    #[arg(short = 'l')]
    long: bool,
    /// Instances that are not running as they should, and why.
    #[arg(short = 'x')]
    explain: bool,
    #[command(flatten)]
    mode: privlib::cli::ClientMode,
    /// Instances (default: all).
    fmris: Vec<String>,
}

struct Row {
    state: String,
    stime: String,
    fmri: String,
    pid: i32,
    uid: String,
    reason: String,
}

fn rows(socket: &std::path::Path) -> Result<Vec<Row>, String> {
    request(socket, &["list"])
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.splitn(6, '\t').collect();
            let [state, stime, fmri, pid, uid, reason] = f[..] else {
                return Err(format!("svc-startd sent an odd line: {l}"));
            };
            Ok(Row {
                state: state.into(),
                stime: stime.into(),
                fmri: fmri.into(),
                pid: pid.parse().unwrap_or(0),
                uid: uid.into(),
                reason: reason.into(),
            })
        })
        .collect()
}

fn matches(row: &Row, pats: &[String]) -> bool {
    pats.is_empty()
        || pats.iter().any(|p| {
            smf::fmri::Fmri::parse(p).is_ok_and(|f| {
                let want = f.to_string();
                row.fmri == want || row.fmri.starts_with(&format!("{want}:"))
            }) || row.fmri.ends_with(&format!("/{p}"))
                || row.fmri.contains(&format!("/{p}:"))
        })
}

fn procs(pid: i32) -> String {
    if pid <= 0 {
        return String::new();
    }
    match privlib::procfs::read_cred(std::path::Path::new("/proc"), &pid.to_string()) {
        Ok(c) => {
            let s = c.sets();
            let mut line = format!(
                "               {pid} {} uid={} gid={} E: {}",
                c.name, c.uid[1], c.gid[1], s.effective
            );
            if c.basic_unknown() {
                line.push_str(" (seccomp: basic may be fewer)");
            }
            line
        }
        Err(e) => format!("               {pid} ({e})"),
    }
}

fn run(a: Args) -> Result<bool, String> {
    let socket = client_socket(a.mode.session).map_err(|e| e.to_string())?;
    if a.long {
        if a.fmris.is_empty() {
            return Err("-l needs an FMRI".into());
        }
        for f in &a.fmris {
            for l in request(&socket, &["show", f]).map_err(|e| e.to_string())? {
                let (k, v) = l.split_once('\t').unwrap_or((&l, ""));
                println!("{k:<12}{v}");
            }
            println!();
        }
        return Ok(true);
    }
    let rows = rows(&socket)?;
    if a.explain {
        let mut any = false;
        for r in rows.iter().filter(|r| matches(r, &a.fmris)) {
            if matches!(
                r.state.as_str(),
                "maintenance" | "offline" | "uninitialized"
            ) || !a.fmris.is_empty()
            {
                any = true;
                println!("{} ({})", r.fmri, r.state);
                println!(" State: {} since {}", r.state, r.stime);
                println!("Reason: {}", r.reason);
                if let Ok(show) = request(&socket, &["show", &r.fmri])
                    && let Some(log) = show.iter().find_map(|l| l.strip_prefix("logfile\t"))
                {
                    println!("   See: {log}");
                }
                println!();
            }
        }
        if !any {
            println!("every enabled service is online");
        }
        return Ok(true);
    }
    println!("{:<14}{:<10}FMRI", "STATE", "STIME");
    for r in rows.iter().filter(|r| matches(r, &a.fmris)) {
        if r.state == "disabled" && !a.all && a.fmris.is_empty() {
            continue;
        }
        println!("{:<14}{:<10}{}", r.state, r.stime, r.fmri);
        if a.procs && r.pid > 0 {
            println!("{}  (started as uid {})", procs(r.pid), r.uid);
        }
    }
    Ok(true)
}

fn main() -> ExitCode {
    smf::cli::exit(Some("svcs"), run(Args::parse()))
}
