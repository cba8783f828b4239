//! `virtd`: the management daemon. Started as root (or as xvm by a
//! service manager), it becomes xvm:xvm with nothing beyond basic, then
//! serves libvirt's remote protocol on `libvirt-sock` and
//! `libvirt-sock-ro` (see the library).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use virtd::start::{Options, start};

/// The management daemon (libvirt's remote protocol).
#[derive(Parser, Debug)]
#[command(name = "virtd", version)]
struct Args {
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    #[command(flatten)]
    account: privlib::cli::DaemonAccount,
    /// xend's socket (default by mode).
    #[arg(long = "xend-socket")]
    xend_socket: Option<PathBuf>,
    /// xenstored's socket (default: XENSTORED_PATH, else by mode).
    #[arg(long = "store-socket")]
    store_socket: Option<PathBuf>,
    /// The directory of libvirt-sock and libvirt-sock-ro (default:
    /// /run/libvirt, or the session's run directory's libvirt).
    #[arg(long = "sock-dir")]
    sock_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    match start(Options {
        mode: a.mode,
        account: a.account,
        xend_socket: a.xend_socket,
        store_socket: a.store_socket,
        sock_dir: a.sock_dir,
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("virtd: {e}");
            ExitCode::from(1)
        }
    }
}
