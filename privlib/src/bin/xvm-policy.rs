//! `xvm-policy`: check a policy file, or show what it grants a user.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privlib::names::{virt_manage, xvm_control};
use privlib::os::accounts;
use privlib::peer::Ucred;
use privlib::policy::{self, Policy};

/// Check the xVM privilege policy, or show what it grants.
#[derive(Parser, Debug)]
#[command(name = "xvm-policy")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate a policy file (default: the system one) by the rules the
    /// daemons apply in system mode: a regular file of at most 64 KiB that
    /// only root could have written (it, and every directory the kernel
    /// passes through to reach it), which parses. Prints nothing and exits
    /// 0 when it is usable, else FILE:LINE:COLUMN: why, and exits 1.
    Check {
        /// The file.
        file: Option<PathBuf>,
        /// Check it as a session-mode file (~/.config/xvm/privileges.toml):
        /// owned by anyone, otherwise the same rules.
        #[arg(long)]
        session: bool,
    },
    /// Print the privileges the policy grants USER (name or uid) and why.
    Who {
        /// The user.
        user: String,
        /// The policy file (default: the system one).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// Loads the file exactly as a daemon would: in system mode unless
/// `session`. (The one line a failure prints is the error's own text.)
fn load(file: Option<PathBuf>, session: bool) -> Result<Policy, String> {
    let path = file.unwrap_or_else(policy::system_path);
    let loaded = if session {
        Policy::load_session_file(&path)
    } else {
        Policy::load_system(&path)
    };
    loaded.map_err(|e| e.to_string())
}

fn who(user: &str, file: Option<PathBuf>) -> Result<String, String> {
    let policy = load(file, false)?;
    let found = match user.parse::<u32>() {
        Ok(uid) => accounts::user_by_uid(uid),
        Err(_) => accounts::user_by_name(user),
    }
    .map_err(|e| format!("looking up {user}: {e}"))?
    .ok_or_else(|| format!("no such user: {user}"))?;
    let groups = accounts::group_list(&found).map_err(|e| format!("groups of {user}: {e}"))?;
    let peer = Ucred::from_uid(found.uid, found.gid, groups, "account database");
    let mut out = format!("{} (uid {}):\n", found.name, found.uid);
    for p in [xvm_control(), virt_manage()] {
        let line = match policy.holds(&peer, p) {
            Some(why) => format!("  {}: yes, by {why}\n", p.name()),
            None => {
                let caps = policy.grants(p).map(|g| g.caps).filter(|c| !c.is_empty());
                match caps {
                    Some(c) => format!(
                        "  {}: no (only a process of theirs holding {c})\n",
                        p.name()
                    ),
                    None => format!("  {}: no\n", p.name()),
                }
            }
        };
        out.push_str(&line);
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.cmd {
        Cmd::Check { file, session } => load(file, session).map(|_| String::new()),
        Cmd::Who { user, file } => who(&user, file),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xvm-policy: {e}");
            ExitCode::from(1)
        }
    }
}
