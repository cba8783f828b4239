//! xend's RPC server: clients served concurrently, domains looked after.
//!
//! # Model
//! A thread per served connection, bounded by privlib's [`privlib::Gate`] (its
//! total and per-uid limits), plus the main thread that watches device
//! models and VNC listeners ([`Xend::tick`]). The [`Manager`] sits behind
//! one mutex that is only held for quick bookkeeping: every step that may
//! wait (starting a device model, ending one, which can take seconds,
//! and every QMP command, which a compromised qemu could stall up to its
//! deadline) runs with the lock released, on the domain it took out or
//! reserved ([`Manager::reserve`], [`Manager::take`]). So a slow, stalled
//! or hostile client holds only its own thread, and `list` or `info`
//! never wait for a `create` or a `destroy`.
//!
//! Threads rather than an event loop: the manager's work is blocking
//! system calls and child processes, and the gate already bounds how many
//! threads there can be; an async runtime would bring a large dependency
//! for no gain in that bound. Privileges are per thread on Linux: every
//! thread starts with xend's permitted set and raises `proc_setid` in its
//! own effective set around a launch (see [`crate::privs`]).

use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use privlib::names::{virt_manage, xvm_control};
use privlib::{Policy, Refusal, Slot, Ucred, Verdict, require_any};
use serde_json::{Value, json};

use crate::error::DomainError;
use crate::manager::{self, DState, Ending, Manager};
use crate::rpc::{self, RpcError};

/// Requests one connection may send before it is closed.
pub const MAX_REQUESTS: usize = 64;

/// How JSON-RPC refuses a peer: the `DENIED` error, to the id of its first
/// request when that line arrived whole and names one.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcRefusal;

impl Refusal for RpcRefusal {
    fn complete(&self, first: &[u8]) -> bool {
        first.contains(&b'\n')
    }

    fn reply(&self, first: &[u8], why: &str) -> Vec<u8> {
        let id = first
            .split(|b| *b == b'\n')
            .next()
            .filter(|_| first.contains(&b'\n'))
            .and_then(|line| serde_json::from_slice::<Value>(line).ok())
            .and_then(|v| v.get("id").cloned())
            .unwrap_or(Value::Null);
        let msg = json!({
            "jsonrpc": "2.0",
            "error": RpcError { code: rpc::DENIED, message: why.to_string() },
            "id": id,
        });
        let mut text = msg.to_string();
        text.push('\n');
        text.into_bytes()
    }
}

/// The running xend: the domains, and who may ask for what.
#[derive(Debug)]
pub struct Xend {
    m: Mutex<Manager>,
    policy: Policy,
    endpoint: String,
}

fn lock_any<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn failed(e: DomainError) -> RpcError {
    RpcError {
        code: rpc::FAILED,
        message: e.to_string(),
    }
}

impl Xend {
    /// xend over `m`, deciding peers of the socket `endpoint` by `policy`.
    pub fn new(m: Manager, policy: Policy, endpoint: String) -> Xend {
        Xend {
            m: Mutex::new(m),
            policy,
            endpoint,
        }
    }

    /// The manager, locked (for quick bookkeeping only).
    pub fn lock(&self) -> MutexGuard<'_, Manager> {
        // A panic while holding the lock leaves the manager's maps as
        // they were between two of their own operations.
        self.m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings (a copy, for work done without the lock).
    pub fn settings(&self) -> manager::Settings {
        self.lock().s.clone()
    }

    /// The gate's verdict on a peer: `xvm_control` may take reserved
    /// slots, `virt_manage` ordinary ones, anyone else is refused.
    pub fn verdict(&self, cred: &Ucred) -> Verdict {
        match require_any(
            &self.policy,
            cred,
            &self.endpoint,
            &[xvm_control(), virt_manage()],
        ) {
            Ok(g) if g.privilege == xvm_control() => Verdict::Reserved,
            Ok(_) => Verdict::Ordinary,
            Err(d) => Verdict::Refused(d.message()),
        }
    }

    /// Serves one admitted connection: up to [`MAX_REQUESTS`] requests,
    /// each line bounded in size and time ([`rpc::read_line`]).
    pub fn connection(&self, stream: &UnixStream, _slot: Slot) {
        for _ in 0..MAX_REQUESTS {
            let line = match rpc::read_line(stream) {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(message) => {
                    let e = RpcError {
                        code: rpc::INVALID_REQUEST,
                        message,
                    };
                    return rpc::answer(stream, &Value::Null, Err(e));
                }
            };
            match rpc::decode(&line) {
                Ok(req) => {
                    let result = self.handle(&req);
                    rpc::answer(stream, &req.id, result);
                }
                Err(u @ rpc::Undecodable::WrongVersion { .. }) => {
                    rpc::answer(stream, u.id(), Err(u.error().clone()));
                }
                Err(u) => return rpc::answer(stream, u.id(), Err(u.error().clone())),
            }
        }
    }

    /// Answers one request.
    pub fn handle(&self, req: &rpc::Request) -> Result<Value, RpcError> {
        let param = |k: &str| -> Result<String, RpcError> {
            req.params
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| RpcError {
                    code: rpc::INVALID_PARAMS,
                    message: format!("{} needs the string parameter \"{k}\"", req.method),
                })
        };
        match req.method.as_str() {
            "domain.create" => self
                .create(&param("source")?, &param("config")?)
                .map_err(failed),
            // Managed configs are files: read and written without the lock.
            "domain.list" => {
                let managed = manager::managed_configs(&self.settings());
                Ok(self.lock().list_with(managed))
            }
            "domain.new" => {
                manager::store_managed(&self.settings(), &param("source")?, &param("config")?)
                    .map_err(failed)
            }
            "domain.start" => {
                let name = param("domain")?;
                let (source, text) =
                    manager::managed_config(&self.settings(), &name).map_err(failed)?;
                self.create(&source, &text).map_err(failed)
            }
            "domain.delete" => self
                .lock()
                .delete_managed(&param("domain")?)
                .map_err(failed),
            "domain.info" => self.lock().info(&param("domain")?).map_err(failed),
            "domain.destroy" => self.destroy(&param("domain")?).map_err(failed),
            "domain.shutdown" => self.shutdown(&param("domain")?).map_err(failed),
            "domain.reboot" => self.reboot(&param("domain")?).map_err(failed),
            "domain.pause" => self.pause(&param("domain")?, true).map_err(failed),
            "domain.unpause" => self.pause(&param("domain")?, false).map_err(failed),
            other => Err(RpcError {
                code: rpc::METHOD_NOT_FOUND,
                message: format!("no method {other}"),
            }),
        }
    }

    /// Creates a domain; only the reservation and the record take the lock.
    pub fn create(&self, source: &str, text: &str) -> Result<Value, DomainError> {
        let (r, s) = {
            let mut m = self.lock();
            (m.reserve(source, text)?, m.s.clone())
        };
        let started = manager::launch(&s, &r);
        self.lock().finish(r, started)
    }

    /// Destroys a domain; its qemu is ended without the lock.
    pub fn destroy(&self, which: &str) -> Result<Value, DomainError> {
        let (d, s) = {
            let mut m = self.lock();
            (m.take(which)?, m.s.clone())
        };
        let id = manager::end(&s, d);
        self.lock().release(id);
        Ok(json!({ "domid": id }))
    }

    /// Reboots: destroy, then create from the same config.
    pub fn reboot(&self, which: &str) -> Result<Value, DomainError> {
        let (name, text) = self.lock().config_of(which)?;
        self.destroy(which)?;
        self.create(&name, &text)
    }

    /// Presses the power button (ACPI); [`Xend::tick`] destroys the domain
    /// at the deadline if it has not powered off by then.
    pub fn shutdown(&self, which: &str) -> Result<Value, DomainError> {
        let (id, uuid, qmp, timeout) = {
            let m = self.lock();
            let (id, uuid, qmp) = m.qmp_of(which)?;
            (id, uuid, qmp, m.s.shutdown_timeout)
        };
        manager::qmp_command(&qmp, "system_powerdown")?;
        self.lock()
            .set_state(id, &uuid, DState::ShuttingDown(Instant::now() + timeout));
        Ok(json!({ "domid": id }))
    }

    /// Pauses (`pause`) or resumes a domain.
    pub fn pause(&self, which: &str, pause: bool) -> Result<Value, DomainError> {
        let (id, uuid, qmp) = self.lock().qmp_of(which)?;
        manager::qmp_command(&qmp, if pause { "stop" } else { "cont" })?;
        let state = if pause {
            DState::Paused
        } else {
            DState::Running
        };
        self.lock().set_state(id, &uuid, state);
        Ok(json!({ "domid": id }))
    }

    /// Looks after the domains: each device model that ended, and each
    /// shutdown past its deadline, is ended on a thread of its own (and
    /// started again for `on_* = restart`).
    pub fn tick(self: &Arc<Self>) {
        let endings = self.lock().tick();
        for e in endings {
            let me = Arc::clone(self);
            // The ending goes to the thread through a slot it takes it
            // from, so a thread that cannot start leaves it here, to be
            // ended on this thread: a taken domain is never dropped.
            let slot = Arc::new(Mutex::new(Some(e)));
            let theirs = Arc::clone(&slot);
            let spawned = std::thread::Builder::new()
                .name("ending".into())
                .spawn(move || {
                    if let Some(e) = lock_any(&theirs).take() {
                        me.finish_ending(e);
                    }
                });
            if let Err(err) = spawned {
                tracing::error!("cannot start a thread to end a domain ({err}): ending it here");
                if let Some(e) = lock_any(&slot).take() {
                    self.finish_ending(e);
                }
            }
        }
    }

    fn finish_ending(&self, e: Ending) {
        let s = self.lock().s.clone();
        let id = manager::end(&s, e.domain);
        self.lock().release(id);
        if let Some((name, text)) = e.restart
            && let Err(err) = self.create(&name, &text)
        {
            tracing::error!(domid = id, "restart: {err}");
        }
    }

    /// Hands each waiting VNC client of `id` to its qemu (QMP without the
    /// lock).
    pub fn vnc_accept(&self, id: u32) {
        let taken = self.lock().vnc_take(id);
        if let Some((client, qmp)) = taken {
            manager::vnc_hand_over(id, &client, &qmp);
        }
    }
}
