//! `xenconsole [--type serial|pv] [--num N] DOMID|NAME`: attaches the
//! terminal to a domain's console. Installed setuid root (at
//! `R/usr/lib/xen/bin/xenconsole`), it keeps only what opening the
//! console takes and gives even that up before the first byte passes.
//!
//! The order of a set-id run (each step refuses with one line
//! `xenconsole: ...` and exit status 1, before any byte of the guest):
//! 1. `init_suid_priv(CLEARLIMITSET, file_dac_write)`: every id becomes
//!    the caller's, the bounding set empty, no_new_privs and locked
//!    securebits; CAP_DAC_OVERRIDE stays permitted, not effective (see
//!    `open` for why file_dac_read is not kept).
//! 2. The command line; the root R from `/proc/self/exe`, checked (see
//!    `root`); no environment variable is read (privlib's
//!    `secure_exec()`).
//! 3. The caller's privilege: the policy `R/etc/xvm/privileges.toml`, with
//!    the real uid, the real gid and getgroups; `xvm_control` or
//!    `virt_manage`.
//! 4. xenstored at `R/run/xenstored/socket`, as the caller; the domain by
//!    id or name, its tty key (bounded).
//! 5. The pty, opened with no symlink followed, checked to be a pty slave
//!    of xvm's, mode 0600, file_dac_write raised around the one open
//!    (see `open`); its record lock, or the pid of the client holding it.
//! 6. `relinquish()`, then `/proc/self/status` read back: all uids and
//!    gids the caller's, every capability set zero, NoNewPrivs 1; or
//!    abort.
//! 7. The terminal raw, the bytes pumped, the modes restored (see `pump`).
//!
//! A run that is not set-id (a session build, or root) holds nothing it
//! could give up, reads its paths as every client of the stack does
//! (`XENSTORED_PATH`, `XENSTORED_RUNDIR`, `XVM_ROOT`, `XDG_RUNTIME_DIR`;
//! `--session` for the user's own stack, whose console pty is the
//! user's), and skips steps 1 and 6.

mod creds;
mod open;
mod pump;
mod root;
mod store;

use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;
use privlib::mode::{ModeError, client_socket, secure_exec};
use privlib::names::{virt_manage, xvm_control};
use privlib::os::tty::lock_or_holder;
use privlib::{Denied, InitFlags, Policy, PolicyError, PrivError, Ucred, require_any};
use xenstored::config::{Mode, run_dir};

use crate::creds::{Caller, CredError};
use crate::open::{OpenError, Owner, open_console};
use crate::pump::{End, PumpError, attach};
use crate::root::RootError;
use crate::store::{ConsoleType, Store, StoreError, tty_key};

/// What `--help` says.
const ABOUT: &str = "Attaches the terminal to a domain's console; Ctrl-] detaches.";

/// What `--help` says after the options.
const AFTER: &str = "Without --type, the console is the domain's first serial port \
(serial 0), which is what `xl console` picks for an HVM guest: every xvm-lp guest is one, \
and its PV console key names the same pty.";

/// The command line.
#[derive(clap::Parser, Debug)]
#[command(name = "xenconsole", version, about = ABOUT, after_help = AFTER)]
struct Args {
    /// Which kind of console.
    #[arg(short = 't', long = "type", value_enum, default_value_t = ConsoleType::Serial)]
    kind: ConsoleType,
    /// Which console of that kind.
    #[arg(short = 'n', long, default_value_t = 0)]
    num: u32,
    /// The invoking user's own stack (session mode); not for a set-id run.
    #[arg(long)]
    session: bool,
    /// The domain: its id or its name.
    domain: String,
}

/// Why xenconsole did not attach; printed as its one line.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// init_suid_priv, relinquish.
    #[error("giving up privileges: {0}")]
    Priv(#[source] PrivError),
    /// The privilege set named here does not parse (a bug).
    #[error("privilege set: {0}")]
    Set(#[source] privlib::SetError),
    /// A bad command line: clap's first line.
    #[error("{0}")]
    Usage(String),
    /// `--session` in a set-id run.
    #[error(
        "--session: this xenconsole is set-id and serves the system stack only; a session uses the xenconsole built with its xm"
    )]
    SessionSetId,
    /// R cannot be trusted.
    #[error("{0}")]
    Root(#[from] RootError),
    /// Who the caller is, or what is left of root.
    #[error("{0}")]
    Creds(#[from] CredError),
    /// Which stack could not be decided.
    #[error("{0}")]
    Mode(#[source] ModeError),
    /// The session run directory is not known.
    #[error("{0}")]
    RunDir(#[source] xenstored::config::ConfigError),
    /// The policy file is refused.
    #[error("{0}")]
    Policy(#[source] PolicyError),
    /// The caller holds neither privilege.
    #[error("uid {uid}: {denied}")]
    Denied {
        /// The caller.
        uid: u32,
        /// What is missing.
        denied: Denied,
    },
    /// The console daemon's account is unknown.
    #[error("no account xvm, which owns the consoles")]
    NoXvm,
    /// The account database failed.
    #[error("looking up the account xvm: {0}")]
    Account(#[source] std::io::Error),
    /// The store or the domain.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The pty was refused.
    #[error("domain {domain}: {key}: {source}")]
    Console {
        /// The domain.
        domain: String,
        /// The tty key.
        key: String,
        /// Why.
        #[source]
        source: OpenError,
    },
    /// Another client holds the console.
    #[error("domain {domain}: console in use by pid {pid}")]
    InUse {
        /// The domain.
        domain: String,
        /// The other client.
        pid: i32,
    },
    /// The lock could not be asked for.
    #[error("domain {domain}: locking the console: {source}")]
    Lock {
        /// The domain.
        domain: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The session failed.
    #[error("{0}")]
    Pump(#[from] PumpError),
}

/// Where the stack is, and whose consoles it has.
struct Stack {
    /// xenstored's socket.
    store: PathBuf,
    /// System mode (the policy file, consoles xvm's) or session mode
    /// (the caller only, consoles the caller's).
    system: bool,
    /// The policy file (system mode).
    policy: PathBuf,
}

/// The command line, clap's errors as one line (help and version as clap
/// prints them).
fn args() -> Result<Args, Failure> {
    Args::try_parse().map_err(|e| match e.kind() {
        clap::error::ErrorKind::DisplayHelp
        | clap::error::ErrorKind::DisplayVersion
        | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad command line");
            Failure::Usage(first.trim_start_matches("error: ").to_string())
        }
    })
}

/// A set-id run's stack: R's, and only R's.
fn set_id_stack(a: &Args) -> Result<Stack, Failure> {
    if a.session {
        return Err(Failure::SessionSetId);
    }
    let r = root::trusted_root()?;
    Ok(Stack {
        store: r.join("run/xenstored/socket"),
        system: true,
        policy: r.join("etc/xvm/privileges.toml"),
    })
}

/// A plain run's stack, chosen as every client chooses it.
fn plain_stack(a: &Args) -> Result<Stack, Failure> {
    let own = run_dir(&Mode::Session).ok().map(|d| d.join("socket"));
    let system = run_dir(&Mode::System)
        .map_err(Failure::RunDir)?
        .join("socket");
    let picked = client_socket(a.session, system.clone(), own).map_err(Failure::Mode)?;
    let session = a.session || picked != system;
    Ok(Stack {
        store: privlib::mode::env_path("XENSTORED_PATH").unwrap_or(picked),
        system: !session,
        policy: privlib::policy::system_path(),
    })
}

/// Whose the console pty must be.
fn owner(stack: &Stack, who: &Caller) -> Result<Owner, Failure> {
    if stack.system {
        let u = privlib::os::accounts::user_by_name("xvm")
            .map_err(Failure::Account)?
            .ok_or(Failure::NoXvm)?;
        return Ok(Owner {
            name: u.name,
            uid: u.uid,
        });
    }
    let name = privlib::os::accounts::user_by_uid(who.uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {}", who.uid), |u| u.name);
    Ok(Owner { name, uid: who.uid })
}

/// Takes the console's record lock, or names the client holding it. A
/// holder that lets go between the two fcntl calls is seen as pid 0: the
/// lock is then asked for again, a few times.
fn lock(tty: &std::fs::File, domain: &str) -> Result<(), Failure> {
    for _ in 0..3 {
        match lock_or_holder(tty.as_fd()) {
            Ok(None) => return Ok(()),
            Ok(Some(0)) => continue,
            Ok(Some(pid)) => {
                return Err(Failure::InUse {
                    domain: domain.into(),
                    pid,
                });
            }
            Err(source) => {
                return Err(Failure::Lock {
                    domain: domain.into(),
                    source,
                });
            }
        }
    }
    Err(Failure::Lock {
        domain: domain.into(),
        source: std::io::Error::other("another client takes and drops it repeatedly"),
    })
}

/// Steps 1 to 7 of the module comment; the domain's name and how the
/// session ended.
fn run() -> Result<(String, End), Failure> {
    let set_id = secure_exec();
    // 1. Before anything else reads the caller's input.
    if set_id {
        let keep = privlib::parse_set("file_dac_write").map_err(Failure::Set)?;
        privlib::init_suid_priv(InitFlags::CLEARLIMITSET, &keep).map_err(Failure::Priv)?;
    }
    // 2.
    let a = args()?;
    let stack = if set_id {
        set_id_stack(&a)?
    } else {
        plain_stack(&a)?
    };
    // 3.
    let who = creds::caller()?;
    let policy = if stack.system {
        Policy::load_system(&stack.policy)
    } else {
        Policy::load(false, who.uid)
    }
    .map_err(Failure::Policy)?;
    let peer = Ucred::from_uid(who.uid, who.gid, who.groups.clone(), "xenconsole's caller");
    require_any(
        &policy,
        &peer,
        "xenconsole",
        &[xvm_control(), virt_manage()],
    )
    .map_err(|denied| Failure::Denied {
        uid: who.uid,
        denied,
    })?;
    let owner = owner(&stack, &who)?;
    // 4.
    let mut store = Store::connect(stack.store)?;
    let domain = store.find(&a.domain)?;
    let key = tty_key(a.kind, a.num);
    let path = store.tty(&domain, &key)?;
    drop(store);
    // 5.
    let tty = open_console(&path, &owner).map_err(|source| Failure::Console {
        domain: domain.name.clone(),
        key,
        source,
    })?;
    lock(&tty, &domain.name)?;
    // 6.
    privlib::relinquish().map_err(Failure::Priv)?;
    if set_id {
        creds::verify_relinquished(&who)?;
    }
    // 7.
    Ok((domain.name, attach(tty)?))
}

fn main() -> ExitCode {
    match run() {
        Ok((_, End::Detached | End::StdinEof | End::TerminalGone)) => ExitCode::SUCCESS,
        Ok((name, End::ConsoleClosed)) => {
            eprintln!("xenconsole: domain {name}: console closed");
            ExitCode::SUCCESS
        }
        Ok((_, End::Signal(sig))) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(255)),
        Err(e) => {
            eprintln!("xenconsole: {e}");
            ExitCode::from(1)
        }
    }
}
