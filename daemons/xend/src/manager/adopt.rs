//! Adopting the domains a previous xend left running, from their saved
//! state ([`crate::saved`]), and cleaning up those that cannot be.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::{self, ConfigError};
use crate::dm::kill::kill_uid;
use crate::domain::{DState, Domain};
use crate::error::DomainError;
use crate::launch::{publish_vnc, unregister};
use crate::manager::Manager;
use crate::manager::hotplug::Hot;
use crate::procstat::{ProcStatError, proc_identity};
use crate::saved::{StateError, read_state};
use crate::vnc;

/// Why a domain a previous xend left was not adopted (it is cleaned up).
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// xend died while starting it, before its state was written.
    #[error("no state.json (xend died while starting it)")]
    NoState,
    /// The state file could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// The file speaks of another domain or uid, or has no valid UUID.
    #[error("state.json does not match domain {domid} (uid {uid}); refused")]
    Mismatch {
        /// The directory's domid.
        domid: u32,
        /// The uid that domid's device model runs as.
        uid: u32,
    },
    /// The domid's device-model uid is unknown.
    #[error(transparent)]
    Uid(#[from] DomainError),
    /// A domain of that id is already known.
    #[error("domain {0} is already known")]
    Known(u32),
    /// The saved config no longer parses.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The recorded pid cannot be pinned (it is gone).
    #[error("pid {pid}: {source}")]
    Pid {
        /// The pid.
        pid: i32,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The pid's identity could not be read.
    #[error(transparent)]
    Identity(#[from] ProcStatError),
    /// The pid is another process now.
    #[error("pid {0} is another process now")]
    Reused(i32),
    /// The VNC listener could not be made again.
    #[error("{}: {source}", path.display())]
    Vnc {
        /// Its socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Manager {
    /// Finds the domains a previous xend left running (each domain's
    /// `state.json`) and takes them over: the recorded qemu must still be
    /// the same process (pid, start time and uid, checked through a
    /// pidfd). A domain whose qemu is gone is cleaned up.
    pub fn adopt_all(&mut self) {
        let dir = self.s.run.join("domains");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let path = e.path().join("state.json");
            // The directory name is the domid; nothing in state.json is
            // believed that can be worked out from what xend knows.
            let Some(domid) = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|d| *d >= 1 && *d < self.s.dm_uid_count)
            else {
                tracing::warn!(dir = %e.path().display(), "not a domain directory; left alone");
                continue;
            };
            match self.adopt(domid, &path) {
                Ok(()) => tracing::info!(domid, "domain adopted"),
                Err(why) => {
                    tracing::warn!(state = %path.display(), "not adopted: {why}; cleaning up");
                    self.clean_up(domid, &e.path(), &path);
                }
            }
        }
    }

    /// Ends what is left of a domain that was not adopted: whatever still
    /// runs under its uid, its store entries, its run directory.
    fn clean_up(&self, domid: u32, dir: &Path, path: &Path) {
        if self.s.dm_range
            && let Ok(uid) = self.uid_of(domid)
        {
            kill_uid(uid, domid);
        }
        crate::net::release_left_taps(self.s.system, domid);
        if let Ok(st) = read_state(path)
            && let Ok(cfg) = config::parse(Path::new(&st.source), &st.config)
            && crate::uuid::is_valid(&st.uuid)
        {
            let d = Domain {
                domid,
                config: cfg,
                uuid: st.uuid,
                state: DState::Crashed,
                child: None,
                started: SystemTime::now(),
                dir: dir.to_path_buf(),
                uid: self.uid_of(domid).unwrap_or(u32::MAX),
                vnc: None,
                vnc_tcp: None,
            };
            unregister(&self.s, &d);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Adopts domain `domid` from its state file at `path`.
    pub fn adopt(&mut self, domid: u32, path: &Path) -> Result<(), AdoptError> {
        if !path.exists() {
            return Err(AdoptError::NoState);
        }
        let st = read_state(path)?;
        let want_uid = self.uid_of(domid)?;
        if st.domid != domid
            || st.uid != want_uid
            || want_uid == 0
            || !crate::uuid::is_valid(&st.uuid)
        {
            return Err(AdoptError::Mismatch {
                domid,
                uid: want_uid,
            });
        }
        if self.domains.contains_key(&domid) {
            return Err(AdoptError::Known(domid));
        }
        let cfg = config::parse(Path::new(&st.source), &st.config)?;
        let hot = Hot::adopted(&st.uuid, st.attached.clone());
        let child = privlib::Child::adopt(st.pid).map_err(|source| AdoptError::Pid {
            pid: st.pid,
            source,
        })?;
        // The pidfd pins the process: now its identity can be checked.
        let (start, uid) = proc_identity(st.pid)?;
        if start != st.start_time || uid != st.uid {
            return Err(AdoptError::Reused(st.pid));
        }
        let mut d = Domain {
            domid,
            config: cfg,
            uuid: st.uuid,
            state: DState::Running,
            child: Some(child),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(st.started),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            uid: st.uid,
            vnc: None,
            vnc_tcp: None,
        };
        if d.config.vnc {
            // The old xend's listener died with it: a new one, same place.
            let p = d.dir.join("vnc");
            let _ = std::fs::remove_file(&p);
            let vnc = |source| AdoptError::Vnc {
                path: p.clone(),
                source,
            };
            let l = UnixListener::bind(&p).map_err(vnc)?;
            l.set_nonblocking(true).map_err(vnc)?;
            d.vnc = Some(l);
        }
        d.vnc_tcp = self.rebind_vnc_tcp(&d);
        if let Err(e) = publish_vnc(&self.s.xenstore, &d) {
            tracing::warn!(domid, "{e}");
        }
        self.domains.insert(domid, d);
        // What was hot-plugged stays known: `xm block-detach` works on.
        self.hot.insert(domid, hot);
        Ok(())
    }

    /// The TCP listener of an adopted domain's VNC, made again where its
    /// config says (the old xend's died with it). A failure leaves the
    /// domain adopted without it (the guest runs on, and its unix socket
    /// still serves), logged as an error naming the address and, for a
    /// port someone took while xend was down, the uid that listens there
    /// now; and the store's `console/vnc-port` and `console/vnc-listen`
    /// are removed ([`vnc::unpublish`]): they would send a `virt_manage`
    /// user's viewer to whoever holds the address, to be shown a screen
    /// that is not the guest's and to type into it.
    fn rebind_vnc_tcp(&self, d: &Domain) -> Option<std::net::TcpListener> {
        let domid = d.domid;
        let at = match vnc::listen_addr(&d.config, domid) {
            Ok(Some(at)) => at,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(domid, "VNC on TCP not opened again: {e}");
                self.withdraw_vnc(domid);
                return None;
            }
        };
        match vnc::allowed(&at, self.vnc_listen).and_then(|()| vnc::bind(at)) {
            Ok(l) => Some(l),
            Err(e) => {
                let why = match (&e, vnc::listener_uid(&at)) {
                    (vnc::VncError::InUse { .. }, Some(uid)) => format!(
                        "uid {uid} took {at} while xend was down: what listens there is not this domain's VNC (`ss -ltnp 'sport = :{}'` names the process)",
                        at.port()
                    ),
                    (vnc::VncError::InUse { .. }, None) => format!(
                        "another program took {at} while xend was down: what listens there is not this domain's VNC (`ss -ltnp 'sport = :{}'` names it)",
                        at.port()
                    ),
                    _ => e.to_string(),
                };
                tracing::error!(
                    domid,
                    addr = %at,
                    "VNC on TCP not opened again: {why}; its console/vnc-port and console/vnc-listen are removed from the store, the domain runs on, its VNC is served on its unix socket only"
                );
                self.withdraw_vnc(domid);
                None
            }
        }
    }

    /// Removes the VNC TCP keys of an adopted domain whose listener was
    /// not made again (see [`Manager::rebind_vnc_tcp`]).
    fn withdraw_vnc(&self, domid: u32) {
        if let Err(e) = vnc::unpublish(&self.s.xenstore, domid) {
            tracing::error!(
                domid,
                "{e}: the store still names a VNC address xend does not hold"
            );
        }
    }
}
