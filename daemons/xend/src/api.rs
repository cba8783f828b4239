//! xend's protocol, typed once: the methods, their parameters, their
//! replies and the error codes, shared by the server ([`crate::server`]),
//! the client ([`crate::client`]), xm and virtd.
//!
//! # Format
//! JSON-RPC 2.0 over a unix socket, one request per line and one answer
//! line per request (framing: [`crate::rpc`]):
//!
//! ```text
//! -> {"jsonrpc":"2.0","method":"domain.info","params":{"domain":"web"},"id":1}
//! <- {"jsonrpc":"2.0","result":{"name":"web","domid":3,...},"id":1}
//! <- {"jsonrpc":"2.0","error":{"code":-32002,"message":"no domain web",
//!     "data":{"kind":"no_domain"}},"id":1}
//! ```
//!
//! | method | params | result |
//! |---|---|---|
//! | `domain.list` | none, `null` or `{}` | `[DomainInfo]`: Domain-0, running, starting/ending, managed |
//! | `domain.info` | [`DomainParams`] | [`DomainInfo`]: a running domain, else a managed one (no id) |
//! | `domain.create` | [`ConfigParams`] | [`DomainInfo`] |
//! | `domain.new` | [`ConfigParams`] | [`Named`] |
//! | `domain.start` | [`DomainParams`] | [`DomainInfo`] |
//! | `domain.delete` | [`DomainParams`] | [`Named`] |
//! | `domain.destroy`, `.shutdown`, `.pause`, `.unpause` | [`DomainParams`] | [`DomainAck`] |
//! | `domain.reboot` | [`DomainParams`] | [`DomainInfo`] |
//! | `domain.block-attach` | [`BlockAttachParams`] | [`DeviceAck`] |
//! | `domain.block-detach` | [`DeviceParams`] (the vdev) | [`DeviceAck`] |
//! | `domain.block-list` | [`DomainParams`] | `[BlockDevice]` ([`BlockDevice`]) |
//! | `domain.network-attach` | [`NetworkAttachParams`] | [`DeviceAck`] |
//! | `domain.network-detach` | [`DeviceParams`] (the devid) | [`DeviceAck`] |
//! | `domain.network-list` | [`DomainParams`] | `[NetDevice]` ([`NetDevice`]) |
//! | `domain.define` | [`DefineParams`] | [`Named`] (kept as a managed domain) |
//! | `domain.definition` | [`DomainParams`] | [`Definition`] (a running domain's, else the managed one's) |
//! | `domain.autostart` | [`AutostartParams`] | [`Autostart`] |
//! | `domain.migrate` | [`MigrateParams`] | [`Migrated`] (once the domain runs on the destination) |
//! | `relocation.wait` | [`WaitParams`] | [`Job`] or `null` (`xvm_control` only) |
//! | `relocation.send` | [`JobParams`] | [`Streaming`], with the stream's fd (`xvm_control` only) |
//! | `relocation.done` | [`DoneParams`] | [`DoneAck`] (`xvm_control` only) |
//! | `relocation.incoming` | [`IncomingParams`] | [`Incoming`], with the stream's fd (`xvm_control` only) |
//! | `relocation.incoming-done` | [`IncomingDoneParams`] | [`DomainInfo`] (`xvm_control` only) |
//!
//! Errors use JSON-RPC's codes as its spec says: [`PARSE_ERROR`] (the
//! line is not JSON), [`INVALID_REQUEST`] (JSON, but not a request; or a
//! line too long, too slow, or sent before the last was answered),
//! [`METHOD_NOT_FOUND`], [`INVALID_PARAMS`] (a known method, params of
//! the wrong shape: the message names the method and what was wrong),
//! [`INTERNAL_ERROR`]. xend's own are in -32000..-32099: [`DENIED`] (the
//! peer lacks the privilege), and one code per kind of failed operation
//! ([`ErrorKind::code`]); `data.kind` names the kind exactly.

mod definition;
mod devices;
mod relocation;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use definition::{
    Autostart, AutostartParams, DefAction, DefDisk, DefFormat, DefNic, DefNicModel, DefVnc,
    DefineParams, Definition,
};
pub use devices::{
    BlockAttachParams, BlockDevice, DeviceAck, DeviceParams, NetDevice, NetworkAttachParams,
};
pub use relocation::{
    DoneAck, DoneParams, Incoming, IncomingDoneParams, IncomingParams, Job, JobParams,
    MAX_WAIT_SECS, MigrateParams, Migrated, Streaming, WaitParams,
};

/// The line is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON, but not a JSON-RPC 2.0 request (or not framed as one).
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// A known method, parameters of the wrong shape.
pub const INVALID_PARAMS: i64 = -32602;
/// xend failed in a way that is no fault of the request.
pub const INTERNAL_ERROR: i64 = -32603;
/// The peer lacks the privilege (`xvm_control` or `virt_manage`).
pub const DENIED: i64 = -32001;
/// The operation failed ([`ErrorKind::Failed`]).
pub const FAILED: i64 = -32000;

/// Every method, named once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `domain.list`.
    List,
    /// `domain.info`.
    Info,
    /// `domain.create`.
    Create,
    /// `domain.new`.
    New,
    /// `domain.start`.
    Start,
    /// `domain.delete`.
    Delete,
    /// `domain.destroy`.
    Destroy,
    /// `domain.shutdown`.
    Shutdown,
    /// `domain.reboot`.
    Reboot,
    /// `domain.pause`.
    Pause,
    /// `domain.unpause`.
    Unpause,
    /// `domain.block-attach`.
    BlockAttach,
    /// `domain.block-detach`.
    BlockDetach,
    /// `domain.block-list`.
    BlockList,
    /// `domain.network-attach`.
    NetworkAttach,
    /// `domain.network-detach`.
    NetworkDetach,
    /// `domain.network-list`.
    NetworkList,
    /// `domain.define`.
    Define,
    /// `domain.definition`.
    GetDefinition,
    /// `domain.autostart`.
    Autostart,
    /// `domain.migrate`.
    Migrate,
    /// `relocation.wait`.
    RelocWait,
    /// `relocation.send`.
    RelocSend,
    /// `relocation.done`.
    RelocDone,
    /// `relocation.incoming`.
    RelocIncoming,
    /// `relocation.incoming-done`.
    RelocIncomingDone,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 26] = [
        Method::List,
        Method::Info,
        Method::Create,
        Method::New,
        Method::Start,
        Method::Delete,
        Method::Destroy,
        Method::Shutdown,
        Method::Reboot,
        Method::Pause,
        Method::Unpause,
        Method::BlockAttach,
        Method::BlockDetach,
        Method::BlockList,
        Method::NetworkAttach,
        Method::NetworkDetach,
        Method::NetworkList,
        Method::Define,
        Method::GetDefinition,
        Method::Autostart,
        Method::Migrate,
        Method::RelocWait,
        Method::RelocSend,
        Method::RelocDone,
        Method::RelocIncoming,
        Method::RelocIncomingDone,
    ];

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Method::List => "domain.list",
            Method::Info => "domain.info",
            Method::Create => "domain.create",
            Method::New => "domain.new",
            Method::Start => "domain.start",
            Method::Delete => "domain.delete",
            Method::Destroy => "domain.destroy",
            Method::Shutdown => "domain.shutdown",
            Method::Reboot => "domain.reboot",
            Method::Pause => "domain.pause",
            Method::Unpause => "domain.unpause",
            Method::BlockAttach => "domain.block-attach",
            Method::BlockDetach => "domain.block-detach",
            Method::BlockList => "domain.block-list",
            Method::NetworkAttach => "domain.network-attach",
            Method::NetworkDetach => "domain.network-detach",
            Method::NetworkList => "domain.network-list",
            Method::Define => "domain.define",
            Method::GetDefinition => "domain.definition",
            Method::Autostart => "domain.autostart",
            Method::Migrate => "domain.migrate",
            Method::RelocWait => "relocation.wait",
            Method::RelocSend => "relocation.send",
            Method::RelocDone => "relocation.done",
            Method::RelocIncoming => "relocation.incoming",
            Method::RelocIncomingDone => "relocation.incoming-done",
        }
    }

    /// The method called `name`.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Parameters naming a config: `{"source": PATH, "config": TEXT}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigParams {
    /// Where the text came from (for FILE:LINE:COLUMN in errors).
    pub source: String,
    /// The xl.cfg text.
    pub config: String,
}

/// Parameters naming a domain: `{"domain": NAME-OR-ID}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainParams {
    /// A name, or a domid in decimal.
    pub domain: String,
}

/// No parameters: `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// One request, typed: the method and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `domain.list`.
    List,
    /// `domain.info`.
    Info(DomainParams),
    /// `domain.create`.
    Create(ConfigParams),
    /// `domain.new`.
    New(ConfigParams),
    /// `domain.start`.
    Start(DomainParams),
    /// `domain.delete`.
    Delete(DomainParams),
    /// `domain.destroy`.
    Destroy(DomainParams),
    /// `domain.shutdown`.
    Shutdown(DomainParams),
    /// `domain.reboot`.
    Reboot(DomainParams),
    /// `domain.pause`.
    Pause(DomainParams),
    /// `domain.unpause`.
    Unpause(DomainParams),
    /// `domain.block-attach`.
    BlockAttach(BlockAttachParams),
    /// `domain.block-detach`.
    BlockDetach(DeviceParams),
    /// `domain.block-list`.
    BlockList(DomainParams),
    /// `domain.network-attach`.
    NetworkAttach(NetworkAttachParams),
    /// `domain.network-detach`.
    NetworkDetach(DeviceParams),
    /// `domain.network-list`.
    NetworkList(DomainParams),
    /// `domain.define`.
    Define(DefineParams),
    /// `domain.definition`.
    GetDefinition(DomainParams),
    /// `domain.autostart`.
    Autostart(AutostartParams),
    /// `domain.migrate`.
    Migrate(MigrateParams),
    /// `relocation.wait`.
    RelocWait(WaitParams),
    /// `relocation.send`.
    RelocSend(JobParams),
    /// `relocation.done`.
    RelocDone(DoneParams),
    /// `relocation.incoming`.
    RelocIncoming(IncomingParams),
    /// `relocation.incoming-done`.
    RelocIncomingDone(IncomingDoneParams),
}

impl Call {
    /// Whether only an `xvm_control` peer may make it: the relocation
    /// server's methods, which hand out a device model's migration
    /// stream or start a domain from another host's state.
    pub fn control_only(&self) -> bool {
        matches!(
            self,
            Call::RelocWait(_)
                | Call::RelocSend(_)
                | Call::RelocDone(_)
                | Call::RelocIncoming(_)
                | Call::RelocIncomingDone(_)
        )
    }
}

fn params_of<T: serde::de::DeserializeOwned + Default>(
    m: Method,
    params: Value,
) -> Result<T, RpcError> {
    match params {
        Value::Null => Ok(T::default()),
        p => typed(m, p),
    }
}

fn typed<T: serde::de::DeserializeOwned>(m: Method, params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params)
        .map_err(|e| RpcError::new(INVALID_PARAMS, format!("{}: invalid params: {e}", m.name())))
}

impl Call {
    /// The request for `method` with `params`: [`METHOD_NOT_FOUND`] for a
    /// name no method has, [`INVALID_PARAMS`] naming the method and what
    /// is wrong for params of another shape.
    pub fn parse(method: &str, params: Value) -> Result<Call, RpcError> {
        let m = Method::from_name(method)
            .ok_or_else(|| RpcError::new(METHOD_NOT_FOUND, format!("no method {method}")))?;
        Ok(match m {
            Method::List => {
                let NoParams {} = params_of(m, params)?;
                Call::List
            }
            Method::Info => Call::Info(typed(m, params)?),
            Method::Create => Call::Create(typed(m, params)?),
            Method::New => Call::New(typed(m, params)?),
            Method::Start => Call::Start(typed(m, params)?),
            Method::Delete => Call::Delete(typed(m, params)?),
            Method::Destroy => Call::Destroy(typed(m, params)?),
            Method::Shutdown => Call::Shutdown(typed(m, params)?),
            Method::Reboot => Call::Reboot(typed(m, params)?),
            Method::Pause => Call::Pause(typed(m, params)?),
            Method::Unpause => Call::Unpause(typed(m, params)?),
            Method::BlockAttach => Call::BlockAttach(typed(m, params)?),
            Method::BlockDetach => Call::BlockDetach(typed(m, params)?),
            Method::BlockList => Call::BlockList(typed(m, params)?),
            Method::NetworkAttach => Call::NetworkAttach(typed(m, params)?),
            Method::NetworkDetach => Call::NetworkDetach(typed(m, params)?),
            Method::NetworkList => Call::NetworkList(typed(m, params)?),
            Method::Define => Call::Define(typed(m, params)?),
            Method::GetDefinition => Call::GetDefinition(typed(m, params)?),
            Method::Autostart => Call::Autostart(typed(m, params)?),
            Method::Migrate => Call::Migrate(typed(m, params)?),
            Method::RelocWait => Call::RelocWait(params_of(m, params)?),
            Method::RelocSend => Call::RelocSend(typed(m, params)?),
            Method::RelocDone => Call::RelocDone(typed(m, params)?),
            Method::RelocIncoming => Call::RelocIncoming(typed(m, params)?),
            Method::RelocIncomingDone => Call::RelocIncomingDone(typed(m, params)?),
        })
    }

    /// Its method.
    pub fn method(&self) -> Method {
        match self {
            Call::List => Method::List,
            Call::Info(_) => Method::Info,
            Call::Create(_) => Method::Create,
            Call::New(_) => Method::New,
            Call::Start(_) => Method::Start,
            Call::Delete(_) => Method::Delete,
            Call::Destroy(_) => Method::Destroy,
            Call::Shutdown(_) => Method::Shutdown,
            Call::Reboot(_) => Method::Reboot,
            Call::Pause(_) => Method::Pause,
            Call::Unpause(_) => Method::Unpause,
            Call::BlockAttach(_) => Method::BlockAttach,
            Call::BlockDetach(_) => Method::BlockDetach,
            Call::BlockList(_) => Method::BlockList,
            Call::NetworkAttach(_) => Method::NetworkAttach,
            Call::NetworkDetach(_) => Method::NetworkDetach,
            Call::NetworkList(_) => Method::NetworkList,
            Call::Define(_) => Method::Define,
            Call::GetDefinition(_) => Method::GetDefinition,
            Call::Autostart(_) => Method::Autostart,
            Call::Migrate(_) => Method::Migrate,
            Call::RelocWait(_) => Method::RelocWait,
            Call::RelocSend(_) => Method::RelocSend,
            Call::RelocDone(_) => Method::RelocDone,
            Call::RelocIncoming(_) => Method::RelocIncoming,
            Call::RelocIncomingDone(_) => Method::RelocIncomingDone,
        }
    }

    /// Its params on the wire.
    pub fn params(&self) -> Value {
        let v = match self {
            Call::List => serde_json::to_value(NoParams {}),
            Call::Create(p) | Call::New(p) => serde_json::to_value(p),
            Call::Info(p)
            | Call::Start(p)
            | Call::Delete(p)
            | Call::Destroy(p)
            | Call::Shutdown(p)
            | Call::Reboot(p)
            | Call::Pause(p)
            | Call::Unpause(p)
            | Call::BlockList(p)
            | Call::NetworkList(p)
            | Call::GetDefinition(p) => serde_json::to_value(p),
            Call::Define(p) => serde_json::to_value(p),
            Call::Autostart(p) => serde_json::to_value(p),
            Call::BlockAttach(p) => serde_json::to_value(p),
            Call::NetworkAttach(p) => serde_json::to_value(p),
            Call::BlockDetach(p) | Call::NetworkDetach(p) => serde_json::to_value(p),
            Call::Migrate(p) => serde_json::to_value(p),
            Call::RelocWait(p) => serde_json::to_value(p),
            Call::RelocSend(p) => serde_json::to_value(p),
            Call::RelocDone(p) => serde_json::to_value(p),
            Call::RelocIncoming(p) => serde_json::to_value(p),
            Call::RelocIncomingDone(p) => serde_json::to_value(p),
        };
        // Structs of strings, numbers and bools always serialize.
        v.unwrap_or(Value::Null)
    }
}

/// A domain's state, as `xm list` shows it (Xen's six flag letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DomainState {
    /// Running (`r-----`).
    #[serde(rename = "r-----")]
    Running,
    /// Paused (`--p---`).
    #[serde(rename = "--p---")]
    Paused,
    /// Asked to power off (`---s--`).
    #[serde(rename = "---s--")]
    ShuttingDown,
    /// Its device model ended unasked, kept for inspection (`----c-`).
    #[serde(rename = "----c-")]
    Crashed,
    /// Being ended (`-----d`).
    #[serde(rename = "-----d")]
    Dying,
    /// No flag: starting, or a managed domain not running (`------`).
    #[serde(rename = "------")]
    None,
}

impl DomainState {
    /// The six letters.
    pub fn letters(self) -> &'static str {
        match self {
            DomainState::Running => "r-----",
            DomainState::Paused => "--p---",
            DomainState::ShuttingDown => "---s--",
            DomainState::Crashed => "----c-",
            DomainState::Dying => "-----d",
            DomainState::None => "------",
        }
    }
}

/// One row of `domain.list`, or `domain.info`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainInfo {
    /// Its name.
    pub name: String,
    /// Its id; `null` for a managed domain that is not running.
    pub domid: Option<u32>,
    /// Its UUID (Domain-0 and managed domains not running have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Memory, MiB.
    pub memory: u64,
    /// Virtual CPUs.
    pub vcpus: u64,
    /// Its state.
    pub state: DomainState,
    /// Seconds since it started.
    pub time: f64,
    /// Its device model's pid, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Its serial console's socket, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<PathBuf>,
    /// A managed domain (`xm new`, `domain.define`): its config outlives
    /// it. `false` for Domain-0 and for domains only created.
    #[serde(default)]
    pub managed: bool,
    /// A managed domain xend starts when xend starts.
    #[serde(default)]
    pub autostart: bool,
}

/// The answer to `domain.new` and `domain.delete`: the domain's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// The managed domain's name.
    pub name: String,
}

/// The answer to `destroy`, `shutdown`, `pause`, `unpause`: the domid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainAck {
    /// The domain acted on.
    pub domid: u32,
}

/// What kind of failure an operation met: each has its own code, and
/// `data.kind` carries its name, so a client tells "no such domain" from
/// "busy" without reading the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Anything else: I/O, the store, the device model, QMP.
    Failed,
    /// No domain (running or managed) of that name or id.
    NoDomain,
    /// The name or UUID is taken, or the domain runs and must not.
    Busy,
    /// A bound is reached: domids, managed domains.
    Limit,
    /// The config is refused (FILE:LINE:COLUMN in the message), or a
    /// device's spec (`block-attach`, `network-attach`).
    BadConfig,
    /// The domain has no such device attached.
    NoDevice,
    /// A feature this xend runs without (relocation is off by default).
    Disabled,
    /// A migration failed; the domain still runs here.
    Migration,
}

impl ErrorKind {
    /// Its JSON-RPC error code.
    pub fn code(self) -> i64 {
        match self {
            ErrorKind::Failed => FAILED,
            ErrorKind::NoDomain => -32002,
            ErrorKind::Busy => -32003,
            ErrorKind::Limit => -32004,
            ErrorKind::BadConfig => -32005,
            ErrorKind::NoDevice => -32006,
            ErrorKind::Disabled => -32007,
            ErrorKind::Migration => -32008,
        }
    }
}

/// The `data` of xend's own errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    /// The kind of failure.
    pub kind: ErrorKind,
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    /// Its code.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
    /// For a failed operation: its kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ErrorData>,
}

impl RpcError {
    /// An error with no `data`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// A failed operation of `kind`.
    pub fn failed(kind: ErrorKind, message: impl Into<String>) -> RpcError {
        RpcError {
            code: kind.code(),
            message: message.into(),
            data: Some(ErrorData { kind }),
        }
    }

    /// The kind of a failed operation, if it is one.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.data.map(|d| d.kind)
    }
}

#[cfg(test)]
mod tests;
