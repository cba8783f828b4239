//! `xend`: the domain manager. JSON-RPC 2.0 on `<run>/xend/xmlrpc.sock`
//! (mode 0666; peers need `xvm_control` or `virt_manage`).
//!
//! System mode: started as root (or as xvm), it becomes xvm:xvm keeping
//! only `proc_setid`, bracketed (see
//! [`xend::privs`]). Session mode: the invoking user, domains as that user.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use privlib::mode::xvm_root;
use privlib::os::accounts;
use privlib::{GateLimits, InitFlags, Policy, init_daemon_priv, parse_set, priv_bracket_init};
use xend::domain::Settings;
use xend::layout::Layout;
use xend::manager::Manager;
use xend::server::Xend;

/// The domain manager.
#[derive(Parser, Debug)]
#[command(name = "xend", version)]
struct Args {
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    #[command(flatten)]
    account: privlib::cli::DaemonAccount,
    /// Disk images must be beneath one of these (repeatable).
    #[arg(long = "image-dir")]
    image_dirs: Vec<PathBuf>,
    /// The qemu binary.
    #[arg(long, default_value = xend::dm::QEMU)]
    qemu: PathBuf,
    /// Seconds a shutdown may take before the domain is destroyed.
    #[arg(long = "shutdown-timeout", default_value_t = 60)]
    shutdown_timeout: u64,
    /// Connections served at once (the last 64 only for xvm_control).
    #[arg(long = "max-conns", default_value_t = 256)]
    max_conns: usize,
    /// Connections one user may have served at once.
    #[arg(long = "max-conns-per-uid", default_value_t = 32)]
    max_conns_per_uid: usize,
}

/// KVM when /dev/kvm is a device the `kvm` group (system) or we
/// (session) may use.
fn kvm(system: bool) -> (bool, Option<u32>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata("/dev/kvm") else {
        return (false, None);
    };
    if system {
        let gid = m.gid();
        let usable = m.mode() & 0o060 == 0o060 && gid != 0;
        (usable, usable.then_some(gid))
    } else {
        let ok = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        (ok, None)
    }
}

fn run(a: Args) -> Result<(), String> {
    let ids = privlib::procfs::read_cred(Path::new("/proc"), "self").map_err(|e| e.to_string())?;
    let system = a.mode.is_system().map_err(|e| e.to_string())?;
    a.mode.install_log();
    let layout = if system {
        Layout::system(&xvm_root())
    } else {
        Layout::session().map_err(|e| e.to_string())?
    };
    let image_dirs = if a.image_dirs.is_empty() {
        layout.image_dirs.clone()
    } else {
        a.image_dirs
    };
    let policy = Policy::load(system, ids.uid[1]).map_err(|e| e.to_string())?;
    let account = if system {
        Some(
            accounts::user_by_name(&a.account.user)
                .map_err(|e| format!("looking up {}: {e}", a.account.user))?
                .ok_or_else(|| {
                    format!(
                        "no account \"{}\" (manifests/sysusers.d/xvm.conf)",
                        a.account.user
                    )
                })?,
        )
    } else {
        None
    };
    layout
        .prepare(account.as_ref())
        .map_err(|e| e.to_string())?;
    // Device models under their own uids: system mode, or root in session
    // mode (a device model never runs as root).
    let dm_range = system || ids.uid[1] == 0;
    if dm_range {
        privlib::subid::check_dm_range(a.account.dm_uid_base, a.account.dm_uid_count)
            .map_err(|e| e.to_string())?;
    }
    let (use_kvm, kvm_gid) = kvm(dm_range);

    // Least privilege: xvm, and in P only what starting and ending device
    // models takes, raised around those steps alone.
    let keep = if dm_range {
        parse_set(xend::privs::KEEP).map_err(|e| e.to_string())?
    } else {
        privlib::PrivSet::basic()
    };
    init_daemon_priv(
        InitFlags::RESETGROUPS | InitFlags::LIMITPRIVS,
        account.as_ref().map(|u| u.uid),
        account.as_ref().map(|u| u.gid),
        &keep,
    )
    .map_err(|e| format!("init_daemon_priv: {e}"))?;
    if dm_range {
        priv_bracket_init(&parse_set(xend::privs::BRACKETED).map_err(|e| e.to_string())?)
            .map_err(|e| format!("bracketing proc_setid: {e}"))?;
    }

    // As the account now: what it keeps its state in must be its own.
    layout
        .check(account.as_ref().map_or(ids.uid[1], |u| u.uid))
        .map_err(|e| e.to_string())?;

    let socket = layout.run.join("xmlrpc.sock");
    let server = xend::server::bind(&socket).map_err(|e| e.to_string())?;
    let endpoint = socket.display().to_string();
    let mut m = Manager::new(Settings {
        system,
        dm_range,
        run: layout.run.clone(),
        image_dirs,
        dm_uid_base: a.account.dm_uid_base,
        dm_uid_count: a.account.dm_uid_count,
        kvm: use_kvm,
        kvm_gid,
        xenstore: layout.xenstore.clone(),
        qemu: a.qemu,
        shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        managed: layout.managed.clone(),
    });
    m.adopt_all();
    let domains = m.domains.len();
    let xend = Arc::new(Xend::new(m, policy, endpoint.clone()));
    // Threads from here on: the privilege drop above is done.
    let gate = xend::server::gate(GateLimits {
        total: a.max_conns,
        per_uid: a.max_conns_per_uid,
        ..GateLimits::default()
    })
    .map_err(|e| format!("connection gate: {e}"))?;
    {
        let xend = Arc::clone(&xend);
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || {
                if let Err(e) = xend.serve(&server, &gate) {
                    tracing::error!("accepting on xend's socket: {e}");
                    std::process::exit(1);
                }
            })
            .map_err(|e| format!("accept thread: {e}"))?;
    }
    tracing::info!(mode = if system { "system" } else { "session" }, socket = %endpoint, kvm = use_kvm, domains, "xend serving");
    // This thread looks after the domains: device models that end,
    // shutdowns past their deadline, VNC clients to hand over.
    match xend.watch() {
        Err(e) => Err(format!("poll: {e}")),
    }
}
fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xend: {e}");
            ExitCode::from(1)
        }
    }
}
