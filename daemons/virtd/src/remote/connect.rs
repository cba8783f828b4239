//! The connection and the host: `AUTH_LIST`, `CONNECT_*`, `NODE_*`.
//!
//! # Format (`src/remote/remote_protocol.x`)
//! - `AUTH_LIST` ret: `remote_auth_type types<20>` (virtd: `[0]`, none:
//!   the gate is the peer's credentials, read from the kernel at accept).
//! - `CONNECT_SUPPORTS_FEATURE` args `int feature`, ret `int supported`.
//! - `CONNECT_OPEN` args `remote_string name`, `unsigned flags`
//!   (`VIR_CONNECT_RO` = 1).
//! - `CONNECT_GET_TYPE`, `_GET_HOSTNAME`, `_GET_URI` ret: one
//!   `remote_nonnull_string`; `_GET_VERSION`, `_GET_LIB_VERSION` ret: one
//!   `unsigned hyper` (major * 1,000,000 + minor * 1,000 + release).
//! - `NODE_GET_INFO` ret: `char model[32]` (an int a character),
//!   `unsigned hyper memory` (KiB), `int cpus, mhz, nodes, sockets,
//!   cores, threads`.
//! - `NODE_GET_SECURITY_MODEL` ret: `char model<256>`, `char doi<256>`
//!   (each a count, then an int a character, the NUL counted).
//! - `CONNECT_IS_SECURE` ret `int secure`.

use std::path::Path;

use crate::error::{Code, From, VirError};
use crate::procs::Proc;
use crate::session::Session;
use crate::xdr::{Dec, Enc};

use super::Reply;
use super::types::MAX_STRING;

/// `VIR_DRV_FEATURE_PROGRAM_KEEPALIVE`.
const FEATURE_KEEPALIVE: i32 = 10;
/// `VIR_DRV_FEATURE_TYPED_PARAM_STRING`: typed parameters may be strings.
const FEATURE_TYPED_PARAM_STRING: i32 = 9;
/// `VIR_CONNECT_RO`.
const CONNECT_RO: u32 = 1;
/// The version virtd reports for the hypervisor: Xen 4.17, the interface
/// xenstored speaks.
const HV_VERSION: u64 = 4_017_000;
/// The security model: each domain's device model runs under a uid of
/// its own (DESIGN.md 1).
pub const SECURITY_MODEL: &str = "xvm-uid";

fn body(e: Enc) -> Result<Reply, VirError> {
    Ok(Reply::Body(e.into_bytes()))
}

fn args_err(p: Proc, e: &crate::xdr::XdrError) -> VirError {
    VirError::new(
        Code::Rpc,
        From::Rpc,
        format!("{}: arguments: {e}", p.name()),
    )
}

/// virtd's own version as libvirt numbers versions.
fn own_version() -> u64 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    a * 1_000_000 + b * 1_000 + c
}

/// `char x<N>` as rpcgen sends it: a count (the NUL included), then an
/// int a character.
fn char_array(e: &mut Enc, s: &str) {
    let n = s.len() + 1;
    e.u32(u32::try_from(n).unwrap_or(0));
    e.chars(s, n);
}

/// The host's CPU speed, MHz (`/proc/cpuinfo`'s first `cpu MHz`; 0 if
/// none).
fn cpu_mhz() -> i32 {
    let Ok(text) = privlib::bounded::read_to_string(Path::new("/proc/cpuinfo"), 1 << 20) else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("cpu MHz")?.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |m| {
            // A CPU's speed in MHz fits an int by far.
            #[allow(clippy::cast_possible_truncation)]
            let m = m.round() as i32;
            m
        })
}

/// Runs one of the connection's procedures.
pub fn call(s: &mut Session, p: Proc, d: &mut Dec<'_>) -> Result<Reply, VirError> {
    let mut e = Enc::new();
    match p {
        Proc::AuthList => {
            e.u32(1).i32(0);
        }
        Proc::ConnectSupportsFeature => {
            let f = d.i32("feature").map_err(|x| args_err(p, &x))?;
            let yes = matches!(f, FEATURE_KEEPALIVE | FEATURE_TYPED_PARAM_STRING);
            e.i32(i32::from(yes));
        }
        Proc::ConnectOpen => {
            let name = d
                .opt_string("name", MAX_STRING)
                .map_err(|x| args_err(p, &x))?;
            let flags = d.u32("flags").map_err(|x| args_err(p, &x))?;
            d.finish("CONNECT_OPEN").map_err(|x| args_err(p, &x))?;
            open(s, name, flags)?;
        }
        Proc::ConnectClose => {
            s.opened = false;
        }
        Proc::ConnectGetType => {
            e.string("Xen");
        }
        Proc::ConnectGetVersion => {
            e.u64(HV_VERSION);
        }
        Proc::ConnectGetLibVersion => {
            e.u64(own_version());
        }
        Proc::ConnectGetHostname => {
            e.string(&s.env.hostname);
        }
        Proc::ConnectGetUri => {
            e.string(s.env.mode.uri());
        }
        Proc::ConnectIsSecure => {
            e.i32(1);
        }
        Proc::NodeGetInfo => {
            // Domain-0's row is the host: its memory and CPUs (xend).
            let rows = s
                .xend_call(|c| c.list())
                .map_err(|x| VirError::failed(format!("{x}")))?;
            let host = rows.iter().find(|r| r.domid == Some(0));
            let (mib, cpus) = host.map_or((0, 1), |r| (r.memory, r.vcpus));
            let cpus = i32::try_from(cpus).unwrap_or(i32::MAX).max(1);
            e.chars(std::env::consts::ARCH, 32)
                .u64(mib.saturating_mul(1024))
                .i32(cpus)
                .i32(cpu_mhz())
                .i32(1)
                .i32(1)
                .i32(cpus)
                .i32(1);
        }
        Proc::NodeGetSecurityModel => {
            char_array(&mut e, SECURITY_MODEL);
            char_array(&mut e, "0");
        }
        Proc::ConnectRegisterCloseCallback | Proc::ConnectUnregisterCloseCallback => {}
        _ => {
            return Err(VirError::unknown_procedure(
                crate::packet::REMOTE_PROGRAM,
                p.number(),
            ));
        }
    }
    body(e)
}

/// `CONNECT_OPEN`: the URI names this stack (or nothing: the default);
/// `VIR_CONNECT_RO` makes the connection read-only for good.
fn open(s: &mut Session, name: Option<&str>, flags: u32) -> Result<(), VirError> {
    let mine = s.env.mode.uri();
    match name {
        None | Some("") => {}
        Some(n) if n == mine || n.trim_end_matches('/') == mine.trim_end_matches('/') => {}
        Some(n) => {
            return Err(VirError::new(
                Code::InvalidArg,
                From::Remote,
                format!("virtd serves {mine}, not {n}"),
            ));
        }
    }
    if flags & !CONNECT_RO != 0 {
        return Err(VirError::invalid_arg(format!(
            "CONNECT_OPEN: unsupported flags {:#x}",
            flags & !CONNECT_RO
        )));
    }
    if flags & CONNECT_RO != 0 {
        s.ro_flag = true;
    }
    s.opened = true;
    Ok(())
}
