//! Checking a spawn and working out the child's steps, through `Sys`
//! only: under the recording fake a plan makes no system call.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Invalid, Spawn, SpawnError};
use crate::basic;
use crate::caps::num;
use crate::process::PrivError;
use crate::set::PrivSet;
use crate::sys::child::ExecImage;
use crate::sys::fds::MAX_PASSED_FDS;
use crate::sys::landlock::{Ruleset, fs};
use crate::sys::{self, CapState, CredOp, HeldFd, Sys, bpf, secbit};

/// Fds to pass: (the caller's, the child's number).
type FdPairs = Vec<(RawFd, RawFd)>;

/// The checked plan of a spawn: what the child will do, in order.
#[derive(Debug)]
pub struct Plan {
    /// The child's steps before exec.
    pub ops: Vec<CredOp>,
    /// The program image.
    pub image: ExecImage,
    /// The Landlock ruleset the child enforces (kept open until the fork).
    pub ruleset: Option<Ruleset>,
    /// /dev/null, for standard fds that are not passed (kept open until the fork).
    pub devnull: Option<HeldFd>,
    /// Whether exec is let through once by a seccomp listener.
    pub exec_once: bool,
}

fn cstring(what: &'static str, s: &OsStr) -> Result<CString, Invalid> {
    CString::new(s.as_bytes()).map_err(|_| Invalid::Nul(what))
}

/// Finds `program` like execvp would, once, in the parent: the child then
/// makes exactly one execve (which matters when exec is let through once).
fn resolve(sys: &impl Sys, program: &OsStr) -> Result<PathBuf, Invalid> {
    let p = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        return if sys.is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(Invalid::NotExecutable)
        };
    }
    let path_var = sys
        .path_var()
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path_var)
        .map(|d| d.join(p))
        .find(|c| sys.is_executable(c))
        .ok_or(Invalid::NotInPath)
}

impl Spawn {
    /// Validates the request and works out the child's steps, in order:
    ///
    /// 1. signals reset (the Rust runtime ignores SIGPIPE);
    /// 2. namespaces and rlimits, while still privileged (raising a hard
    ///    limit needs sys_resource);
    /// 3. fds moved into place, all others close-on-exec; cwd;
    /// 4. securebits locked and bounding set narrowed: both need
    ///    CAP_SETPCAP, which the uid change may cost;
    /// 5. groups, gid, uid;
    /// 6. capsets and ambient set: the privileges the program will hold;
    /// 7. no_new_privs, Landlock, and seccomp last, so that no earlier step
    ///    is filtered.
    pub fn plan(&self, sys: &impl Sys) -> Result<Plan, SpawnError> {
        let name = self.program.to_string_lossy().into_owned();
        let privs_err = |source| SpawnError::Privileges {
            program: name.clone(),
            source,
        };

        // Validate.
        let (path, image) = self.image(sys)?;
        self.check_fds(sys)?;
        let cwd = match &self.cwd {
            Some(d) => Some(cstring("cwd", d.as_os_str()).map_err(|w| self.invalid(w))?),
            None => None,
        };

        let last = sys.last_cap();
        let caps = sys.caps().map_err(|e| privs_err(e.into()))?;
        let bounding = sys.bounding();
        let ids = sys.ids();
        let st = crate::process::getppriv_from(sys, &caps, bounding);
        let inherit = self.privileges.unwrap_or(st.inheritable);
        let limit = self.limit.unwrap_or(st.limit);
        let post = inherit.intersect(&limit);
        let post_caps = post.caps(last);
        if !caps.permitted.contains(post_caps) {
            return Err(privs_err(PrivError::NotHeld(
                PrivSet::from_caps(post_caps.minus(caps.permitted)).to_literal(),
            )));
        }
        let limit_caps = limit.caps(last);
        let setpcap = caps.permitted.has(num::SETPCAP);
        let removal = basic::removal(&post, true);
        let mut seccomp_rules = removal.rules.clone();
        seccomp_rules.extend_from_slice(&self.seccomp);
        let exec_once = seccomp_rules.iter().any(bpf::Rule::notifies);
        if removal.landlock_fs & fs::READ_FILE != 0 && self.fs_allow.is_none() {
            return Err(self.invalid(Invalid::NoFileRead));
        }

        let ruleset = self.ruleset(sys, &path, &removal)?;

        // Act: the child's steps.
        let mut ops = vec![CredOp::ResetSignals];
        if self.unshare != 0 {
            ops.push(CredOp::Unshare(self.unshare));
        }
        for (resource, soft, hard) in &self.rlimits {
            ops.push(CredOp::Rlimit {
                resource: *resource,
                soft: *soft,
                hard: *hard,
            });
        }
        let (pairs, devnull) = self.fds_with_devnull(sys)?;
        ops.push(CredOp::RemapFds(pairs));
        // E = P for the steps below.
        if caps.effective != caps.permitted {
            ops.push(CredOp::SetCaps(CapState {
                effective: caps.permitted,
                ..caps
            }));
        }
        let sb = sys.securebits();
        let lock = self.lock_securebits && sb & secbit::LOCKED_NOROOT != secbit::LOCKED_NOROOT;
        let child_root = self.uid.map_or(ids.uid.contains(&0), |u| u == 0);
        if lock && !setpcap && child_root {
            // A uid-0 program without NOROOT gets every capability of its
            // bounding set at exec: refuse rather than start it so.
            return Err(privs_err(PrivError::NoSetpcap));
        }
        if lock && setpcap {
            ops.push(CredOp::Securebits(sb | secbit::LOCKED_NOROOT));
        }
        let drop = bounding.minus(limit_caps);
        let narrowed_by_nnp = !drop.is_empty() && !setpcap;
        if !drop.is_empty() && setpcap {
            ops.push(CredOp::DropBounding(drop));
        }
        let uid_change = self.uid.is_some_and(|u| ids.uid != [u; 3]);
        let fixup_off = (lock && setpcap) || sb & secbit::NO_SETUID_FIXUP != 0;
        if uid_change && !fixup_off {
            // Without NO_SETUID_FIXUP, leaving uid 0 would clear P.
            ops.push(CredOp::KeepCaps(true));
        }
        // A new uid does not inherit our supplementary groups (root's
        // groups would otherwise ride along).
        match &self.groups {
            Some(g) => ops.push(CredOp::SetGroups(g.clone())),
            None if uid_change => ops.push(CredOp::SetGroups(Vec::new())),
            None => {}
        }
        if let Some(g) = self.gid.filter(|g| ids.gid != [*g; 3]) {
            ops.push(CredOp::SetGid(g));
        }
        if let Some(u) = self.uid.filter(|_| uid_change) {
            ops.push(CredOp::SetUid(u));
        }
        // As the new user: a directory it could not enter stays closed.
        if let Some(c) = cwd {
            ops.push(CredOp::Chdir(c));
        }
        // As the new user too: its own user namespace maps only it.
        if let Some(op) = self.private_dev_op(sys, ids, limit_caps)? {
            ops.push(op);
        }
        ops.push(CredOp::SetCaps(CapState {
            effective: post_caps,
            permitted: post_caps,
            inheritable: inherit.caps(last).intersect(limit_caps),
        }));
        ops.push(CredOp::ClearAmbient);
        if !post_caps.is_empty() {
            ops.push(CredOp::RaiseAmbient(post_caps));
        }
        if self.no_new_privs
            || narrowed_by_nnp
            || !removal.is_empty()
            || ruleset.is_some()
            || !seccomp_rules.is_empty()
        {
            ops.push(CredOp::NoNewPrivs);
        }
        if let Some(rs) = &ruleset {
            ops.push(CredOp::LandlockRestrict(rs.fd()));
        }
        if !seccomp_rules.is_empty() {
            let prog =
                bpf::assemble(&seccomp_rules).map_err(|e| self.invalid(Invalid::Seccomp(e)))?;
            let flags = if exec_once {
                sys::SECCOMP_FILTER_FLAG_NEW_LISTENER
            } else {
                0
            };
            // The listener socket is filled in by `spawn`.
            ops.push(CredOp::Seccomp {
                prog,
                flags,
                listener_to: exec_once.then_some(-1),
            });
        }
        Ok(Plan {
            ops,
            image,
            ruleset,
            devnull,
            exec_once,
        })
    }

    /// The program found on PATH (once, in the parent: the child then makes
    /// exactly one execve) and its argument and environment vectors.
    fn image(&self, sys: &impl Sys) -> Result<(PathBuf, ExecImage), SpawnError> {
        let path = resolve(sys, &self.program).map_err(|w| self.invalid(w))?;
        let c_path = cstring("program path", path.as_os_str()).map_err(|w| self.invalid(w))?;
        let args = self
            .args
            .iter()
            .map(|a| cstring("an argument", a))
            .collect::<Result<Vec<_>, _>>();
        let args = args.map_err(|w| self.invalid(w))?;
        let mut env = Vec::with_capacity(self.env.len());
        for (k, v) in &self.env {
            if k.is_empty() || k.as_bytes().contains(&b'=') {
                return Err(self.invalid(Invalid::EnvName(k.clone())));
            }
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            env.push(cstring("the environment", &kv).map_err(|w| self.invalid(w))?);
        }
        Ok((path, ExecImage::new(c_path, args, env)))
    }

    /// Every fd to pass is open, and every target is given once.
    fn check_fds(&self, sys: &impl Sys) -> Result<(), SpawnError> {
        if self.fds.len() > MAX_PASSED_FDS {
            return Err(self.invalid(Invalid::TooManyFds));
        }
        for (i, (from, to)) in self.fds.iter().enumerate() {
            if *to < 0 || self.fds[..i].iter().any(|(_, t)| t == to) {
                return Err(self.invalid(Invalid::FdTarget(*to)));
            }
            if !sys.fd_is_open(*from) {
                return Err(self.invalid(Invalid::FdNotOpen {
                    from: *from,
                    to: *to,
                }));
            }
        }
        Ok(())
    }

    /// The Landlock ruleset, if any: the rights the removed basic
    /// privileges and the caller's confinement handle, with the program
    /// file (`path`) readable and executable.
    fn ruleset(
        &self,
        sys: &impl Sys,
        path: &Path,
        removal: &basic::Removal,
    ) -> Result<Option<Ruleset>, SpawnError> {
        let mut handled = removal.landlock_fs;
        if self.fs_allow.is_some() {
            handled |= sys::landlock::fs_rights(sys.landlock_abi());
        }
        if handled == 0 && removal.landlock_scope == 0 {
            return Ok(None);
        }
        let mut allow: Vec<(&Path, u64)> = vec![(path, fs::READ_FILE | fs::EXECUTE)];
        for (p, a) in self.fs_allow.iter().flatten() {
            allow.push((p.as_path(), a.0));
        }
        basic::landlock::ruleset(sys, handled, removal.landlock_scope, &allow)
            .map(Some)
            .map_err(|e| SpawnError::Privileges {
                program: self.program.to_string_lossy().into_owned(),
                source: e.into(),
            })
    }

    /// The (from, to) fds for the child. Standard fds that are not passed
    /// read and write /dev/null (returned, to be held until the fork): a
    /// closed fd 0-2 would be taken by the program's next open.
    fn fds_with_devnull(&self, sys: &impl Sys) -> Result<(FdPairs, Option<HeldFd>), SpawnError> {
        let mut pairs = self.fds.clone();
        let unpassed = |pairs: &[(RawFd, RawFd)], t: RawFd| !pairs.iter().any(|(_, to)| *to == t);
        if !(0..=2).any(|t| unpassed(&pairs, t)) {
            return Ok((pairs, None));
        }
        let null = sys
            .open_devnull()
            .map_err(|e| self.invalid(Invalid::DevNull(e)))?;
        for t in 0..=2 {
            if unpassed(&pairs, t) {
                pairs.push((null.as_raw_fd(), t));
            }
        }
        Ok((pairs, Some(null)))
    }

    /// The private /dev step, if asked for: the nodes checked by name and
    /// on the host, and the one-uid maps of the child's user namespace.
    fn private_dev_op(
        &self,
        sys: &impl Sys,
        ids: sys::Ids,
        bounding: crate::caps::CapMask,
    ) -> Result<Option<CredOp>, SpawnError> {
        let Some(nodes) = &self.private_dev else {
            return Ok(None);
        };
        if nodes.len() > sys::MAX_DEV_NODES {
            return Err(self.invalid(Invalid::TooManyNodes));
        }
        let mut paths = Vec::new();
        for n in nodes {
            if n.is_empty() || n.contains('/') || n.starts_with('.') {
                return Err(self.invalid(Invalid::NodeName(n.clone())));
            }
            let host = Path::new("/dev").join(n);
            // Checked here for a clear error; the child opens it again.
            sys.check_node(&host).map_err(|source| {
                self.invalid(Invalid::Node {
                    path: host.clone(),
                    source,
                })
            })?;
            paths.push(cstring("a /dev node", host.as_os_str()).map_err(|w| self.invalid(w))?);
        }
        let uid = self.uid.unwrap_or(ids.uid[1]);
        let gid = self.gid.unwrap_or(ids.gid[1]);
        let map = |what, id: u32| {
            cstring(what, OsStr::new(&format!("{id} {id} 1"))).map_err(|w| self.invalid(w))
        };
        Ok(Some(CredOp::PrivateDev(sys::PrivateDev {
            uid_map: map("uid_map", uid)?,
            gid_map: map("gid_map", gid)?,
            nodes: paths,
            bounding,
        })))
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
