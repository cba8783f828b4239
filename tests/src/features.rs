//! xend's features and what it holds: its capability sets read from
//! `/proc` (what the features table says it keeps), domain configs that
//! need a feature, and the restarter's tools (`svccfg`, `svcadm`,
//! `svcs`) run as root against a hermetic `svc-startd --system`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::bin;
use crate::daemon::Daemon;
use crate::error::{Error, check};
use crate::hermetic::{Hermetic, set_mode};
use crate::procfs::{caps, status_field};

/// xend's FMRI (`xend::features::FMRI`; xend dev-depends on this crate,
/// so the tests check that the two agree).
pub const XEND: &str = "svc:/system/xvm/xend:default";

/// One process's capability sets, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSets {
    /// CapEff.
    pub effective: u64,
    /// CapPrm.
    pub permitted: u64,
    /// CapInh.
    pub inheritable: u64,
    /// CapBnd.
    pub bounding: u64,
    /// CapAmb.
    pub ambient: u64,
}

impl CapSets {
    /// The sets of `pid`.
    pub fn of(pid: i32) -> Result<CapSets, Error> {
        Ok(CapSets {
            effective: caps(pid, "CapEff")?,
            permitted: caps(pid, "CapPrm")?,
            inheritable: caps(pid, "CapInh")?,
            bounding: caps(pid, "CapBnd")?,
            ambient: caps(pid, "CapAmb")?,
        })
    }
}

/// A capability's bit in `/proc`'s masks.
pub const fn bit(cap: u8) -> u64 {
    1u64 << cap
}

/// CAP_SETUID, CAP_SETGID and CAP_SETPCAP: `proc_setid`, what xend keeps
/// whatever its features.
pub const SETID: u64 = bit(privlib::caps::num::SETUID)
    | bit(privlib::caps::num::SETGID)
    | bit(privlib::caps::num::SETPCAP);

/// Checks that xend (`pid`) holds in P and L exactly `want`, nothing in
/// E, I or the ambient set: between operations it holds its features'
/// privileges without using them. `when` names the moment for the error.
pub fn check_xend_holds(pid: i32, want: u64, when: &str) -> Result<CapSets, Error> {
    let c = CapSets::of(pid)?;
    check(
        c.permitted == want && c.bounding == want,
        format!(
            "{when}: xend's CapPrm {:#x}, CapBnd {:#x}; the features table says {want:#x}",
            c.permitted, c.bounding
        ),
    )?;
    check(
        c.effective == 0 && c.inheritable == 0 && c.ambient == 0,
        format!(
            "{when}: xend's CapEff {:#x}, CapInh {:#x}, CapAmb {:#x} between operations",
            c.effective, c.inheritable, c.ambient
        ),
    )?;
    Ok(c)
}

/// The test guest's config (`test.cfg` under `base`) as domain `name`
/// with `extra` lines added, written to `base/NAME.cfg` (mode 0644); its
/// path.
pub fn config_with(base: &Path, name: &str, extra: &str) -> Result<PathBuf, Error> {
    config_sized(base, name, None, extra)
}

/// [`config_with`], with `memory` MiB for the guest instead of
/// `test.cfg`'s when given.
pub fn config_sized(
    base: &Path,
    name: &str,
    memory: Option<u64>,
    extra: &str,
) -> Result<PathBuf, Error> {
    let from = base.join("test.cfg");
    let text = std::fs::read_to_string(&from).map_err(Error::io("read", &from))?;
    let mut text = text.replace("name = \"testguest\"", &format!("name = \"{name}\""));
    check(
        text.contains(&format!("name = \"{name}\"")),
        "test.cfg no longer names testguest: update this fixture",
    )?;
    if let Some(m) = memory {
        let sized = text.replace("memory = 32\n", &format!("memory = {m}\n"));
        check(
            sized != text || m == 32,
            "test.cfg's memory is no longer 32: update this fixture",
        )?;
        text = sized;
    }
    let to = base.join(format!("{name}.cfg"));
    std::fs::write(&to, format!("{text}{extra}\n")).map_err(Error::io("write", &to))?;
    set_mode(&to, 0o644)?;
    Ok(to)
}

/// What one of the restarter's tools printed.
#[derive(Clone, Debug)]
pub struct Tool {
    /// Exit code (-1: killed).
    pub code: i32,
    /// stdout.
    pub out: String,
    /// stderr.
    pub err: String,
}

/// Runs the restarter tool `name` (`svccfg`, `svcadm`, `svcs`) as root
/// against the system-mode `svc-startd` under `root`.
pub fn smf_tool(root: &Path, name: &str, args: &[&str]) -> Result<Tool, Error> {
    let o = Command::new(bin(name)?)
        .args(args)
        .env("XVM_ROOT", root)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .map_err(|source| Error::Spawn {
            program: name.into(),
            source,
        })?;
    Ok(Tool {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    })
}

/// [`smf_tool`], which must exit 0; its stdout.
pub fn smf_ok(root: &Path, name: &str, args: &[&str]) -> Result<String, Error> {
    let t = smf_tool(root, name, args)?;
    check(
        t.code == 0,
        format!("{name} {args:?}: exit {}\n{}{}", t.code, t.out, t.err),
    )?;
    Ok(t.out)
}

/// The value of `key` in `svcs -l` output (`state`, `pid`, ...): the
/// first line starting with it.
pub fn long_field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| {
        l.strip_prefix(key)
            .filter(|r| r.starts_with(' '))
            .map(str::trim)
    })
}

/// A `/proc/PID/limits` limit, soft and hard (`None`: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The soft limit.
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

/// The limit on locked memory of `pid`, in bytes, from its
/// `/proc/PID/limits`.
pub fn memlock_of(pid: i32) -> Result<Limit, Error> {
    let p = format!("/proc/{pid}/limits");
    let text = std::fs::read_to_string(&p).map_err(Error::io("read", &p))?;
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max locked memory"))
        .ok_or_else(|| Error::Check(format!("{p}: no Max locked memory line")))?;
    let mut w = rest.split_whitespace();
    let mut one = || -> Result<Option<u64>, Error> {
        match w.next() {
            Some("unlimited") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Check(format!("{p}: Max locked memory {v:?}"))),
            None => Err(Error::Check(format!("{p}: a short Max locked memory line"))),
        }
    };
    Ok(Limit {
        soft: one()?,
        hard: one()?,
    })
}

/// A `/proc/PID/status` size (`VmLck`, `VmRSS`), in KiB.
pub fn status_kib(pid: i32, key: &str) -> Result<u64, Error> {
    let v = status_field(pid, key)?;
    v.strip_suffix(" kB")
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| Error::Check(format!("pid {pid} {key}: {v:?}")))
}

/// Whether this process could give a child a hard limit above its own:
/// CAP_SYS_RESOURCE in its effective set.
pub fn may_raise_hard_limits() -> Result<bool, Error> {
    let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    Ok(caps(pid, "CapEff")? & bit(privlib::caps::num::SYS_RESOURCE) != 0)
}

/// Starts xend for `tree` as the stack does (`--system`, its device-model
/// uids, `xend_args` more), its log in `log` under the tree's base, with
/// its limit on locked memory set to `limit` bytes, soft and hard
/// (`prlimit` runs xend): what an administrator's `LimitMEMLOCK=` or
/// `ulimit -l` gives it.
pub fn start_xend_with_memlock(
    tree: &Hermetic,
    log: &str,
    limit: u64,
    xend_args: &[&str],
) -> Result<Daemon, Error> {
    let dm = tree.accounts().dm_base.to_string();
    let mut cmd = tree.command(Path::new("prlimit"));
    cmd.arg(format!("--memlock={limit}:{limit}"))
        .arg("--")
        .arg(bin("xend")?)
        .args(["--system", "--dm-uid-base", &dm])
        .args(xend_args);
    let d =
        Daemon::spawn("xend", cmd, &tree.base().join(log))?.ready_when_logged("xend serving")?;
    tree.reap_at_end(d.pid());
    Ok(d)
}
