//! xend's features and what it holds: its capability sets read from
//! `/proc` (what the features table says it keeps), domain configs that
//! need a feature, and the restarter's tools (`svccfg`, `svcadm`,
//! `svcs`) run as root against a hermetic `svc-startd --system`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::bin;
use crate::error::{Error, check};
use crate::hermetic::set_mode;
use crate::procfs::caps;

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
    let from = base.join("test.cfg");
    let text = std::fs::read_to_string(&from).map_err(Error::io("read", &from))?;
    let text = text.replace("name = \"testguest\"", &format!("name = \"{name}\""));
    check(
        text.contains(&format!("name = \"{name}\"")),
        "test.cfg no longer names testguest: update this fixture",
    )?;
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
