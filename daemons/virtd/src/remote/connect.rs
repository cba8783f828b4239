//! The connection and the host: authentication (none: the gate at
//! accept already decided on the peer's credentials), the features the
//! protocol offers, opening with the URI checked, and what the host is.
//!
//! # Format
//! | procedure | args | ret |
//! |---|---|---|
//! | `AUTH_LIST` | void | `remote_auth_type types<20>` (enum: NONE 0) |
//! | `CONNECT_SUPPORTS_FEATURE` | `int feature` | `int supported` |
//! | `CONNECT_OPEN` | `remote_string name, unsigned flags` | void |
//! | `CONNECT_CLOSE` | void | void |
//! | `CONNECT_GET_URI`, `_GET_TYPE`, `_GET_HOSTNAME` | void | `string` |
//! | `CONNECT_GET_VERSION`, `_GET_LIB_VERSION` | void | `unsigned hyper` |
//! | `NODE_GET_INFO` | void | `char model[32]` (an `int` a character), `unsigned hyper memory` (KiB), `int cpus, mhz, nodes, sockets, cores, threads` |
//! | `NODE_GET_SECURITY_MODEL` | void | `char model<257>, char doi<257>` (an `int` a character, NUL included) |
//! | `CONNECT_IS_SECURE` | void | `int secure` |
//! | `CONNECT_(UN)REGISTER_CLOSE_CALLBACK` | void | void |

use std::path::Path;

use crate::error::{Code, From, VirError};
use crate::procs::Proc;
use crate::session::{Mode, Session};
use crate::xdr::{Dec, Enc, XdrError};

use super::Reply;
use super::types::MAX_STRING;

/// `REMOTE_AUTH_NONE`.
pub const AUTH_NONE: i32 = 0;
/// `VIR_DRV_FEATURE_TYPED_PARAM_STRING`: typed parameters may be
/// strings (virtd takes no typed parameters, so saying yes costs nothing
/// and spares the client a fallback).
pub const FEATURE_TYPED_PARAM_STRING: i32 = 9;
/// `VIR_DRV_FEATURE_PROGRAM_KEEPALIVE`: the keepalive program (virsh asks
/// before `CONNECT_OPEN`).
pub const FEATURE_PROGRAM_KEEPALIVE: i32 = 10;
/// `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`: server-side event filters.
pub const FEATURE_REMOTE_EVENT_CALLBACK: i32 = 14;
/// `VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK`: the close callback is the
/// server's to register.
pub const FEATURE_REMOTE_CLOSE_CALLBACK: i32 = 15;
/// `VIR_CONNECT_RO`: a read-only connection (`virsh -r`).
pub const CONNECT_RO: u32 = 1;
/// `VIR_CONNECT_NO_ALIASES`: URI aliases are not resolved (virtd has
/// none, so it changes nothing).
pub const CONNECT_NO_ALIASES: u32 = 2;
/// `VIR_SECURITY_MODEL_BUFLEN`, `VIR_SECURITY_DOI_BUFLEN`.
const SECURITY_BUFLEN: usize = 257;
/// The security model virtd reports: every domain's device model runs
/// under a uid of its own (its label is `uid:N`).
pub const SECURITY_MODEL: &str = "xvm-uid";
/// Its domain of interpretation.
pub const SECURITY_DOI: &str = "0";
/// The library version virtd answers as: libvirt 9.0.0, the protocol it
/// speaks (`major * 1_000_000 + minor * 1000 + micro`).
pub const LIB_VERSION: u64 = 9_000_000;
/// The driver's name, as `virsh version` prints it.
pub const DRIVER_TYPE: &str = "Xen";

/// The procedure's arguments did not decode: libvirt's RPC error, naming
/// the procedure and what did not decode.
fn bad_args(p: Proc, e: XdrError) -> VirError {
    VirError::new(
        Code::Rpc,
        From::Rpc,
        format!("{}: arguments: {e}", p.name()),
    )
}

/// Whether the procedure may come before `CONNECT_OPEN` (libvirt's
/// client asks these first).
pub fn before_open(p: Proc) -> bool {
    matches!(
        p,
        Proc::AuthList | Proc::ConnectSupportsFeature | Proc::ConnectOpen
    )
}

/// libvirt's answer to a call before the connection is open.
pub fn not_open(p: Proc) -> VirError {
    VirError::new(
        Code::Internal,
        From::Rpc,
        format!("connection not open: {} needs CONNECT_OPEN first", p.name()),
    )
}

/// The feature a `CONNECT_SUPPORTS_FEATURE` call's `body` asks about, if
/// it decodes (the connection loop starts its keepalive on
/// [`FEATURE_PROGRAM_KEEPALIVE`]).
pub fn feature_asked(body: &[u8]) -> Option<i32> {
    let mut d = Dec::new(body);
    let f = d.i32("feature").ok()?;
    d.finish("feature").ok().map(|()| f)
}

/// Whether virtd offers `feature`: the keepalive program, string typed
/// parameters and the close callback (accepted, never fired: a local
/// daemon's connection ends when its socket does); nothing else, event
/// filters included (virtd sends no events). The numbers are libvirt's
/// `virDrvFeature`, as virsh 9.0 sends them (10 before `CONNECT_OPEN`,
/// 14 and 15 after).
pub fn supports(feature: i32) -> bool {
    matches!(
        feature,
        FEATURE_PROGRAM_KEEPALIVE | FEATURE_TYPED_PARAM_STRING | FEATURE_REMOTE_CLOSE_CALLBACK
    )
}

/// Checks `CONNECT_OPEN`'s name against the mode: the mode's own URI,
/// `xen:///` in system mode (libvirt's old spelling of it), or none
/// (the default); anything else is refused, naming what is served.
pub fn check_uri(mode: Mode, name: Option<&str>) -> Result<(), VirError> {
    let name = name.unwrap_or("");
    let ok = name.is_empty()
        || name == mode.uri()
        || (mode == Mode::System && (name == "xen:///" || name == "xen://"));
    if ok {
        return Ok(());
    }
    Err(VirError::new(
        Code::InvalidArg,
        From::Remote,
        format!(
            "virtd serves {} only, not {name:?}: connect with -c '{}' (or xen+unix:///...?socket=PATH)",
            mode.uri(),
            mode.uri()
        ),
    ))
}

/// The host as `NODE_GET_INFO` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The CPU model (`uname -m`).
    pub model: String,
    /// Memory, KiB.
    pub memory_kib: u64,
    /// Online CPUs.
    pub cpus: i32,
    /// The CPUs' clock, MHz (0 when unknown).
    pub mhz: i32,
}

impl NodeInfo {
    /// Read from `/proc` under `proc_root` (`MemTotal`, the processors
    /// and their `cpu MHz` in `cpuinfo`); what cannot be read is 0 (or
    /// one CPU).
    pub fn read(proc_root: &Path) -> NodeInfo {
        let meminfo = std::fs::read_to_string(proc_root.join("meminfo")).unwrap_or_default();
        let memory_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let cpuinfo = std::fs::read_to_string(proc_root.join("cpuinfo")).unwrap_or_default();
        let field = |l: &str, k: &str| {
            l.split_once(':')
                .filter(|(name, _)| name.trim() == k)
                .map(|(_, v)| v.trim().to_string())
        };
        let from_cpuinfo = cpuinfo
            .lines()
            .filter(|l| field(l, "processor").is_some())
            .count();
        let cpus = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(from_cpuinfo)
            .max(1);
        let mhz = cpuinfo
            .lines()
            .find_map(|l| field(l, "cpu MHz"))
            .and_then(|v| v.split('.').next().and_then(|w| w.parse::<i32>().ok()))
            .unwrap_or(0);
        NodeInfo {
            model: std::env::consts::ARCH.to_string(),
            memory_kib,
            cpus: i32::try_from(cpus).unwrap_or(i32::MAX),
            mhz,
        }
    }

    /// `remote_node_get_info_ret`: one node, one socket, a core a CPU,
    /// a thread a core (their product is the CPU count, as libvirt
    /// expects).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.chars(&self.model, 32)
            .u64(self.memory_kib)
            .i32(self.cpus)
            .i32(self.mhz)
            .i32(1)
            .i32(1)
            .i32(self.cpus)
            .i32(1);
        e.into_bytes()
    }
}

/// The host: Domain-0's row of xend's list (its memory and CPUs), which
/// a unit's `ProcSubset=pid` does not hide; `/proc` for the rest, and for
/// everything when xend does not answer.
fn node_info(s: &mut Session) -> NodeInfo {
    let mut info = NodeInfo::read(Path::new("/proc"));
    match s.xend_call(|c| c.list()) {
        Ok(rows) => {
            if let Some(host) = rows.iter().find(|r| r.domid == Some(0)) {
                info.memory_kib = host.memory.saturating_mul(1024);
                info.cpus = i32::try_from(host.vcpus).unwrap_or(i32::MAX).max(1);
            }
        }
        Err(e) => tracing::debug!("NODE_GET_INFO: xend: {e}; /proc alone"),
    }
    info
}

/// A `char<N>` of libvirt's (its NUL included, an `int` a character).
fn char_array(e: &mut Enc, s: &str, max: usize) {
    let n = s.len().min(max - 1);
    e.u32(u32::try_from(n + 1).unwrap_or(u32::MAX))
        .chars(&s[..n], n + 1);
}

/// The version virtd reports for the hypervisor: the workspace's, in
/// libvirt's number (`major * 1_000_000 + minor * 1000 + micro`).
pub fn hv_version() -> u64 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let micro = parts.next().unwrap_or(0);
    major * 1_000_000 + minor.min(999) * 1000 + micro.min(999)
}

fn body(e: Enc) -> Result<Reply, VirError> {
    Ok(Reply::Body(e.into_bytes()))
}

fn void(p: Proc, d: &Dec<'_>) -> Result<(), VirError> {
    d.finish("arguments").map_err(|e| bad_args(p, e))
}

/// Runs one of this module's procedures.
pub fn call(s: &mut Session, p: Proc, d: &mut Dec<'_>) -> Result<Reply, VirError> {
    let mut e = Enc::new();
    match p {
        Proc::AuthList => {
            void(p, d)?;
            e.u32(1).i32(AUTH_NONE);
        }
        Proc::ConnectSupportsFeature => {
            let f = d.i32("feature").map_err(|x| bad_args(p, x))?;
            void(p, d)?;
            e.i32(i32::from(supports(f)));
        }
        Proc::ConnectOpen => {
            let name = d
                .opt_string("name", MAX_STRING)
                .map_err(|x| bad_args(p, x))?;
            let flags = d.u32("flags").map_err(|x| bad_args(p, x))?;
            void(p, d)?;
            if s.opened {
                return Err(VirError::new(
                    Code::Internal,
                    From::Rpc,
                    "connection already open",
                ));
            }
            if flags & !(CONNECT_RO | CONNECT_NO_ALIASES) != 0 {
                return Err(VirError::invalid_arg(format!(
                    "CONNECT_OPEN: unsupported flags {flags:#x} (virtd takes VIR_CONNECT_RO and VIR_CONNECT_NO_ALIASES)"
                )));
            }
            check_uri(s.env.mode, name)?;
            s.ro_flag = flags & CONNECT_RO != 0;
            s.opened = true;
            tracing::debug!(
                uid = s.peer.uid,
                pid = s.peer.pid,
                read_only = s.read_only(),
                "connection opened"
            );
        }
        Proc::ConnectClose => {
            void(p, d)?;
            s.opened = false;
        }
        Proc::ConnectGetUri => {
            void(p, d)?;
            e.string(s.env.mode.uri());
        }
        Proc::ConnectGetType => {
            void(p, d)?;
            e.string(DRIVER_TYPE);
        }
        Proc::ConnectGetVersion => {
            void(p, d)?;
            e.u64(hv_version());
        }
        Proc::ConnectGetLibVersion => {
            void(p, d)?;
            e.u64(LIB_VERSION);
        }
        Proc::ConnectGetHostname => {
            void(p, d)?;
            e.string(&s.env.hostname);
        }
        Proc::NodeGetInfo => {
            void(p, d)?;
            return Ok(Reply::Body(node_info(s).encode()));
        }
        Proc::NodeGetSecurityModel => {
            void(p, d)?;
            char_array(&mut e, SECURITY_MODEL, SECURITY_BUFLEN);
            char_array(&mut e, SECURITY_DOI, SECURITY_BUFLEN);
        }
        Proc::ConnectIsSecure => {
            void(p, d)?;
            e.i32(1);
        }
        Proc::ConnectRegisterCloseCallback | Proc::ConnectUnregisterCloseCallback => {
            void(p, d)?;
        }
        _ => {
            return Err(VirError::unknown_procedure(
                crate::packet::REMOTE_PROGRAM,
                p.number(),
            ));
        }
    }
    body(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Env, Peer};
    use std::sync::Arc;

    fn session(mode: Mode) -> Session {
        let env = Env {
            mode,
            xend_socket: "/nonexistent/xend".into(),
            store_socket: "/nonexistent/store".into(),
            hostname: "host1".into(),
        };
        let peer = Peer {
            pid: 1,
            uid: 1000,
            gid: 1000,
        };
        Session::new(peer, false, Arc::new(env))
    }

    fn run(s: &mut Session, p: Proc, args: &[u8]) -> Result<Vec<u8>, VirError> {
        match call(s, p, &mut Dec::new(args))? {
            Reply::Body(b) => Ok(b),
            Reply::Console(_) => panic!("a console from {}", p.name()),
        }
    }

    fn open_args(name: Option<&str>, flags: u32) -> Vec<u8> {
        let mut e = Enc::new();
        e.opt_string(name).u32(flags);
        e.into_bytes()
    }

    #[test]
    fn open_takes_the_mode_s_uri_or_none_and_keeps_the_read_only_flag() {
        let mut s = session(Mode::System);
        let e = run(
            &mut s,
            Proc::ConnectOpen,
            &open_args(Some("qemu:///system"), 0),
        )
        .expect_err("another driver");
        assert_eq!(e.code, Code::InvalidArg);
        assert!(e.message.contains("xen:///system"), "{e}");
        let e = run(
            &mut s,
            Proc::ConnectOpen,
            &open_args(Some("xen:///session"), 0),
        )
        .expect_err("the other mode");
        assert!(e.message.contains("\"xen:///session\""), "{e}");
        let e = run(&mut s, Proc::ConnectOpen, &open_args(None, 4)).expect_err("flags");
        assert!(e.message.contains("0x4"), "{e}");
        assert!(!s.opened);
        run(
            &mut s,
            Proc::ConnectOpen,
            &open_args(Some("xen:///system"), CONNECT_RO),
        )
        .expect("opens");
        assert!(s.opened && s.read_only());
        let e = run(&mut s, Proc::ConnectOpen, &open_args(None, 0)).expect_err("twice");
        assert!(e.message.contains("already open"), "{e}");
        run(&mut s, Proc::ConnectClose, &[]).expect("closes");
        assert!(!s.opened);
        let mut s = session(Mode::Session);
        run(&mut s, Proc::ConnectOpen, &open_args(None, 0)).expect("the default");
        assert!(s.opened && !s.read_only());
        let uri = run(&mut s, Proc::ConnectGetUri, &[]).expect("uri");
        assert_eq!(Dec::new(&uri).string("uri", 64), Ok("xen:///session"));
    }

    #[test]
    fn garbage_arguments_are_an_rpc_error_naming_what_did_not_decode() {
        let mut s = session(Mode::System);
        let e = run(&mut s, Proc::ConnectOpen, &[0, 0, 0, 7]).expect_err("not a bool");
        assert_eq!((e.code, e.from), (Code::Rpc, From::Rpc));
        assert!(
            e.message.contains("CONNECT_OPEN") && e.message.contains("name"),
            "{e}"
        );
        let e = run(&mut s, Proc::ConnectGetType, &[1, 2, 3, 4]).expect_err("trailing");
        assert!(e.message.contains("left over"), "{e}");
        let e = run(&mut s, Proc::ConnectSupportsFeature, &[0, 0]).expect_err("short");
        assert!(e.message.contains("feature"), "{e}");
    }

    #[test]
    fn the_host_s_answers_have_libvirt_s_shapes() {
        let mut s = session(Mode::System);
        let b = run(&mut s, Proc::AuthList, &[]).expect("auth");
        assert_eq!(b, [0, 0, 0, 1, 0, 0, 0, 0]);
        let b = run(&mut s, Proc::ConnectSupportsFeature, &10i32.to_be_bytes()).expect("ka");
        assert_eq!(b, [0, 0, 0, 1]);
        let b = run(&mut s, Proc::ConnectSupportsFeature, &14i32.to_be_bytes()).expect("ev");
        assert_eq!(b, [0, 0, 0, 0]);
        let b = run(&mut s, Proc::ConnectGetHostname, &[]).expect("hostname");
        assert_eq!(Dec::new(&b).string("h", 64), Ok("host1"));
        let b = run(&mut s, Proc::NodeGetInfo, &[]).expect("nodeinfo");
        // char model[32]: 32 ints, then memory (8), six ints.
        assert_eq!(b.len(), 32 * 4 + 8 + 6 * 4);
        let mut d = Dec::new(&b);
        let model: Vec<u8> = (0..32)
            .map(|_| u8::try_from(d.i32("c").expect("char")).expect("ascii"))
            .take_while(|c| *c != 0)
            .collect();
        assert_eq!(model, std::env::consts::ARCH.as_bytes());
        let b = run(&mut s, Proc::NodeGetSecurityModel, &[]).expect("secmodel");
        let mut d = Dec::new(&b);
        assert_eq!(d.u32("len"), Ok(8));
        let model: Vec<i32> = (0..8).map(|_| d.i32("c").expect("char")).collect();
        assert_eq!(model, (*b"xvm-uid\0").map(i32::from));
        assert_eq!(d.u32("len"), Ok(2));
        assert_eq!((d.i32("c"), d.i32("c")), (Ok(48), Ok(0)));
        assert_eq!(d.finish("secmodel"), Ok(()));
        let b = run(&mut s, Proc::ConnectGetLibVersion, &[]).expect("lib");
        assert_eq!(Dec::new(&b).u64("v"), Ok(9_000_000));
    }

    #[test]
    fn only_the_open_sequence_comes_before_open() {
        assert!(before_open(Proc::AuthList) && before_open(Proc::ConnectOpen));
        assert!(!before_open(Proc::ConnectListAllDomains));
        assert_eq!(feature_asked(&10i32.to_be_bytes()), Some(10));
        assert_eq!(feature_asked(&[0, 0, 0, 10, 0]), None);
    }
}
