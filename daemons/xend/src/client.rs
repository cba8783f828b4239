//! The client of xend's socket: one typed method per API method
//! ([`crate::api`]), for xm and virtd.
//!
//! # Format
//! Each call writes one request line and reads one answer line
//! ([`crate::rpc`]), bounded by [`crate::rpc::MAX_LINE`] and by
//! [`ANSWER_TIMEOUT`] (a `create` starts a device model: seconds).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{
    Autostart, AutostartParams, BlockAttachParams, BlockDevice, Call, ConfigParams, DefineParams,
    Definition, DeviceAck, DeviceParams, DomainAck, DomainInfo, DomainParams, ErrorKind,
    MigrateParams, Migrated, Named, NetDevice, NetworkAttachParams, RpcError,
};
use crate::rpc;

/// How long xend may take to answer one call.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call got no result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// xend's socket could not be reached.
    #[error("xend at {}: {source} (is xend running?)", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be sent, and no answer came.
    #[error("xend: sending {method}: {source}")]
    Send {
        /// The method.
        method: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The answer line could not be read.
    #[error("xend's answer to {method}: {source}")]
    Read {
        /// The method.
        method: &'static str,
        /// The cause.
        #[source]
        source: privlib::bounded::LineError,
    },
    /// xend closed the connection without answering.
    #[error("xend closed the connection without answering {0}")]
    Closed(&'static str),
    /// The answer is not a JSON-RPC answer of the expected shape.
    #[error("xend's answer to {method}: {source}")]
    Answer {
        /// The method.
        method: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// xend answered with an error.
    #[error("{0}")]
    Rpc(#[source] RpcError),
}

impl ClientError {
    /// The kind of a failed operation, when xend answered one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Rpc(e) => e.kind(),
            _ => None,
        }
    }
}

/// An answer line, before its result is typed.
#[derive(Debug, serde::Deserialize)]
struct Answer {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// A connection to xend.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    next_id: u64,
}

impl Client {
    /// Connects to xend's socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Client { stream, next_id: 1 })
    }

    /// Sends `call`; its result as `T`.
    pub fn call<T: DeserializeOwned>(&mut self, call: &Call) -> Result<T, ClientError> {
        self.call_within(call, ANSWER_TIMEOUT)
    }

    /// [`Client::call`], waiting up to `within` for the answer (a
    /// migration may take longer than [`ANSWER_TIMEOUT`]).
    pub fn call_within<T: DeserializeOwned>(
        &mut self,
        call: &Call,
        within: Duration,
    ) -> Result<T, ClientError> {
        let method = call.method().name();
        let sent = self.send(call);
        let mut reader = rpc::line_reader(&self.stream);
        let got = reader.within(within).read_line();
        let buf = match (got, sent) {
            (Ok(Some(b)), _) => b,
            (Ok(None), Err(source)) => return Err(ClientError::Send { method, source }),
            (Ok(None), Ok(())) => return Err(ClientError::Closed(method)),
            (Err(source), _) => return Err(ClientError::Read { method, source }),
        };
        typed_answer(method, &buf)
    }

    /// Sends `call`, whose answer carries an fd (`relocation.send`,
    /// `relocation.incoming`): the result and the fd. The fd comes on
    /// the answer's first byte, so that byte is read alone (with the fd)
    /// and the rest of the line after it.
    pub fn call_fd<T: DeserializeOwned>(
        &mut self,
        call: &Call,
    ) -> Result<(T, std::os::fd::OwnedFd), ClientError> {
        use std::os::fd::AsRawFd;
        let method = call.method().name();
        let sent = self.send(call);
        let _ = self.stream.set_read_timeout(Some(ANSWER_TIMEOUT));
        let first = privlib::os::fd::recv_fd(self.stream.as_raw_fd());
        let _ = self.stream.set_read_timeout(None);
        let fd = match (first, sent) {
            (Ok(Some(fd)), _) => Some(fd),
            // An error answer carries no fd; its first byte is `{`.
            (Err(e), _) if e.kind() == std::io::ErrorKind::InvalidData => None,
            (Ok(None), Err(source)) => return Err(ClientError::Send { method, source }),
            (Ok(None), Ok(())) => return Err(ClientError::Closed(method)),
            (Err(source), _) => {
                return Err(ClientError::Send { method, source });
            }
        };
        let mut reader = rpc::line_reader(&self.stream);
        let rest = match reader.within(ANSWER_TIMEOUT).read_line() {
            Ok(Some(b)) => b,
            Ok(None) => return Err(ClientError::Closed(method)),
            Err(source) => return Err(ClientError::Read { method, source }),
        };
        let mut buf = b"{".to_vec();
        buf.extend_from_slice(&rest);
        let v: T = typed_answer(method, &buf)?;
        match fd {
            Some(fd) => Ok((v, fd)),
            None => Err(ClientError::Closed(method)),
        }
    }

    fn send(&mut self, call: &Call) -> std::io::Result<()> {
        let method = call.method().name();
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&rpc::Request {
            jsonrpc: "2.0".into(),
            method: method.into(),
            params: call.params(),
            id: Some(id.into()),
        })
        .map_err(std::io::Error::other)?;
        line.push(b'\n');
        // A refused peer is answered before its request is read: the
        // caller reads the answer even when the write failed.
        (&self.stream).write_all(&line)
    }

    fn on<T: DeserializeOwned>(
        &mut self,
        m: fn(DomainParams) -> Call,
        which: &str,
    ) -> Result<T, ClientError> {
        self.call(&m(DomainParams {
            domain: which.to_string(),
        }))
    }

    /// `domain.list`: Domain-0, the running, starting and ending domains,
    /// then the managed ones not running.
    pub fn list(&mut self) -> Result<Vec<DomainInfo>, ClientError> {
        self.call(&Call::List)
    }

    /// `domain.info`: the domain `which` (a name or a domid).
    pub fn info(&mut self, which: &str) -> Result<DomainInfo, ClientError> {
        self.on(Call::Info, which)
    }

    /// `domain.create`: starts a domain from xl.cfg `text` read from
    /// `source`.
    pub fn create(&mut self, source: &str, text: &str) -> Result<DomainInfo, ClientError> {
        self.call(&Call::Create(config_params(source, text)))
    }

    /// `domain.new`: stores a managed domain's config; starts nothing.
    pub fn new_managed(&mut self, source: &str, text: &str) -> Result<Named, ClientError> {
        self.call(&Call::New(config_params(source, text)))
    }

    /// `domain.start`: starts the managed domain `name`.
    pub fn start(&mut self, name: &str) -> Result<DomainInfo, ClientError> {
        self.on(Call::Start, name)
    }

    /// `domain.define`: keeps a typed definition as a managed domain.
    pub fn define(&mut self, d: &Definition) -> Result<Named, ClientError> {
        self.call(&Call::Define(DefineParams {
            definition: d.clone(),
        }))
    }

    /// `domain.definition`: the definition of domain `which` (running, or
    /// managed).
    pub fn definition(&mut self, which: &str) -> Result<Definition, ClientError> {
        self.on(Call::GetDefinition, which)
    }

    /// `domain.autostart`: asks (`set` `None`) or sets whether managed
    /// domain `name` starts when xend starts.
    pub fn autostart(&mut self, name: &str, set: Option<bool>) -> Result<Autostart, ClientError> {
        self.call(&Call::Autostart(AutostartParams {
            domain: name.to_string(),
            set,
        }))
    }

    /// `domain.delete`: forgets the managed domain `name`.
    pub fn delete(&mut self, name: &str) -> Result<Named, ClientError> {
        self.on(Call::Delete, name)
    }

    /// `domain.destroy`: ends `which` at once.
    pub fn destroy(&mut self, which: &str) -> Result<DomainAck, ClientError> {
        self.on(Call::Destroy, which)
    }

    /// `domain.shutdown`: asks `which` to power off.
    pub fn shutdown(&mut self, which: &str) -> Result<DomainAck, ClientError> {
        self.on(Call::Shutdown, which)
    }

    /// `domain.reboot`: destroys `which` and starts it again.
    pub fn reboot(&mut self, which: &str) -> Result<DomainInfo, ClientError> {
        self.on(Call::Reboot, which)
    }

    /// `domain.pause`.
    pub fn pause(&mut self, which: &str) -> Result<DomainAck, ClientError> {
        self.on(Call::Pause, which)
    }

    /// `domain.unpause`.
    pub fn unpause(&mut self, which: &str) -> Result<DomainAck, ClientError> {
        self.on(Call::Unpause, which)
    }

    /// `domain.block-attach`: attaches the image `target` (as a config
    /// names it) to the running `which` as `vdev`, `mode` `w` or `r`.
    pub fn block_attach(
        &mut self,
        which: &str,
        target: &str,
        vdev: &str,
        mode: &str,
    ) -> Result<DeviceAck, ClientError> {
        self.call(&Call::BlockAttach(BlockAttachParams {
            domain: which.to_string(),
            target: target.to_string(),
            vdev: vdev.to_string(),
            mode: mode.to_string(),
        }))
    }

    /// `domain.block-detach`: detaches the hot-plugged disk `vdev`.
    pub fn block_detach(&mut self, which: &str, vdev: &str) -> Result<DeviceAck, ClientError> {
        self.call(&Call::BlockDetach(device(which, vdev)))
    }

    /// `domain.block-list`: the disks of `which`.
    pub fn block_list(&mut self, which: &str) -> Result<Vec<BlockDevice>, ClientError> {
        self.on(Call::BlockList, which)
    }

    /// `domain.network-attach`: attaches a card (`spec` as a `vif`
    /// entry) to the running `which`.
    pub fn network_attach(&mut self, which: &str, spec: &str) -> Result<DeviceAck, ClientError> {
        self.call(&Call::NetworkAttach(NetworkAttachParams {
            domain: which.to_string(),
            spec: spec.to_string(),
        }))
    }

    /// `domain.network-detach`: detaches the hot-plugged card `devid`.
    pub fn network_detach(&mut self, which: &str, devid: &str) -> Result<DeviceAck, ClientError> {
        self.call(&Call::NetworkDetach(device(which, devid)))
    }

    /// `domain.migrate`: moves `which` to `host` and waits until it runs
    /// there (or failed and runs here), up to `within`.
    pub fn migrate(
        &mut self,
        p: &MigrateParams,
        within: Duration,
    ) -> Result<Migrated, ClientError> {
        self.call_within(&Call::Migrate(p.clone()), within)
    }

    /// `domain.network-list`: the network cards of `which`.
    pub fn network_list(&mut self, which: &str) -> Result<Vec<NetDevice>, ClientError> {
        self.on(Call::NetworkList, which)
    }
}

/// An answer line's result as `T`, or its error.
fn typed_answer<T: DeserializeOwned>(method: &'static str, buf: &[u8]) -> Result<T, ClientError> {
    let a: Answer =
        serde_json::from_slice(buf).map_err(|source| ClientError::Answer { method, source })?;
    if let Some(e) = a.error {
        return Err(ClientError::Rpc(e));
    }
    serde_json::from_value(a.result.unwrap_or(Value::Null))
        .map_err(|source| ClientError::Answer { method, source })
}

fn device(which: &str, device: &str) -> DeviceParams {
    DeviceParams {
        domain: which.to_string(),
        device: device.to_string(),
    }
}

fn config_params(source: &str, text: &str) -> ConfigParams {
    ConfigParams {
        source: source.to_string(),
        config: text.to_string(),
    }
}
