//! The destination's side of a migration: the arriving domain started
//! to receive its state, then loaded, registered and resumed, or ended
//! (see [`super`]).

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{domain_err, gave_up, migration_status, qmp_err, refused};
use crate::api::{DomainInfo, ErrorKind, Incoming, IncomingDoneParams, IncomingParams, RpcError};
use crate::domain::DState;
use crate::jobs::{FD_NAME, LOAD_WITHIN};
use crate::manager;
use crate::qmp::Qmp;
use crate::server::Xend;

impl Xend {
    /// `relocation.incoming`: starts an arriving domain to receive its
    /// state; the fd relocd writes that state into.
    pub fn relocation_incoming(&self, p: &IncomingParams) -> Result<(Incoming, OwnedFd), RpcError> {
        self.relocation_on("a domain arriving from another host")?;
        let (r, s) = {
            let mut m = self.lock();
            (
                m.reserve_incoming(&p.source, &p.config, &p.uuid)
                    .map_err(domain_err)?,
                m.s.clone(),
            )
        };
        let started = manager::launch(&s, &r);
        let info = self.lock().finish(r, started).map_err(domain_err)?;
        let domid = info.domid.unwrap_or_default();
        self.relocations
            .lock()
            .arriving
            .push((domid, p.uuid.clone()));
        let handed = (|| {
            // relocd writes, qemu reads.
            let (ours, theirs) =
                super::stream_pipe().map_err(|source| crate::qmp::QmpError::Io {
                    step: "pipe",
                    source,
                })?;
            let mut q = Qmp::connect(&s.run.join("domains").join(domid.to_string()).join("qmp"))?;
            q.get_fd(FD_NAME, ours.as_fd())?;
            q.call("migrate-incoming", json!({"uri": format!("fd:{FD_NAME}")}))?;
            Ok::<_, crate::qmp::QmpError>(theirs)
        })();
        match handed {
            Ok(fd) => {
                tracing::info!(domid, from = %p.from, uuid = %p.uuid, "domain arriving");
                Ok((
                    Incoming {
                        domid,
                        uuid: p.uuid.clone(),
                    },
                    fd,
                ))
            }
            Err(e) => {
                self.end_arriving(domid, &p.uuid);
                Err(qmp_err("receiving the migration", e))
            }
        }
    }

    fn end_arriving(&self, domid: u32, uuid: &str) {
        self.relocations
            .lock()
            .arriving
            .retain(|(d, u)| !(*d == domid && u == uuid));
        let taken = {
            let mut m = self.lock();
            match m.domains.get(&domid) {
                Some(d) if d.uuid == uuid => m.take(&domid.to_string()).ok(),
                _ => None,
            }
        };
        if let Some(d) = taken {
            let s = self.settings();
            let id = manager::end(&s, d);
            self.lock().release(id);
            tracing::warn!(domid, "arriving domain ended: its migration failed");
        }
    }

    /// `relocation.incoming-done`: the stream ended; the arriving domain
    /// loaded, registered and resumed, or ended.
    pub fn relocation_incoming_done(&self, p: &IncomingDoneParams) -> Result<DomainInfo, RpcError> {
        let arriving = self
            .relocations
            .lock()
            .arriving
            .iter()
            .any(|(d, u)| *d == p.domid && *u == p.uuid);
        if !arriving {
            return Err(refused(
                ErrorKind::NoDomain,
                format!("no domain {} ({}) is arriving", p.domid, p.uuid),
            ));
        }
        if !p.ok {
            self.end_arriving(p.domid, &p.uuid);
            return Err(refused(
                ErrorKind::Migration,
                "the stream failed: the arriving domain was ended",
            ));
        }
        let qmp = self
            .settings()
            .run
            .join("domains")
            .join(p.domid.to_string())
            .join("qmp");
        let t = Instant::now();
        let status = loop {
            match migration_status(&qmp) {
                Ok(s) if s == "completed" || gave_up(&s) => break Ok(s),
                Ok(_) if t.elapsed() > LOAD_WITHIN => break Ok("not loaded in time".to_string()),
                Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => break Err(e),
            }
        };
        let loaded = match status {
            Ok(s) if s == "completed" => Ok(()),
            Ok(s) => Err(format!("qemu's incoming migration is {s}")),
            Err(e) => Err(format!("its qemu: {e}")),
        };
        let registered = loaded.and_then(|()| {
            let m = self.lock();
            match m.domains.get(&p.domid) {
                Some(d) if d.uuid == p.uuid => {
                    crate::launch::register(&m.s.xenstore, d).map_err(|e| e.to_string())
                }
                _ => Err("it ended while arriving".to_string()),
            }
        });
        let resumed = registered.and_then(|()| {
            if p.resume {
                manager::qmp_command(&qmp, "cont").map_err(|e| format!("resuming it: {e}"))
            } else {
                Ok(())
            }
        });
        if let Err(why) = resumed {
            self.end_arriving(p.domid, &p.uuid);
            return Err(refused(
                ErrorKind::Migration,
                format!("domain {}: {why}; ended here", p.domid),
            ));
        }
        self.relocations
            .lock()
            .arriving
            .retain(|(d, u)| !(*d == p.domid && *u == p.uuid));
        let mut m = self.lock();
        m.set_state(p.domid, &p.uuid, DState::running_if(p.resume));
        tracing::info!(domid = p.domid, uuid = %p.uuid, "domain arrived");
        m.info(&p.domid.to_string()).map_err(domain_err)
    }
}
