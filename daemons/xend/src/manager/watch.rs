//! Looking after running domains: device models that ended, shutdowns
//! past their deadline ([`Manager::tick`]), and the QMP commands sent to
//! a domain without the manager's lock.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;

use crate::config::Action;
use crate::dm::log::{QEMU_LOG_TAIL, log_tail};
use crate::domain::DState;
use crate::error::DomainError;
use crate::manager::{Ending, Manager};
use crate::qmp::Qmp;
use crate::vnc::MAX_VNC_CLIENTS;

impl Manager {
    /// Finds device models that ended and shutdowns past their deadline.
    /// Each such domain is taken out ([`Manager::take`]) and returned, to
    /// be ended (and restarted, for `on_* = restart`) without the lock.
    pub fn tick(&mut self) -> Vec<Ending> {
        let now = Instant::now();
        let ids: Vec<u32> = self.domains.keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            let Some(d) = self.domains.get_mut(&id) else {
                continue;
            };
            if let DState::ShuttingDown(deadline) = d.state
                && now >= deadline
            {
                tracing::warn!(domid = id, "shutdown took too long: destroying");
                out.extend(self.take(&id.to_string()).ok().map(|domain| Ending {
                    domain,
                    restart: None,
                }));
                continue;
            }
            let ended = d
                .child
                .as_ref()
                .is_some_and(|c| privlib::os::poll::readable(c.pidfd().as_fd(), 0));
            if !ended {
                continue;
            }
            let status = d.child.as_mut().map(privlib::Child::wait);
            d.child = None;
            // qemu exits 0 when the guest powers off; anything else (a
            // signal, an error, an adopted qemu whose status we cannot
            // see) is a crash.
            let clean = matches!(&status, Some(Ok(st)) if st.success());
            let action = if clean {
                d.config.on_poweroff
            } else {
                d.config.on_crash
            };
            let tail = log_tail(&d.dir.join("qemu.log"), QEMU_LOG_TAIL);
            tracing::warn!(domid = id, ?status, action = action.name(), qemu_log = %tail.trim(), "device model ended");
            let restart = match action {
                Action::Preserve => {
                    d.state = DState::Crashed;
                    continue;
                }
                Action::Destroy => None,
                Action::Restart => Some((d.config.name.clone(), d.config.to_text())),
            };
            out.extend(
                self.take(&id.to_string())
                    .ok()
                    .map(|domain| Ending { domain, restart }),
            );
        }
        out
    }
}

/// Sends one QMP command to the socket at `qmp` (bounded by QMP's
/// deadline; no lock needed).
pub fn qmp_command(qmp: &Path, command: &str) -> Result<(), DomainError> {
    Qmp::connect(qmp)
        .and_then(|mut q| q.execute(command))
        .map(drop)
        .map_err(DomainError::Qmp)
}

/// Hands a VNC client (from the unix socket or the TCP gate) to domain
/// `id`'s qemu over its QMP socket, unless qemu serves
/// [`MAX_VNC_CLIENTS`] already (then it is closed, with a warning).
pub fn vnc_hand_over(id: u32, client: &impl AsFd, qmp: &Path) {
    let r = Qmp::connect(qmp).and_then(|mut q| {
        let serving = q.execute("query-vnc-servers").map(|v| vnc_clients(&v))?;
        if serving >= MAX_VNC_CLIENTS {
            return Ok(false);
        }
        q.add_client("vnc", client.as_fd()).map(|()| true)
    });
    match r {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            domid = id,
            "VNC client closed: qemu serves {MAX_VNC_CLIENTS} clients already"
        ),
        Err(e) => tracing::warn!(domid = id, "VNC client not handed over: {e}"),
    }
}

/// The clients of every VNC server in a `query-vnc-servers` answer
/// (`[{"clients": [...], ...}, ...]`); an answer of another shape counts
/// as full, so that nothing is handed to a qemu that does not say.
pub fn vnc_clients(answer: &serde_json::Value) -> usize {
    let Some(servers) = answer.as_array() else {
        return usize::MAX;
    };
    servers
        .iter()
        .map(|s| {
            s.get("clients")
                .and_then(serde_json::Value::as_array)
                .map_or(usize::MAX, Vec::len)
        })
        .fold(0, usize::saturating_add)
}
