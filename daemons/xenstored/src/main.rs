//! `xenstored`: the XenStore daemon of xvm-lp.
//!
//! Starts as root (or as `xvm` from a service manager), switches to
//! `xvm:xvm` keeping nothing beyond basic, drops proc_fork and proc_exec,
//! confines its files to its run directory, and serves `socket` and
//! `socket_ro` (mode 0666) to peers holding `xvm_control` or `virt_manage`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use privlib::listener::{SocketSpec, UnixServer};
use privlib::os::landlock;
use privlib::{
    InitFlags, Policy, PrivSet, confine_fs, fini_daemon_priv, init_daemon_priv, parse_set,
};
use xenstored::config::{Mode, run_dir};
use xenstored::daemon::{ControlLimits, Daemon, Limits, ManageLimits};
use xenstored::journal::Journal;
use xenstored::server::{DmUids, Endpoint, Server};
use xenstored::start::StartError;
use xenstored::store::{Quota, Store};
use xenstored::txn::TxnLimits;

/// The XenStore daemon.
#[derive(Parser, Debug)]
#[command(name = "xenstored", version)]
struct Args {
    /// Stay in the foreground.
    #[arg(short = 'N', long = "no-fork")]
    no_fork: bool,
    /// Write the daemon's pid to this file.
    #[arg(short = 'F', long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Log every frame in and out to this file.
    #[arg(short = 'T', long = "trace-file")]
    trace_file: Option<PathBuf>,
    /// Nodes a domain may own.
    #[arg(short = 'E', long = "entry-nb", default_value_t = 1000)]
    entry_nb: usize,
    /// Bytes of one node's value.
    #[arg(short = 'S', long = "entry-size", default_value_t = 2048)]
    entry_size: usize,
    /// Watches per domain connection.
    #[arg(short = 'W', long = "watch-nb", default_value_t = 128)]
    watch_nb: usize,
    /// Transactions open at once per domain connection.
    #[arg(short = 't', long = "transaction", default_value_t = 10)]
    transaction: usize,
    /// Permission entries per node.
    #[arg(short = 'A', long = "perm-nb", default_value_t = 5)]
    perm_nb: usize,
    /// Path length past a domain's prefix.
    #[arg(short = 'M', long = "path-max", default_value_t = 2048)]
    path_max: usize,
    /// Nodes one transaction may touch (any peer; ENOSPC past it).
    #[arg(long = "transaction-nodes", default_value_t = TxnLimits::default().nodes)]
    transaction_nodes: usize,
    /// Changes one transaction may keep for its commit (any peer).
    #[arg(long = "transaction-ops", default_value_t = TxnLimits::default().ops)]
    transaction_ops: usize,
    /// Bytes one transaction may hold (any peer).
    #[arg(long = "transaction-memory", default_value_t = TxnLimits::default().bytes)]
    transaction_memory: usize,
    /// Nodes virt_manage peers may create, all of them together.
    #[arg(long = "manage-entry-nb", default_value_t = Quota::manage_default().entry_nb)]
    manage_entry_nb: usize,
    /// Bytes of one node's value written by a virt_manage peer.
    #[arg(long = "manage-entry-size", default_value_t = Quota::manage_default().entry_size)]
    manage_entry_size: usize,
    /// Permission entries per node set by a virt_manage peer.
    #[arg(long = "manage-perm-nb", default_value_t = Quota::manage_default().perm_nb)]
    manage_perm_nb: usize,
    /// Watches per virt_manage connection.
    #[arg(long = "manage-watch-nb", default_value_t = ManageLimits::default().watch_nb)]
    manage_watch_nb: usize,
    /// Transactions open at once per virt_manage connection.
    #[arg(long = "manage-transaction", default_value_t = ManageLimits::default().transaction)]
    manage_transaction: usize,
    /// Watches one xvm_control connection may hold.
    #[arg(long = "control-watch-nb", default_value_t = ControlLimits::default().watch_nb)]
    control_watch_nb: usize,
    /// Transactions one xvm_control connection may have open.
    #[arg(long = "control-transaction", default_value_t = ControlLimits::default().transaction)]
    control_transaction: usize,
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    #[command(flatten)]
    account: privlib::cli::DaemonAccount,
    /// Connections served at once, both sockets together (the last
    /// `--reserved-conns` of them only for xvm_control peers).
    #[arg(long = "max-conns", default_value_t = privlib::GateLimits::default().total)]
    max_conns: usize,
    /// Connections one uid may have served at once.
    #[arg(long = "max-conns-per-uid", default_value_t = privlib::GateLimits::default().per_uid)]
    max_conns_per_uid: usize,
    /// Connections kept for xvm_control peers (the daemons, root).
    #[arg(long = "reserved-conns", default_value_t = privlib::GateLimits::default().reserve)]
    reserved_conns: usize,
}

fn start(a: Args) -> Result<(), StartError> {
    let ids = privlib::procfs::read_cred(std::path::Path::new("/proc"), "self")
        .map_err(StartError::Cred)?;
    let mode = if a.mode.is_system().map_err(StartError::Mode)? {
        Mode::System
    } else {
        Mode::Session
    };
    a.mode.install_log();
    // Before anything is made: a device-model range that a user's own
    // namespace could run as is refused.
    if mode == Mode::System {
        privlib::subid::check_dm_range(a.account.dm_uid_base, a.account.dm_uid_count)
            .map_err(StartError::DmRange)?;
    }
    let dir = run_dir(&mode).map_err(StartError::RunDir)?;
    let (policy, account) = match mode {
        Mode::System => {
            let policy =
                Policy::load_system(&privlib::policy::system_path()).map_err(StartError::Policy)?;
            let user = a.account.lookup().map_err(StartError::Account)?;
            (policy, Some(user))
        }
        Mode::Session => (
            Policy::load(false, ids.uid[1]).map_err(StartError::Policy)?,
            None,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|source| StartError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    // 0711: the 0666 sockets must be reachable, the names in it need not
    // be listed; everything else in it is created 0600 (the journal, its
    // snapshots).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).map_err(
            |source| StartError::ChmodDir {
                dir: dir.clone(),
                source,
            },
        )?;
    }
    if let Some(u) = &account {
        std::os::unix::fs::chown(&dir, Some(u.uid), Some(u.gid)).map_err(|source| {
            StartError::ChownDir {
                dir: dir.clone(),
                source,
            }
        })?;
    }
    let trace = match &a.trace_file {
        Some(p) => Some(
            std::fs::File::create(p).map_err(|source| StartError::TraceFile {
                path: p.clone(),
                source,
            })?,
        ),
        None => None,
    };
    if !a.no_fork {
        privlib::os::daemonize().map_err(StartError::Daemonize)?;
    }
    if let Some(p) = &a.pid_file {
        std::fs::write(p, format!("{}\n", std::process::id())).map_err(|source| {
            StartError::PidFile {
                path: p.clone(),
                source,
            }
        })?;
    }

    // Least privilege, before anything is read from a peer: the account,
    // nothing beyond basic, limit set narrowed, no_new_privs.
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        account.as_ref().map(|u| u.uid),
        account.as_ref().map(|u| u.gid),
        &PrivSet::none(),
    )
    .map_err(StartError::InitPriv)?;

    let quota = Quota {
        entry_nb: a.entry_nb,
        entry_size: a.entry_size,
        perm_nb: a.perm_nb,
    };
    let limits = Limits {
        quota,
        watch_nb: a.watch_nb,
        transaction: a.transaction,
        path_max: a.path_max,
        manage: ManageLimits {
            quota: Quota {
                entry_nb: a.manage_entry_nb,
                entry_size: a.manage_entry_size,
                perm_nb: a.manage_perm_nb,
            },
            watch_nb: a.manage_watch_nb,
            transaction: a.manage_transaction,
        },
        control: ControlLimits {
            watch_nb: a.control_watch_nb,
            transaction: a.control_transaction,
        },
        txn: TxnLimits {
            nodes: a.transaction_nodes,
            ops: a.transaction_ops,
            bytes: a.transaction_memory,
        },
    };
    let mut daemon = Daemon::new(Store::new(quota), limits);
    let journal = Journal::open(&dir.join("tdb"), &mut daemon).map_err(StartError::Journal)?;
    let spec = SocketSpec {
        mode: 0o666,
        owner: None,
    };
    let endpoints = vec![
        Endpoint {
            server: UnixServer::bind(&dir.join("socket"), spec).map_err(StartError::Bind)?,
            read_only: false,
        },
        Endpoint {
            server: UnixServer::bind(&dir.join("socket_ro"), spec).map_err(StartError::Bind)?,
            read_only: true,
        },
    ];

    // What xenstored never uses goes for good: forking, exec, and every
    // file outside its run directory (and /proc, to read peers).
    let never = parse_set("proc_fork,proc_exec").map_err(StartError::NeverSet)?;
    fini_daemon_priv(&never).map_err(StartError::FiniPriv)?;
    let rw = landlock::READ | landlock::WRITE;
    confine_fs(&[
        (dir.as_path(), rw),
        (std::path::Path::new("/proc"), landlock::READ),
    ])
    .map_err(StartError::Confine)?;

    tracing::info!(dir = %dir.display(), nodes = daemon.store.len(), "xenstored serving");
    let dm = DmUids {
        base: a.account.dm_uid_base,
        count: a.account.dm_uid_count,
    };
    let mut server = Server::new(daemon, Some(journal), policy, dm, endpoints);
    if let Some(t) = trace {
        server.trace_to(t);
    }
    server.limits(privlib::GateLimits {
        total: a.max_conns,
        per_uid: a.max_conns_per_uid,
        reserve: a.reserved_conns.min(a.max_conns),
        ..privlib::GateLimits::default()
    });
    server.run().map_err(StartError::EventLoop)
}

fn main() -> ExitCode {
    match start(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenstored: {e}");
            ExitCode::from(1)
        }
    }
}
