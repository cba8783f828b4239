//! A start method run with the credential its manifest gives.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use privlib::{PrivSet, Spawn};

use super::state::{Restarter, humantime};
use crate::manifest::{Exec, ExecError, expand, split_command};

/// Why a start method could not run (the reason its instance is put in
/// maintenance).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No start method.
    #[error("the manifest has no start method")]
    NoStart,
    /// `:kill` or `:true` as the start method.
    #[error("the start method runs no program")]
    NoProgram,
    /// `startd/duration` is not one svc-startd can track.
    #[error(
        "{}: svc-startd tracks the one process it starts; set it to child (a daemon that stays in the foreground) or transient (runs once)",
        duration_said(.0)
    )]
    Duration(Option<String>),
    /// The command line does not expand or split.
    #[error("{0}")]
    Command(#[source] ExecError),
    /// The instance's log could not be opened.
    #[error("{}: {source}", path.display())]
    Log {
        /// The log.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The restarter's own privileges could not be read.
    #[error("{0}")]
    Held(#[source] privlib::PrivError),
    /// The restarter's own uid could not be read.
    #[error("{0}")]
    Caller(#[source] privlib::procfs::ProcError),
    /// A privilege set in the credential does not parse.
    #[error("{0}")]
    Privileges(#[source] privlib::SetError),
    /// Looking a user or group up failed.
    #[error("looking up {what}: {source}")]
    Lookup {
        /// `user NAME`, `group NAME`, `groups of NAME`.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No such user.
    #[error("no user \"{0}\"")]
    NoUser(String),
    /// No such group.
    #[error("no group \"{0}\"")]
    NoGroup(String),
    /// The method could not be started.
    #[error("{0}")]
    Spawn(#[source] privlib::SpawnError),
}

impl Restarter {
    pub(super) fn launch(&mut self, i: usize) -> Result<privlib::Child, LaunchError> {
        let s = &self.svcs[i];
        let m = s.r.method("start").ok_or(LaunchError::NoStart)?.clone();
        let Exec::Command(cmd) = &m.exec else {
            return Err(LaunchError::NoProgram);
        };
        if !matches!(s.duration(), "child" | "transient") {
            let set =
                s.r.prop("startd", "duration")
                    .map(|_| s.duration().to_string());
            return Err(LaunchError::Duration(set));
        }
        let r = s.r.for_mode(self.cfg.system);
        let words = expand(cmd, &r, "start")
            .and_then(|c| split_command(&c))
            .map_err(LaunchError::Command)?;
        let program = if words[0].contains('/') {
            PathBuf::from(&words[0])
        } else {
            self.cfg.bindir.join(&words[0])
        };
        let ctx = r.method_context(&m);
        let cred = ctx.credential.clone().unwrap_or_default();
        let log = s.log_path(&self.cfg.logdir);
        let logf = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|source| LaunchError::Log {
                path: log.clone(),
                source,
            })?;
        let mut sp = Spawn::new(&program).args(&words[1..]);
        sp = sp.env("PATH", "/usr/bin:/bin");
        for (k, v) in &self.cfg.env {
            sp = sp.env(k, v);
        }
        sp = sp
            .env("SMF_FMRI", r.fmri.to_string())
            .env("SMF_METHOD", "start");
        for (k, v) in &ctx.environment {
            sp = sp.env(k, v);
        }
        if let Some(d) = &ctx.working_directory {
            sp = sp.cwd(d);
        }
        let held = privlib::getppriv().map_err(LaunchError::Held)?;
        let parse = |t: &Option<String>| -> Result<Option<PrivSet>, LaunchError> {
            t.as_ref()
                .map(|t| privlib::parse_set(t).map_err(LaunchError::Privileges))
                .transpose()
        };
        let mut limit = parse(&cred.limit_privileges)?;
        // No privileges given: basic, as on illumos (within the limit).
        let mut privs = match parse(&cred.privileges)? {
            Some(p) => Some(p),
            None => Some(match &limit {
                Some(l) => PrivSet::basic().intersect(l),
                None => PrivSet::basic(),
            }),
        };
        let mut uid = privlib::procfs::read_cred(Path::new("/proc"), "self")
            .map_err(LaunchError::Caller)?
            .uid[1];
        if self.cfg.system {
            let user = cred.user.as_deref().unwrap_or("root");
            let u = lookup_user(user)?;
            let gid = match &cred.group {
                Some(g) => lookup_group(g)?,
                None => u.gid,
            };
            // No supp_groups: the user's own groups, as initgroups gives.
            let groups: Vec<u32> = match &cred.supp_groups {
                None => {
                    privlib::os::accounts::group_list(&u).map_err(|source| LaunchError::Lookup {
                        what: format!("the groups of {user}"),
                        source,
                    })?
                }
                Some(named) => named
                    .iter()
                    .map(|g| lookup_group(g))
                    .collect::<Result<_, _>>()?,
            };
            uid = u.uid;
            sp = sp.uid(u.uid).gid(gid).groups(&groups);
        } else {
            // Session mode: the user's own processes, never more than the
            // restarter holds.
            privs = privs.map(|p| p.intersect(&held.permitted));
            limit = limit.map(|l| l.intersect(&held.limit));
        }
        if let Some(p) = privs {
            sp = sp.privileges(p);
        }
        if let Some(l) = limit {
            sp = sp.limit(l);
        }
        sp = sp.pass_fd(logf.as_raw_fd(), 1).pass_fd(logf.as_raw_fd(), 2);
        {
            use std::io::Write;
            let _ = writeln!(
                &logf,
                "[ {} starting: {} ]",
                humantime(SystemTime::now()),
                words.join(" ")
            );
        }
        let child = sp.spawn().map_err(LaunchError::Spawn)?;
        self.svcs[i].uid = uid;
        Ok(child)
    }
}

/// What `startd/duration` is, for [`LaunchError::Duration`].
fn duration_said(d: &Option<String>) -> String {
    match d {
        Some(d) => format!("startd/duration is {d}"),
        None => "startd/duration is unset (contract)".to_string(),
    }
}

/// A user by name or number.
fn lookup_user(user: &str) -> Result<privlib::os::accounts::User, LaunchError> {
    let found = match user.parse::<u32>() {
        Ok(n) => privlib::os::accounts::user_by_uid(n),
        Err(_) => privlib::os::accounts::user_by_name(user),
    };
    found
        .map_err(|source| LaunchError::Lookup {
            what: format!("user {user}"),
            source,
        })?
        .ok_or_else(|| LaunchError::NoUser(user.to_string()))
}

/// A group's gid, by name or number.
fn lookup_group(g: &str) -> Result<u32, LaunchError> {
    let found = match g.parse::<u32>() {
        Ok(n) => privlib::os::accounts::group_by_gid(n),
        Err(_) => privlib::os::accounts::group_by_name(g),
    };
    Ok(found
        .map_err(|source| LaunchError::Lookup {
            what: format!("group {g}"),
            source,
        })?
        .ok_or_else(|| LaunchError::NoGroup(g.to_string()))?
        .gid)
}
