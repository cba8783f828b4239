//! `svc-startd`: the restarter. Reads the manifests, starts the enabled
//! instances in dependency order, each with the credential its manifest
//! gives, restarts what dies, puts what keeps dying into maintenance, and
//! answers svcs/svcadm/svcprop/svccfg on its control socket. SIGTERM or
//! SIGINT stops every instance, dependents first, then the restarter.
//!
//! It keeps only what starting the services takes: proc_setid (to give
//! each its uid, gid and sets), proc_owner (to signal them), and the
//! privileges the manifests hand out (a restarter cannot give what it does
//! not hold).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use privlib::listener::{SocketSpec, UnixServer};
use privlib::os::poll::{POLLIN, poll, pollfd, read_signal, signal_fd};
use privlib::{Gate, InitFlags, Policy, PrivSet, init_daemon_priv, parse_set};
use smf::control::{self, ControlServer};
use smf::paths::Paths;
use smf::props::Overrides;
use smf::restarter::{Config, Restarter};

/// The service restarter.
#[derive(Parser, Debug)]
#[command(name = "svc-startd", version)]
struct Args {
    /// Session mode runs everything as you; system mode (the default as
    /// root, or --system as anyone) the services as their manifests say.
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    /// The manifests (every *.xml in it).
    #[arg(long, default_value = "/usr/share/xvm/smf")]
    manifests: PathBuf,
    /// Where programs named bare in `exec` are (default: beside svc-startd).
    #[arg(long)]
    bindir: Option<PathBuf>,
}

fn run(a: Args) -> Result<(), String> {
    let uid = privlib::procfs::read_cred(Path::new("/proc"), "self")
        .map_err(|e| e.to_string())?
        .uid[1];
    let system = a.mode.is_system().map_err(|e| e.to_string())?;
    a.mode.install_log();
    let paths = Paths::new(system).map_err(|e| e.to_string())?;
    // System mode: the host's directories and svc-startd's own, as a
    // host has them (smf::layout), before anything reads or writes there.
    for change in paths.make().map_err(|e| e.to_string())? {
        tracing::info!("{change}");
    }
    let bundles = smf::manifest::load_dir(&a.manifests).map_err(|e| e.to_string())?;
    let overrides = Overrides::load(&paths.state.join("properties")).map_err(|e| e.to_string())?;
    let policy = Policy::load(system, uid).map_err(|e| e.to_string())?;
    let bindir = match a.bindir {
        Some(b) => b,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .map(Path::to_path_buf)
            .ok_or("no directory for svc-startd's own program")?,
    };
    let mut env = Vec::new();
    for k in [
        "XVM_ROOT",
        "XDG_RUNTIME_DIR",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "HOME",
    ] {
        if let Ok(v) = std::env::var(k) {
            env.push((k.to_string(), v));
        }
    }

    // Least privilege: what the manifests hand out, plus giving ids and
    // signalling; nothing else, for good.
    // Session mode: never more than the invoking user holds (root in a
    // session keeps what its services need, so that, say, device models
    // still run under their own uids and never as root).
    let mut keep = parse_set("basic,proc_setid,proc_owner").map_err(|e| e.to_string())?;
    for b in &bundles {
        for r in b.instances() {
            for m in &r.methods {
                let ctx = r.method_context(m);
                if let Some(p) = ctx.credential.and_then(|c| c.privileges) {
                    keep = keep.union(&parse_set(&p).map_err(|e| e.to_string())?);
                }
            }
        }
    }
    if !system {
        let held = privlib::getppriv().map_err(|e| e.to_string())?.permitted;
        keep = keep.intersect(&held).union(&PrivSet::basic());
    }
    let signals =
        signal_fd(&[libc::SIGTERM, libc::SIGINT]).map_err(|e| format!("signalfd: {e}"))?;
    init_daemon_priv(InitFlags::LIMITPRIVS, None, None, &keep)
        .map_err(|e| format!("init_daemon_priv: {e}"))?;

    let socket = paths.run.join("control");
    let server = UnixServer::bind(
        &socket,
        SocketSpec {
            mode: 0o666,
            owner: None,
        },
    )
    .map_err(|e| e.to_string())?;
    let endpoint = socket.display().to_string();
    let mut r = Restarter::new(
        Config {
            system,
            bindir,
            logdir: paths.log.clone(),
            env,
        },
        bundles,
        overrides,
    );
    r.order_by_dependencies();

    // The control socket: decided at accept by privlib's gate, each
    // admitted connection read on its own thread, each whole request
    // handled here in the loop (see smf::control, "Concurrency", for why).
    // The threads start only now: after init_daemon_priv (which wants one
    // thread) and after signal_fd blocked SIGTERM/SIGINT, so they inherit
    // the blocked mask and the signals still reach the signalfd.
    let gate = Gate::new(control::LIMITS, control::LineRefusal)
        .map_err(|e| format!("the control socket's gate: {e}"))?;
    let (control, inbox) =
        ControlServer::new(policy, &endpoint).map_err(|e| format!("control channel: {e}"))?;
    let accept = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || {
            let decide = control.clone();
            server.serve_gated(
                &gate,
                move |cred| decide.decide(cred),
                move |stream, cred, slot| control.serve(stream, cred, slot),
            )
        })
        .map_err(|e| format!("the control socket's thread: {e}"))?;
    tracing::info!(mode = if system { "system" } else { "session" }, socket = %endpoint, instances = r.svcs.len(), "svc-startd serving");

    loop {
        while r.step() {}
        r.enforce_stop_timeouts();
        for job in inbox.jobs() {
            let result = control::handle(&mut r, &job.request);
            job.answer(result);
        }
        while r.step() {}
        if accept.is_finished() {
            // Never leave the services without their restarter unnoticed:
            // without its socket nobody could stop them.
            let why = match accept.join() {
                Ok(Err(e)) => format!("the control socket failed: {e}"),
                Ok(Ok(())) => "the control socket stopped".to_string(),
                Err(_) => "the control socket's thread panicked".to_string(),
            };
            tracing::error!("{why}; stopping every instance");
            r.shutdown();
            let _ = std::fs::remove_file(&socket);
            return Err(why);
        }
        let mut fds = vec![
            pollfd(inbox.fd().as_raw_fd(), POLLIN),
            pollfd(signals.as_raw_fd(), POLLIN),
        ];
        for s in &r.svcs {
            if let Some(c) = &s.child {
                fds.push(pollfd(c.pidfd().as_raw_fd(), POLLIN));
            }
        }
        if let Err(e) = poll(&mut fds, 500) {
            // Never leave the services without their restarter unnoticed.
            tracing::error!("poll: {e}; stopping every instance");
            r.shutdown();
            let _ = std::fs::remove_file(&socket);
            return Err(format!("poll: {e}"));
        }
        if fds[1].revents & POLLIN != 0
            && let Some(sig) = read_signal(&signals)
        {
            tracing::info!("signal {sig}: stopping every instance");
            r.shutdown();
            let _ = std::fs::remove_file(&socket);
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    smf::cli::exit(Some("svc-startd"), run(Args::parse()).map(|()| true))
}
