//! `xenconsoled`: guest consoles. Started as root (or as xvm by a service
//! manager), it becomes xvm:xvm with nothing beyond basic, then serves a
//! pty per domain, logs, and loopback TCP serial gates (see the library).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use xenconsoled::gate::SerialListen;
use xenconsoled::start::{Options, Which, start};

/// The console daemon.
#[derive(Parser, Debug)]
#[command(name = "xenconsoled", version)]
struct Args {
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    #[command(flatten)]
    account: privlib::cli::DaemonAccount,
    /// Which logs to keep.
    #[arg(long, value_enum, default_value = "guest")]
    log: Which,
    /// Where the logs go (default: /var/log/xen/console under XVM_ROOT;
    /// session mode: the data directory's log/console).
    #[arg(long = "log-dir")]
    log_dir: Option<PathBuf>,
    /// Which logs get a timestamp at each line.
    #[arg(long, value_enum, default_value = "none")]
    timestamp: Which,
    /// Bytes a log may reach before it is rotated (at least 4096).
    #[arg(long = "log-max-size", default_value_t = 2_097_152)]
    log_max_size: u64,
    /// Rotated logs kept (NAME.1 .. NAME.N).
    #[arg(long = "log-max-backups", default_value_t = 3)]
    log_max_backups: u32,
    /// Bytes per second read from one domain; over it, the domain's serial
    /// is not read until the next 200 ms period (0: no limit).
    #[arg(long = "rate-limit", default_value_t = 4_194_304)]
    rate_limit: u64,
    /// Which serial/0/tcp addresses are listened on: loopback (behind the
    /// virt_manage gate) or any (non-loopback ones open to all).
    #[arg(long = "serial-listen", value_enum, default_value = "loopback")]
    serial_listen: SerialListen,
    /// xend's run directory, where each domain's serial socket is
    /// (default by mode).
    #[arg(long = "xend-run")]
    xend_run: Option<PathBuf>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    match start(Options {
        mode: a.mode,
        account: a.account,
        log: a.log,
        log_dir: a.log_dir,
        timestamp: a.timestamp,
        log_max_size: a.log_max_size,
        log_max_backups: a.log_max_backups,
        rate_limit: a.rate_limit,
        serial_listen: a.serial_listen,
        xend_run: a.xend_run,
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenconsoled: {e}");
            ExitCode::from(1)
        }
    }
}
