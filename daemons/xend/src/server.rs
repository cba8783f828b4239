//! xend's RPC server: clients served concurrently, domains looked after.
//!
//! # Model
//! A thread per served connection, bounded by privlib's [`privlib::Gate`] (its
//! total and per-uid limits), plus the main thread that watches device
//! models and VNC listeners ([`Xend::tick`], [`Xend::watch`]). A VNC
//! client is accepted and decided there (the TCP gate, [`crate::vnc`],
//! reads nothing from the peer, so nobody can stall it), then handed to
//! qemu on a thread of its own, at most [`vnc::MAX_HANDOVERS`] a domain
//! at once: QMP may wait. The [`Manager`] sits behind
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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use privlib::listener::UnixServer;
use privlib::names::{virt_manage, xvm_control};
use privlib::os::poll::{POLLIN, poll, pollfd};
use privlib::{Gate, GateLimits, Policy, Refusal, Slot, Ucred, Verdict, require_any};
use serde_json::Value;

use crate::api::{self, Call, DomainAck, DomainInfo, ErrorKind, RpcError};
use crate::domain::{DState, Settings};
use crate::error::DomainError;
use crate::manager::hotplug::HotplugError;
use crate::manager::{self, Ending, Manager};
use crate::rpc;
use crate::vnc::{self, Admission};

/// Requests one connection may send before it is closed.
pub const MAX_REQUESTS: usize = 64;

/// How JSON-RPC refuses a peer: the `DENIED` error, to the id of its first
/// request when that line arrived whole and names one. A first line that
/// is a notification is answered too (to id `null`): it is the connection
/// that is refused, before any call is read, and the peer is told why.
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
        rpc::answer_line(&id, Err(RpcError::new(api::DENIED, why)))
    }
}

/// Whether the peer on `stream` still waits for its answer: it sends
/// nothing while it waits (a client never pipelines), so a readable
/// stream is one it closed.
fn peer_waits(stream: &UnixStream) -> bool {
    use std::os::fd::AsFd;
    !privlib::os::poll::readable(stream.as_fd(), 0)
}

/// Binds xend's socket at `path`, mode 0666: the gate at accept is the
/// check, not the file's mode.
pub fn bind(path: &std::path::Path) -> Result<UnixServer, privlib::listener::ListenError> {
    UnixServer::bind(
        path,
        privlib::listener::SocketSpec {
            mode: 0o666,
            owner: None,
        },
    )
}

/// The gate xend's socket is served through, refusing as JSON-RPC does.
pub fn gate(limits: GateLimits) -> std::io::Result<Gate> {
    Gate::new(limits, RpcRefusal)
}

/// The running xend: the domains, and who may ask for what.
#[derive(Debug)]
pub struct Xend {
    m: Mutex<Manager>,
    policy: Policy,
    endpoint: String,
    /// VNC clients being handed over, by domid.
    handovers: Mutex<BTreeMap<u32, usize>>,
    /// Migrations, and domains arriving (`crate::relocation` acts on
    /// them).
    pub(crate) relocations: crate::jobs::Relocations,
}

/// An answer, and the fd that goes with it (the relocation stream of
/// `relocation.send` and `relocation.incoming`), sent on the answer
/// line's first byte (SCM_RIGHTS).
#[derive(Debug)]
pub struct Answer {
    /// The result.
    pub value: Value,
    /// The fd, if the method hands one over.
    pub fd: Option<OwnedFd>,
}

fn lock_any<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The kind a domain operation's failure is answered as. One exhaustive
/// match: a new [`DomainError`] variant must be given its kind here.
pub fn kind_of(e: &DomainError) -> ErrorKind {
    e.kind()
}

fn failed(e: DomainError) -> RpcError {
    RpcError::failed(kind_of(&e), e.to_string())
}

/// A hot-plug result on the wire.
fn hot_reply<T: serde::Serialize>(r: Result<T, HotplugError>) -> Result<Value, RpcError> {
    let v = r.map_err(|e| RpcError::failed(e.kind(), e.to_string()))?;
    serde_json::to_value(v)
        .map_err(|e| RpcError::new(api::INTERNAL_ERROR, format!("encoding the answer: {e}")))
}

/// A typed result on the wire.
fn reply<T: serde::Serialize>(r: Result<T, DomainError>) -> Result<Value, RpcError> {
    let v = r.map_err(failed)?;
    serde_json::to_value(v)
        .map_err(|e| RpcError::new(api::INTERNAL_ERROR, format!("encoding the answer: {e}")))
}

impl Xend {
    /// xend over `m`, deciding peers of the socket `endpoint` by `policy`.
    pub fn new(m: Manager, policy: Policy, endpoint: String) -> Xend {
        Xend {
            m: Mutex::new(m),
            policy,
            endpoint,
            handovers: Mutex::new(BTreeMap::new()),
            relocations: crate::jobs::Relocations::default(),
        }
    }

    /// The manager, locked (for quick bookkeeping only).
    pub fn lock(&self) -> MutexGuard<'_, Manager> {
        // A panic while holding the lock leaves the manager's maps as
        // they were between two of their own operations.
        self.m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings (a copy, for work done without the lock).
    pub fn settings(&self) -> Settings {
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

    /// Accepts on `server` through `gate` for ever, each admitted peer
    /// served on a thread of its own ([`Xend::connection`]). Returns only
    /// when accepting fails.
    pub fn serve(self: &Arc<Self>, server: &UnixServer, gate: &Gate) -> std::io::Result<()> {
        let served = Arc::clone(self);
        server.serve_gated(
            gate,
            |cred| self.verdict(cred),
            move |stream, cred, slot| {
                let control = matches!(served.verdict(&cred), Verdict::Reserved);
                served.connection(&stream, slot, control);
            },
        )
    }

    /// Looks after the domains for ever ([`Xend::tick`], VNC clients):
    /// returns only when poll fails.
    pub fn watch(self: &Arc<Self>) -> std::io::Result<Infallible> {
        loop {
            self.tick();
            let (vnc, gates, pidfds) = {
                let m = self.lock();
                (m.vnc_listeners(), m.vnc_gates(), m.pidfds())
            };
            let mut fds: Vec<_> = vnc
                .iter()
                .chain(&gates)
                .map(|(_, fd)| pollfd(*fd, POLLIN))
                .collect();
            fds.extend(pidfds.into_iter().map(|fd| pollfd(fd, POLLIN)));
            poll(&mut fds, 500)?;
            let ready = |i: usize| fds.get(i).is_some_and(|f| f.revents & POLLIN != 0);
            for (i, (id, _)) in vnc.iter().enumerate() {
                if ready(i) {
                    self.vnc_accept(*id);
                }
            }
            for (i, (id, _)) in gates.iter().enumerate() {
                if ready(vnc.len() + i) {
                    self.vnc_gate_accept(*id);
                }
            }
        }
    }

    /// Serves one admitted connection: up to [`MAX_REQUESTS`] requests,
    /// each line bounded in size and time ([`rpc::next_request`]).
    ///
    /// # Format
    /// Each request line gets one answer line ([`crate::api`]), except a
    /// notification (a request without an `id` member), which gets none,
    /// not even for an unknown method or wrong params. A line that cannot
    /// be read (too long, too slow, cut), that is no request object, or
    /// that is to be answered while another line follows it, is answered
    /// to id `null` and ends the connection; a request of another
    /// version, an unknown method or wrong params is answered to its id
    /// and the connection goes on.
    ///
    /// `control`: the peer holds `xvm_control`, which the relocation
    /// server's methods need ([`Call::control_only`]).
    pub fn connection(&self, stream: &UnixStream, _slot: Slot, control: bool) {
        let mut reader = rpc::line_reader(stream);
        for _ in 0..MAX_REQUESTS {
            let line = match rpc::next_request(&mut reader) {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    let e = RpcError::new(api::INVALID_REQUEST, e.to_string());
                    return rpc::answer(stream, &Value::Null, Err(e));
                }
            };
            let decoded = rpc::decode(&line);
            if let Ok(req) = &decoded
                && req.is_notification()
            {
                // JSON-RPC 2.0 (4.1): a notification is executed, state
                // changes included (a client that wants no answer still
                // means the call; the gate and the privilege checks in
                // `handle` apply as to any request), and never answered:
                // its result and any error, an unknown method too, are
                // dropped (logged at debug for the operator).
                let result = Call::parse(&req.method, req.params.clone())
                    .and_then(|c| self.handle_in(c, control, &|| peer_waits(stream)));
                if let Err(e) = result {
                    tracing::debug!(method = %req.method, "notification failed: {}", e.message);
                }
                continue;
            }
            if let Err(e) = rpc::alone(&reader) {
                let e = RpcError::new(api::INVALID_REQUEST, e.to_string());
                return rpc::answer(stream, &Value::Null, Err(e));
            }
            match decoded {
                Ok(req) => {
                    let result = Call::parse(&req.method, req.params)
                        .and_then(|c| self.handle_in(c, control, &|| peer_waits(stream)));
                    let id = req.id.unwrap_or(Value::Null);
                    match result {
                        Ok(Answer {
                            value,
                            fd: Some(fd),
                        }) => {
                            rpc::answer_with_fd(stream, &id, value, &fd);
                        }
                        Ok(a) => rpc::answer(stream, &id, Ok(a.value)),
                        Err(e) => rpc::answer(stream, &id, Err(e)),
                    }
                }
                Err(u @ rpc::Undecodable::WrongVersion { .. }) => {
                    rpc::answer(stream, u.id(), Err(u.error().clone()));
                }
                Err(u) => return rpc::answer(stream, u.id(), Err(u.error().clone())),
            }
        }
    }

    /// Answers one request of an `xvm_control` peer (an fd the answer
    /// would carry is closed).
    pub fn handle(&self, call: Call) -> Result<Value, RpcError> {
        self.handle_as(call, true).map(|a| a.value)
    }

    /// Answers one request of a peer that holds `xvm_control` or not.
    pub fn handle_as(&self, call: Call, control: bool) -> Result<Answer, RpcError> {
        self.handle_in(call, control, &|| true)
    }

    /// [`Xend::handle_as`], `waits` telling whether the peer still waits
    /// for the answer (a long wait, `relocation.wait`, gives no job to a
    /// peer that went away).
    pub fn handle_in(
        &self,
        call: Call,
        control: bool,
        waits: &dyn Fn() -> bool,
    ) -> Result<Answer, RpcError> {
        if call.control_only() && !control {
            return Err(RpcError::new(
                api::DENIED,
                format!("{} needs xvm_control", call.method().name()),
            ));
        }
        if let Some(answer) = self.relocation_call(&call, waits) {
            return answer;
        }
        Ok(Answer {
            value: self.handle_plain(call)?,
            fd: None,
        })
    }

    fn handle_plain(&self, call: Call) -> Result<Value, RpcError> {
        match call {
            Call::Create(p) => reply(self.create(&p.source, &p.config)),
            // Managed configs are files: read and written without the lock.
            Call::List => reply(Ok(self.list())),
            Call::New(p) => reply(self.new_managed(&p.source, &p.config)),
            Call::Start(p) => reply(
                manager::managed_config(&self.settings(), &p.domain)
                    .and_then(|(source, text)| self.create(&source, &text)),
            ),
            Call::Delete(p) => reply(self.lock().delete_managed(&p.domain)),
            Call::Info(p) => reply(self.info(&p.domain)),
            Call::Destroy(p) => reply(self.destroy(&p.domain)),
            Call::Shutdown(p) => reply(self.shutdown(&p.domain)),
            Call::Reboot(p) => reply(self.reboot(&p.domain)),
            Call::Pause(p) => reply(self.pause(&p.domain, true)),
            Call::Unpause(p) => reply(self.pause(&p.domain, false)),
            Call::BlockAttach(p) => hot_reply(self.block_attach(&p)),
            Call::BlockDetach(p) => hot_reply(self.block_detach(&p.domain, &p.device)),
            Call::BlockList(p) => reply(self.lock().block_list(&p.domain)),
            Call::NetworkAttach(p) => hot_reply(self.network_attach(&p.domain, &p.spec)),
            Call::NetworkDetach(p) => hot_reply(self.network_detach(&p.domain, &p.device)),
            Call::NetworkList(p) => reply(self.lock().network_list(&p.domain)),
            Call::Define(p) => reply(self.define(&p.definition)),
            Call::GetDefinition(p) => reply(self.definition(&p.domain)),
            Call::Autostart(p) => reply(self.autostart(&p.domain, p.set)),
            // Answered by relocation_call, in handle_in.
            Call::Migrate(_)
            | Call::RelocWait(_)
            | Call::RelocSend(_)
            | Call::RelocDone(_)
            | Call::RelocIncoming(_)
            | Call::RelocIncomingDone(_) => Err(RpcError::new(
                api::INTERNAL_ERROR,
                "a relocation call was not dispatched",
            )),
        }
    }

    /// Creates a domain; only the reservation and the record take the lock.
    pub fn create(&self, source: &str, text: &str) -> Result<DomainInfo, DomainError> {
        let (r, s) = {
            let mut m = self.lock();
            (m.reserve(source, text)?, m.s.clone())
        };
        let started = manager::launch(&s, &r);
        self.lock().finish(r, started)
    }

    /// Destroys a domain; its qemu is ended without the lock.
    pub fn destroy(&self, which: &str) -> Result<DomainAck, DomainError> {
        let (d, s) = {
            let mut m = self.lock();
            (m.take(which)?, m.s.clone())
        };
        let id = manager::end(&s, d);
        self.lock().release(id);
        Ok(DomainAck { domid: id })
    }

    /// Reboots: destroy, then create from the same config.
    pub fn reboot(&self, which: &str) -> Result<DomainInfo, DomainError> {
        let (name, text) = self.lock().config_of(which)?;
        self.destroy(which)?;
        self.create(&name, &text)
    }

    /// Presses the power button (ACPI); [`Xend::tick`] destroys the domain
    /// at the deadline if it has not powered off by then.
    pub fn shutdown(&self, which: &str) -> Result<DomainAck, DomainError> {
        let (id, uuid, qmp, timeout) = {
            let m = self.lock();
            let (id, uuid, qmp) = m.qmp_of(which)?;
            (id, uuid, qmp, m.s.shutdown_timeout)
        };
        manager::qmp_command(&qmp, "system_powerdown")?;
        self.lock()
            .set_state(id, &uuid, DState::ShuttingDown(Instant::now() + timeout));
        Ok(DomainAck { domid: id })
    }

    /// Pauses (`pause`) or resumes a domain.
    pub fn pause(&self, which: &str, pause: bool) -> Result<DomainAck, DomainError> {
        let (id, uuid, qmp) = self.lock().qmp_of(which)?;
        manager::qmp_command(&qmp, if pause { "stop" } else { "cont" })?;
        let state = if pause {
            DState::Paused
        } else {
            DState::Running
        };
        self.lock().set_state(id, &uuid, state);
        Ok(DomainAck { domid: id })
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

    /// Hands a waiting client of `id`'s VNC unix socket to its qemu (on
    /// a thread: [`Xend::vnc_dispatch`]).
    pub fn vnc_accept(self: &Arc<Self>, id: u32) {
        let taken = self.lock().vnc_take(id);
        if let Some((client, qmp)) = taken {
            self.vnc_dispatch(id, client.into(), qmp);
        }
    }

    /// Accepts up to [`vnc::MAX_ACCEPTS`] waiting clients of `id`'s VNC
    /// TCP listener; each is decided by the gate ([`vnc::admit`]): a
    /// refused one is closed here, before any byte, an admitted one
    /// handed to qemu ([`Xend::vnc_dispatch`]).
    pub fn vnc_gate_accept(self: &Arc<Self>, id: u32) {
        for _ in 0..vnc::MAX_ACCEPTS {
            let Some((client, at, qmp)) = self.lock().vnc_gate_take(id) else {
                return;
            };
            let endpoint = format!("VNC of domain {id} on {at}");
            match vnc::admit(&self.policy, &at, &client, &endpoint) {
                Admission::Refused => drop(client),
                Admission::Open | Admission::Granted { .. } => {
                    self.vnc_dispatch(id, client.into(), qmp);
                }
            }
        }
    }

    /// Hands `client` to domain `id`'s qemu ([`manager::vnc_hand_over`])
    /// on a thread of its own, unless [`vnc::MAX_HANDOVERS`] of that
    /// domain are under way (then it is closed).
    pub fn vnc_dispatch(self: &Arc<Self>, id: u32, client: OwnedFd, qmp: PathBuf) {
        {
            let mut h = lock_any(&self.handovers);
            let n = h.entry(id).or_insert(0);
            if *n >= vnc::MAX_HANDOVERS {
                tracing::warn!(
                    domid = id,
                    "VNC client closed: {n} being handed over already"
                );
                return;
            }
            *n += 1;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("vnc-{id}"))
            .spawn(move || {
                manager::vnc_hand_over(id, &client, &qmp);
                drop(client);
                me.handover_done(id);
            });
        if let Err(e) = spawned {
            tracing::warn!(
                domid = id,
                "VNC client closed: no thread to hand it over: {e}"
            );
            self.handover_done(id);
        }
    }

    fn handover_done(&self, id: u32) {
        let mut h = lock_any(&self.handovers);
        if let Some(n) = h.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                h.remove(&id);
            }
        }
    }
}
