//! `xvm-fixperms [--dry-run] [--root DIR] [--user xvm] [--group xvm]`:
//! makes the xVM directories of an existing installation owned by xvm:xvm
//! with the right modes. One line per change; `--dry-run` prints them and
//! changes nothing. Only regular files and directories are changed.
//! Symlinks are never followed; each one met is reported on stderr and
//! left alone, as are device nodes, fifos and sockets (each named with its
//! kind, in a dry run too) and a file with other hard links. Exit 1
//! when something could not be fixed (a listed directory behind a symlink
//! counts: nothing was fixed there).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use privlib::os::accounts;
use smf::fixperms::{Plan, Report, SESSION_DIRS, SYSTEM_DIRS};

/// Fixes ownership and modes of the xVM directories.
#[derive(Parser, Debug)]
#[command(name = "xvm-fixperms", version)]
struct Args {
    /// Print the changes, make none.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
    /// The root of the installation (default: $XVM_ROOT, else /).
    #[arg(long)]
    root: Option<PathBuf>,
    /// The owner.
    #[arg(long, default_value = "xvm")]
    user: String,
    /// The group.
    #[arg(long, default_value = "xvm")]
    group: String,
    /// Session mode: `$XDG_RUNTIME_DIR/xvm`, yours, private.
    #[arg(long, conflicts_with_all = ["system", "root"])]
    session: bool,
    /// System mode (the default).
    #[arg(long)]
    system: bool,
}

fn run(a: Args) -> Result<bool, String> {
    if a.session {
        let ids = privlib::procfs::read_cred(std::path::Path::new("/proc"), "self")
            .map_err(|e| e.to_string())?;
        return Ok(report(
            Plan {
                root: privlib::mode::session_run().map_err(|e| e.to_string())?,
                uid: ids.uid[1],
                gid: ids.gid[1],
                dry_run: a.dry_run,
                dirs: &SESSION_DIRS,
            }
            .run(),
        ));
    }
    let user = accounts::user_by_name(&a.user)
        .map_err(|e| format!("looking up {}: {e}", a.user))?
        .ok_or_else(|| format!("no user \"{}\" (manifests/sysusers.d/xvm.conf)", a.user))?;
    let gid = accounts::group_by_name(&a.group)
        .map_err(|e| format!("looking up group {}: {e}", a.group))?
        .ok_or_else(|| format!("no group \"{}\"", a.group))?
        .gid;
    let root = a.root.unwrap_or_else(privlib::mode::xvm_root);
    Ok(report(
        Plan {
            root,
            uid: user.uid,
            gid,
            dry_run: a.dry_run,
            dirs: &SYSTEM_DIRS,
        }
        .run(),
    ))
}

/// Prints the report; whether everything listed could be fixed.
fn report(r: Report) -> bool {
    for c in &r.changes {
        println!("{c}");
    }
    for p in &r.left_alone {
        eprintln!("xvm-fixperms: {p}");
    }
    for f in &r.failures {
        eprintln!("xvm-fixperms: {f}");
    }
    r.failures.is_empty()
}

fn main() -> ExitCode {
    smf::cli::exit(Some("xvm-fixperms"), run(Args::parse()))
}
