//! Looking domains up and reading them: the procedures that change
//! nothing, each one call to xend (`domain.info` of one domain, or
//! `domain.list`; for the XML, one `domain.definition` call). A lookup
//! within 250 ms of the same connection's `CONNECT_LIST_ALL_DOMAINS`
//! is answered from that listing ([`Session::recent_list`]): what another
//! client or `xm` changed meanwhile is seen by the next call after that;
//! a state-changing call forgets it first.
//!
//! A libvirt domain is a row of xend's list other than Domain-0 (which
//! libvirt does not count as a domain): a running domain, or a managed
//! one that is not running. Its UUID is the row's; a managed domain
//! without one (an `xm new` config that names none) gets one made from
//! its name ([`name_uuid`]), the same every time, so a `virsh` lookup
//! by name and the call that follows it find the same domain.
//!
//! # Format
//! Every procedure taking a domain reads a `remote_nonnull_domain`
//! ([`DomainRef`]) first; `flags` are `unsigned int`; `int`, `unsigned
//! char` and `unsigned short` are 4 bytes each.
//!
//! | procedure | args | ret |
//! |---|---|---|
//! | `LOOKUP_BY_NAME` | `string name` | `remote_nonnull_domain` |
//! | `LOOKUP_BY_ID` | `int id` | `remote_nonnull_domain` |
//! | `LOOKUP_BY_UUID` | `opaque uuid[16]` | `remote_nonnull_domain` |
//! | `GET_INFO` | dom | `uchar state, uhyper maxMem, uhyper memory, ushort nrVirtCpu, uhyper cpuTime` |
//! | `GET_STATE` | dom, flags | `int state, int reason` |
//! | `GET_OS_TYPE` | dom | `string type` |
//! | `IS_ACTIVE`, `IS_PERSISTENT`, `IS_UPDATED`, `GET_AUTOSTART` | dom | `int` |
//! | `HAS_MANAGED_SAVE_IMAGE` | dom, flags | `int` |
//! | `GET_MAX_MEMORY` | dom | `uhyper` (KiB) |
//! | `GET_SECURITY_LABEL` | dom | `char label<4097>` (a 4-byte int a character, NUL included), `int enforcing` |
//! | `CONNECT_LIST_ALL_DOMAINS` | `int need_results, unsigned flags` | `remote_nonnull_domain domains<16384>, unsigned ret` |
//! | `GET_XML_DESC` | dom, flags | `string xml` |

use std::path::{Path, PathBuf};

use xend::api::{DomainInfo, DomainState};
use xend::client::ClientError;

use crate::error::{Code, From, VirError};
use crate::procs::Proc;
use crate::session::Session;
use crate::xdr::{Dec, Enc, XdrError};

use super::Reply;
use super::types::{DomainRef, MAX_NAME, uuid_bytes, uuid_string};

/// `VIR_SECURITY_LABEL_BUFLEN`: the longest label, its NUL included.
pub const MAX_LABEL: usize = 4097;
/// `REMOTE_DOMAIN_LIST_MAX`: the most domains one list answers.
pub const MAX_DOMAINS: usize = 16384;
/// Clock ticks a second in `/proc/PID/stat` (`USER_HZ`, 100 on every
/// Linux ABI).
const USER_HZ: u64 = 100;

/// The procedure's arguments did not decode: libvirt's RPC error, naming
/// the procedure and what did not decode.
pub fn bad_args(p: Proc, e: XdrError) -> VirError {
    VirError::new(
        Code::Rpc,
        From::Rpc,
        format!("{}: arguments: {e}", p.name()),
    )
}

/// Reads the arguments' end: bytes left over are an error.
pub fn end(p: Proc, d: &Dec<'_>) -> Result<(), VirError> {
    d.finish(p.name()).map_err(|e| bad_args(p, e))
}

/// A `remote_nonnull_domain` argument.
pub fn dom_arg(p: Proc, d: &mut Dec<'_>) -> Result<DomainRef, VirError> {
    DomainRef::decode(d).map_err(|e| bad_args(p, e))
}

/// An `unsigned int flags` argument.
pub fn flags_arg(p: Proc, d: &mut Dec<'_>) -> Result<u32, VirError> {
    d.u32("flags").map_err(|e| bad_args(p, e))
}

/// libvirt's answer to flags a procedure does not take
/// (`virCheckFlags`).
pub fn check_flags(p: Proc, flags: u32, known: u32) -> Result<(), VirError> {
    match flags & !known {
        0 => Ok(()),
        extra => Err(VirError::invalid_arg(format!(
            "unsupported flags ({extra:#x}) in function {}",
            p.name()
        ))),
    }
}

/// xend's error as libvirt's: the kinds map onto libvirt's codes, a
/// refused peer is access denied, anything else the operation failed.
pub fn xend_error(e: ClientError) -> VirError {
    use xend::api::ErrorKind;
    let code = match &e {
        ClientError::Rpc(r) if r.code == xend::api::DENIED => Code::AccessDenied,
        ClientError::Rpc(r) => match r.kind() {
            Some(ErrorKind::NoDomain) => Code::NoDomain,
            Some(ErrorKind::Busy) => Code::OperationInvalid,
            Some(ErrorKind::BadConfig) => Code::ConfigUnsupported,
            Some(ErrorKind::Disabled) => Code::OperationInvalid,
            Some(
                ErrorKind::Limit | ErrorKind::Failed | ErrorKind::NoDevice | ErrorKind::Migration,
            )
            | None => Code::OperationFailed,
        },
        _ => Code::OperationFailed,
    };
    VirError::new(code, From::Xen, format!("xend: {e}"))
}

/// The UUID made for a domain that has none, from its name alone: two
/// 64-bit FNV-1a hashes of the name (with different offset bases) laid
/// end to end, marked as RFC 9562's version 8 (custom) and variant.
pub fn name_uuid(name: &str) -> [u8; 16] {
    fn fnv(basis: u64, data: &[u8]) -> u64 {
        data.iter().fold(basis, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325, name.as_bytes()).to_be_bytes());
    u[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142, name.as_bytes()).to_be_bytes());
    u[6] = (u[6] & 0x0f) | 0x80;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

/// A domain's UUID: its row's, else the one made from its name.
pub fn uuid_of(info: &DomainInfo) -> [u8; 16] {
    info.uuid
        .as_deref()
        .and_then(uuid_bytes)
        .unwrap_or_else(|| name_uuid(&info.name))
}

/// The `remote_nonnull_domain` of a row: -1 as the id when not running.
pub fn dom_ref(info: &DomainInfo) -> DomainRef {
    DomainRef {
        name: info.name.clone(),
        uuid: uuid_of(info),
        id: info.domid.and_then(|i| i32::try_from(i).ok()).unwrap_or(-1),
    }
}

/// Whether a row is a libvirt domain (Domain-0 is not).
fn is_domain(info: &DomainInfo) -> bool {
    info.domid != Some(0) && info.name != "Domain-0"
}

/// Every libvirt domain, in xend's order.
pub fn domains(s: &mut Session) -> Result<Vec<DomainInfo>, VirError> {
    let rows = s.xend_call(|c| c.list()).map_err(xend_error)?;
    Ok(rows.into_iter().filter(is_domain).collect())
}

/// The row `r` names: the one with its UUID; failing that, the one with
/// its name when `r`'s UUID is the one made from that name (the domain
/// was given a UUID since, as xend does at start).
pub fn pick(rows: &[DomainInfo], r: &DomainRef) -> Result<DomainInfo, VirError> {
    let mut by_name = None;
    for row in rows {
        if uuid_of(row) == r.uuid {
            return Ok(row.clone());
        }
        if row.name == r.name && r.uuid == name_uuid(&r.name) {
            by_name = Some(row);
        }
    }
    by_name.cloned().ok_or_else(|| {
        VirError::no_domain(&format!(
            "with matching uuid '{}' ({})",
            uuid_string(&r.uuid),
            r.name
        ))
    })
}

/// The domain `r` names: from this connection's listing of a moment ago
/// ([`Session::recent_list`]), else as xend has it now, asked for by its name (one
/// domain, not the whole list: virsh asks once per domain it lists); the
/// whole list only when that name is gone or is another domain's now.
pub fn find(s: &mut Session, r: &DomainRef) -> Result<DomainInfo, VirError> {
    if let Some(row) = s.recent_list().and_then(|rows| pick(rows, r).ok()) {
        return Ok(row);
    }
    // A name xend does not read as one (a domid's digits) is not asked.
    if !r.name.is_empty()
        && r.name.parse::<u32>().is_err()
        && let Ok(row) = s.xend_call(|c| c.info(&r.name))
        && is_domain(&row)
        && let Ok(row) = pick(std::slice::from_ref(&row), r)
    {
        return Ok(row);
    }
    pick(&domains(s)?, r)
}

/// libvirt's state (`virDomainState`) and its reason, of a row.
pub fn state_of(info: &DomainInfo) -> (i32, i32) {
    // (state, reason): running 1 (booted 1), paused 3 (user 1),
    // shutdown 4 (user 1), shutoff 5 (unknown 0), crashed 6 (unknown 0);
    // a domain starting has no state yet: nostate 0.
    match (info.state, info.domid) {
        (DomainState::Running, _) => (1, 1),
        (DomainState::Paused, _) => (3, 1),
        (DomainState::ShuttingDown | DomainState::Dying, _) => (4, 1),
        (DomainState::Crashed, _) => (6, 0),
        (DomainState::None, Some(_)) => (0, 0),
        (DomainState::None, None) => (5, 0),
    }
}

/// The CPU time, in ns, of the process `pid` (the device model): utime
/// and stime of `/proc/PID/stat`; 0 when it cannot be read.
pub fn cpu_time_ns(proc_root: &Path, pid: i32) -> u64 {
    let path = proc_root.join(pid.to_string()).join("stat");
    let Ok(text) = privlib::bounded::read_to_string(&path, 4096) else {
        return 0;
    };
    parse_cpu_ticks(&text).map_or(0, |t| t.saturating_mul(1_000_000_000 / USER_HZ))
}

/// utime + stime, in ticks, of a `stat` line (fields 14 and 15; the
/// command name in parentheses may hold anything, so counting starts
/// after its last `)`).
fn parse_cpu_ticks(text: &str) -> Option<u64> {
    let after = &text[text.rfind(')')? + 1..];
    let mut f = after.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// The label of a running domain: `uid:N`, N its device model's
/// effective uid; empty when it has none or it cannot be read.
pub fn security_label(proc_root: &Path, info: &DomainInfo) -> String {
    info.pid
        .and_then(|pid| privlib::procfs::read_cred(proc_root, &pid.to_string()).ok())
        .map_or_else(String::new, |c| format!("uid:{}", c.uid[1]))
}

/// `VIR_CONNECT_LIST_DOMAINS_*`, the flags of `CONNECT_LIST_ALL_DOMAINS`.
pub mod list_flags {
    /// Running (has an id).
    pub const ACTIVE: u32 = 1 << 0;
    /// Not running.
    pub const INACTIVE: u32 = 1 << 1;
    /// Defined (managed).
    pub const PERSISTENT: u32 = 1 << 2;
    /// Only created.
    pub const TRANSIENT: u32 = 1 << 3;
    /// State running.
    pub const RUNNING: u32 = 1 << 4;
    /// State paused.
    pub const PAUSED: u32 = 1 << 5;
    /// State shut off.
    pub const SHUTOFF: u32 = 1 << 6;
    /// Any other state.
    pub const OTHER: u32 = 1 << 7;
    /// With a managed save image (never).
    pub const MANAGEDSAVE: u32 = 1 << 8;
    /// Without one (every domain).
    pub const NO_MANAGEDSAVE: u32 = 1 << 9;
    /// Started with xend.
    pub const AUTOSTART: u32 = 1 << 10;
    /// Not.
    pub const NO_AUTOSTART: u32 = 1 << 11;
    /// With a snapshot (never).
    pub const HAS_SNAPSHOT: u32 = 1 << 12;
    /// Without (every domain).
    pub const NO_SNAPSHOT: u32 = 1 << 13;
    /// With a checkpoint (never).
    pub const HAS_CHECKPOINT: u32 = 1 << 14;
    /// Without (every domain).
    pub const NO_CHECKPOINT: u32 = 1 << 15;
    /// Every flag libvirt 9.0 has.
    pub const ALL: u32 = (1 << 16) - 1;
}

/// Whether a row passes `flags`, as libvirt filters: within each group
/// (active/inactive, persistent/transient, state, managed save,
/// autostart, snapshot, checkpoint), no flag set or both set passes all,
/// else the domain must match one that is set.
pub fn listed(info: &DomainInfo, flags: u32) -> bool {
    use list_flags as f;
    let group = |yes: u32, no: u32, is: bool| {
        let (y, n) = (flags & yes != 0, flags & no != 0);
        y == n || (y && is) || (n && !is)
    };
    let active = info.domid.is_some();
    let state = match state_of(info).0 {
        1 => f::RUNNING,
        3 => f::PAUSED,
        5 => f::SHUTOFF,
        _ => f::OTHER,
    };
    let states = f::RUNNING | f::PAUSED | f::SHUTOFF | f::OTHER;
    group(f::ACTIVE, f::INACTIVE, active)
        && group(f::PERSISTENT, f::TRANSIENT, info.managed)
        && (flags & states == 0 || flags & state != 0)
        && group(f::MANAGEDSAVE, f::NO_MANAGEDSAVE, false)
        && group(f::AUTOSTART, f::NO_AUTOSTART, info.autostart)
        && group(f::HAS_SNAPSHOT, f::NO_SNAPSHOT, false)
        && group(f::HAS_CHECKPOINT, f::NO_CHECKPOINT, false)
}

/// A reply of one `remote_nonnull_domain`.
pub fn dom_reply(info: &DomainInfo) -> Reply {
    let mut e = Enc::new();
    dom_ref(info).encode(&mut e);
    Reply::Body(e.into_bytes())
}

fn int_reply(v: i32) -> Reply {
    let mut e = Enc::new();
    e.i32(v);
    Reply::Body(e.into_bytes())
}

/// `remote_domain_get_info_ret`.
pub fn info_ret(info: &DomainInfo, cpu_ns: u64) -> Vec<u8> {
    let kib = info.memory.saturating_mul(1024);
    let mut e = Enc::new();
    e.u32(u32::try_from(state_of(info).0).unwrap_or(0))
        .u64(kib)
        .u64(kib)
        .u32(u32::from(u16::try_from(info.vcpus).unwrap_or(u16::MAX)))
        .u64(cpu_ns);
    e.into_bytes()
}

/// `remote_domain_get_security_label_ret`: the label as `char<>` with
/// its NUL (libvirt sends `strlen + 1` characters), and whether it is
/// enforced (a label is: the device model runs under that uid).
pub fn label_ret(label: &str) -> Vec<u8> {
    let mut e = Enc::new();
    let n = label.len().min(MAX_LABEL - 1);
    e.u32(u32::try_from(n + 1).unwrap_or(0))
        .chars(&label[..n], n + 1)
        .i32(i32::from(!label.is_empty()));
    e.into_bytes()
}

/// `remote_connect_list_all_domains_ret`: the domains when asked for,
/// and their count.
pub fn list_ret(rows: &[DomainInfo], need_results: bool) -> Vec<u8> {
    let n = rows.len().min(MAX_DOMAINS);
    let mut e = Enc::new();
    if need_results {
        e.u32(u32::try_from(n).unwrap_or(0));
        for r in &rows[..n] {
            dom_ref(r).encode(&mut e);
        }
    } else {
        e.u32(0);
    }
    e.u32(u32::try_from(n).unwrap_or(0));
    e.into_bytes()
}

/// `VIR_DOMAIN_XML_*`: every one is taken (secure: nothing is secret;
/// inactive: the definition without the running id; update-cpu and
/// migratable change nothing here).
const XML_FLAGS: u32 = 0b1111;
/// `VIR_DOMAIN_XML_INACTIVE`.
const XML_INACTIVE: u32 = 1 << 1;

/// Runs one of this module's procedures.
pub fn call(s: &mut Session, p: Proc, d: &mut Dec<'_>) -> Result<Reply, VirError> {
    let proc_root = Path::new("/proc");
    match p {
        Proc::DomainLookupByName => {
            let name = d.string("name", MAX_NAME).map_err(|e| bad_args(p, e))?;
            end(p, d)?;
            let none = || VirError::no_domain(&format!("with matching name '{name}'"));
            // One domain asked for, unless the name reads as a domid.
            if name.parse::<u32>().is_err() {
                return match s.xend_call(|c| c.info(name)) {
                    Ok(r) if is_domain(&r) && r.name == name => Ok(dom_reply(&r)),
                    Ok(_) => Err(none()),
                    Err(e) if e.kind() == Some(xend::api::ErrorKind::NoDomain) => Err(none()),
                    Err(e) => Err(xend_error(e)),
                };
            }
            let rows = domains(s)?;
            rows.iter()
                .find(|r| r.name == name)
                .map(dom_reply)
                .ok_or_else(none)
        }
        Proc::DomainLookupById => {
            let id = d.i32("id").map_err(|e| bad_args(p, e))?;
            end(p, d)?;
            let rows = domains(s)?;
            rows.iter()
                .find(|r| r.domid.is_some_and(|i| i64::from(i) == i64::from(id)))
                .map(dom_reply)
                .ok_or_else(|| VirError::no_domain(&format!("with matching id {id}")))
        }
        Proc::DomainLookupByUuid => {
            let mut u = [0u8; 16];
            u.copy_from_slice(d.fixed("uuid", 16).map_err(|e| bad_args(p, e))?);
            end(p, d)?;
            let rows = domains(s)?;
            rows.iter()
                .find(|r| uuid_of(r) == u)
                .map(dom_reply)
                .ok_or_else(|| {
                    VirError::no_domain(&format!("with matching uuid '{}'", uuid_string(&u)))
                })
        }
        Proc::ConnectListAllDomains => {
            let need = d.i32("need_results").map_err(|e| bad_args(p, e))?;
            let flags = flags_arg(p, d)?;
            end(p, d)?;
            check_flags(p, flags, list_flags::ALL)?;
            let all = domains(s)?;
            let rows: Vec<DomainInfo> = all.iter().filter(|r| listed(r, flags)).cloned().collect();
            let body = list_ret(&rows, need != 0);
            s.remember_list(all);
            Ok(Reply::Body(body))
        }
        _ => {
            let r = dom_arg(p, d)?;
            let (flags, known) = match p {
                Proc::DomainGetState | Proc::DomainHasManagedSaveImage => (flags_arg(p, d)?, 0),
                Proc::DomainGetXmlDesc => (flags_arg(p, d)?, XML_FLAGS),
                _ => (0, 0),
            };
            end(p, d)?;
            check_flags(p, flags, known)?;
            let info = find(s, &r)?;
            on_domain(s, p, &info, flags, proc_root)
        }
    }
}

/// The procedures on one domain, found.
fn on_domain(
    s: &mut Session,
    p: Proc,
    info: &DomainInfo,
    flags: u32,
    proc_root: &Path,
) -> Result<Reply, VirError> {
    Ok(match p {
        Proc::DomainGetInfo => {
            let cpu = info.pid.map_or(0, |pid| cpu_time_ns(proc_root, pid));
            Reply::Body(info_ret(info, cpu))
        }
        Proc::DomainGetState => {
            let (state, reason) = state_of(info);
            let mut e = Enc::new();
            e.i32(state).i32(reason);
            Reply::Body(e.into_bytes())
        }
        Proc::DomainGetOsType => {
            let mut e = Enc::new();
            e.string("hvm");
            Reply::Body(e.into_bytes())
        }
        Proc::DomainIsActive => int_reply(i32::from(info.domid.is_some())),
        Proc::DomainIsPersistent => int_reply(i32::from(info.managed)),
        Proc::DomainGetAutostart => int_reply(i32::from(info.autostart)),
        Proc::DomainHasManagedSaveImage => int_reply(0),
        Proc::DomainIsUpdated => int_reply(0),
        Proc::DomainGetMaxMemory => {
            let mut e = Enc::new();
            e.u64(info.memory.saturating_mul(1024));
            Reply::Body(e.into_bytes())
        }
        Proc::DomainGetSecurityLabel => Reply::Body(label_ret(&security_label(proc_root, info))),
        Proc::DomainGetXmlDesc => {
            let def = s
                .xend_call(|c| c.definition(&info.name))
                .map_err(xend_error)?;
            let id = if flags & XML_INACTIVE == 0 {
                info.domid
            } else {
                None
            };
            let mut e = Enc::new();
            e.string(&crate::xml::write(&def, id));
            Reply::Body(e.into_bytes())
        }
        _ => {
            return Err(VirError::unknown_procedure(
                crate::packet::REMOTE_PROGRAM,
                p.number(),
            ));
        }
    })
}

/// The console devices a domain has: its one serial port, which is its
/// console (libvirt names them `serial0` and `console0`; none: the first).
pub fn check_device(dev: Option<&str>) -> Result<(), VirError> {
    match dev {
        None | Some("serial0" | "console0") => Ok(()),
        Some(other) => Err(VirError::new(
            Code::Internal,
            From::Xen,
            format!(
                "cannot find character device {other} (a domain has serial0, also named console0)"
            ),
        )),
    }
}

/// The longest console path taken from the store (a pty is `/dev/pts/N`).
pub const MAX_TTY_PATH: usize = 256;

/// The console pty's path the store names for the running domain `domid`.
pub fn tty_path(store: &Path, domid: u32, name: &str) -> Result<PathBuf, VirError> {
    use xenstored::client::{Client, ClientError};
    use xenstored::wire::XsError;
    let fail = |e: ClientError| VirError::failed(format!("xenstored at {}: {e}", store.display()));
    let mut c =
        Client::connect_with_timeout(store, std::time::Duration::from_secs(10)).map_err(fail)?;
    let key = format!("/local/domain/{domid}/console/tty");
    let v = match c.read(0, &key) {
        Ok(v) if !v.is_empty() => v,
        Ok(_) | Err(ClientError::Xs(XsError::Enoent)) => {
            return Err(VirError::failed(format!(
                "domain {name} has no console yet ({key} is not in the store)"
            )));
        }
        Err(e) => return Err(fail(e)),
    };
    checked_tty_path(&key, v)
}

/// A tty key's value: at most [`MAX_TTY_PATH`] bytes, absolute, no NUL.
pub fn checked_tty_path(key: &str, v: Vec<u8>) -> Result<PathBuf, VirError> {
    use std::os::unix::ffi::OsStringExt as _;
    if v.len() > MAX_TTY_PATH || v.first() != Some(&b'/') || v.contains(&0) {
        return Err(VirError::failed(format!(
            "{key} is not a console path: {:?}",
            String::from_utf8_lossy(&v[..v.len().min(MAX_TTY_PATH)])
        )));
    }
    Ok(PathBuf::from(std::ffi::OsString::from_vec(v)))
}

#[cfg(test)]
#[path = "domain_tests.rs"]
mod tests;
