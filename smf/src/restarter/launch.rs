//! A start method run with the credential its manifest gives.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use privlib::{PrivSet, Spawn};

use super::state::{Restarter, humantime};
use crate::manifest::{Exec, expand, split_command};

impl Restarter {
    pub(super) fn launch(&mut self, i: usize) -> Result<privlib::Child, String> {
        let s = &self.svcs[i];
        let m =
            s.r.method("start")
                .ok_or("the manifest has no start method")?
                .clone();
        let Exec::Command(cmd) = &m.exec else {
            return Err("the start method runs no program".into());
        };
        if !matches!(s.duration(), "child" | "transient") {
            let set = if s.r.prop("startd", "duration").is_some() {
                format!("startd/duration is {}", s.duration())
            } else {
                "startd/duration is unset (contract)".to_string()
            };
            return Err(format!(
                "{set}: svc-startd tracks the one process it starts; set it to child (a daemon that stays in the foreground) or transient (runs once)"
            ));
        }
        let r = s.r.for_mode(self.cfg.system);
        let words = split_command(&expand(cmd, &r, "start")?)?;
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
            .map_err(|e| format!("{}: {e}", log.display()))?;
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
        let held = privlib::getppriv().map_err(|e| e.to_string())?;
        let parse = |t: &Option<String>| -> Result<Option<PrivSet>, String> {
            t.as_ref()
                .map(|t| privlib::parse_set(t).map_err(|e| e.to_string()))
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
            .map_err(|e| e.to_string())?
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
                None => privlib::os::accounts::group_list(&u)
                    .map_err(|e| format!("groups of {user}: {e}"))?,
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
        let child = sp.spawn().map_err(|e| e.to_string())?;
        self.svcs[i].uid = uid;
        Ok(child)
    }
}

/// A user by name or number.
fn lookup_user(user: &str) -> Result<privlib::os::accounts::User, String> {
    let found = match user.parse::<u32>() {
        Ok(n) => privlib::os::accounts::user_by_uid(n),
        Err(_) => privlib::os::accounts::user_by_name(user),
    };
    found
        .map_err(|e| format!("looking up user {user}: {e}"))?
        .ok_or_else(|| format!("no user \"{user}\""))
}

/// A group's gid, by name or number.
fn lookup_group(g: &str) -> Result<u32, String> {
    let found = match g.parse::<u32>() {
        Ok(n) => privlib::os::accounts::group_by_gid(n),
        Err(_) => privlib::os::accounts::group_by_name(g),
    };
    Ok(found
        .map_err(|e| format!("looking up group {g}: {e}"))?
        .ok_or_else(|| format!("no group \"{g}\""))?
        .gid)
}
