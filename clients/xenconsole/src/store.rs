//! Finding a domain's console in the store: the domain by id or by name
//! (`/local/domain/*/name`), then its tty key, every answer bounded.
//!
//! Keys, as Xen's tools have them: the serial port N of an HVM guest is
//! `/local/domain/D/serial/N/tty`; the PV console is
//! `/local/domain/D/console/tty`, and a PV console N > 0 is
//! `/local/domain/D/device/console/N/tty`.

use std::path::PathBuf;

use xenstored::client::{Client, ClientError};
use xenstored::wire::XsError;

/// The most domains a name lookup reads the name of. A store's listing
/// is one frame (at most 4 KiB of names); this bounds the round trips.
pub(crate) const MAX_DOMAINS: usize = 1024;

/// The longest tty path taken from the store. A pty is `/dev/pts/N`;
/// anything near this is not a console.
pub(crate) const MAX_TTY_PATH: usize = 256;

/// The longest domain name shown or compared (xend's names are shorter).
const MAX_NAME: usize = 256;

/// Which console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ConsoleType {
    /// The emulated serial port (`serial/N/tty`): an HVM guest's console.
    Serial,
    /// The paravirtual console (`console/tty`).
    Pv,
}

/// A domain found in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Domain {
    /// Its id.
    pub(crate) domid: u32,
    /// Its name (the id as text when it has none).
    pub(crate) name: String,
}

/// Why the console could not be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The store could not be reached, refused us, or failed a request.
    #[error("xenstored at {}: {source}", .socket.display())]
    Store {
        /// Its socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// No domain has this id or name.
    #[error("no domain {0}")]
    NoDomain(String),
    /// Two domains claim one name.
    #[error("domains {first} and {second} both claim the name {name}")]
    Ambiguous {
        /// The name.
        name: String,
        /// One claimant.
        first: u32,
        /// Another.
        second: u32,
    },
    /// The store lists more domains than a name lookup reads.
    #[error(
        "the store lists {0} domains, more than the {MAX_DOMAINS} a name lookup reads; use the id"
    )]
    TooManyDomains(usize),
    /// The domain has no such console.
    #[error("domain {domain}: no {key}")]
    NoTty {
        /// The domain.
        domain: String,
        /// The key read.
        key: String,
    },
    /// The tty key is longer than any console path.
    #[error("domain {domain}: {key} is {len} bytes long, more than {MAX_TTY_PATH}")]
    TtyTooLong {
        /// The domain.
        domain: String,
        /// The key.
        key: String,
        /// Its length.
        len: usize,
    },
    /// The tty key is not an absolute path.
    #[error("domain {domain}: {key} is {value:?}, not an absolute path")]
    TtyNotAbsolute {
        /// The domain.
        domain: String,
        /// The key.
        key: String,
        /// What it holds.
        value: String,
    },
}

/// The key of a domain's console, relative to its home.
pub(crate) fn tty_key(kind: ConsoleType, num: u32) -> String {
    match (kind, num) {
        (ConsoleType::Serial, n) => format!("serial/{n}/tty"),
        (ConsoleType::Pv, 0) => "console/tty".into(),
        (ConsoleType::Pv, n) => format!("device/console/{n}/tty"),
    }
}

/// The store, with the socket named in errors.
pub(crate) struct Store {
    client: Client,
    socket: PathBuf,
}

/// A read that may find nothing: `Ok(None)` for ENOENT.
fn maybe(r: Result<Vec<u8>, ClientError>) -> Result<Option<Vec<u8>>, ClientError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Xs(XsError::Enoent)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A name as shown: lossy, cut at [`MAX_NAME`] bytes' worth.
fn shown(v: &[u8]) -> String {
    String::from_utf8_lossy(&v[..v.len().min(MAX_NAME)]).into_owned()
}

impl Store {
    /// Connects to xenstored at `socket`.
    pub(crate) fn connect(socket: PathBuf) -> Result<Store, StoreError> {
        match Client::connect_with_timeout(&socket, std::time::Duration::from_secs(10)) {
            Ok(client) => Ok(Store { client, socket }),
            Err(source) => Err(StoreError::Store { socket, source }),
        }
    }

    fn err(&self, source: ClientError) -> StoreError {
        StoreError::Store {
            socket: self.socket.clone(),
            source,
        }
    }

    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        maybe(self.client.read(0, path)).map_err(|e| self.err(e))
    }

    /// The domain `which` names: an id (all digits), else a name.
    pub(crate) fn find(&mut self, which: &str) -> Result<Domain, StoreError> {
        if let Ok(domid) = which.parse::<u32>() {
            if self.read(&format!("/local/domain/{domid}"))?.is_none() {
                return Err(StoreError::NoDomain(which.into()));
            }
            let name = self
                .read(&format!("/local/domain/{domid}/name"))?
                .map_or_else(|| domid.to_string(), |v| shown(&v));
            return Ok(Domain { domid, name });
        }
        let ids = match self.client.directory(0, "/local/domain") {
            Ok(ids) => ids,
            Err(ClientError::Xs(XsError::Enoent)) => Vec::new(),
            Err(e) => return Err(self.err(e)),
        };
        if ids.len() > MAX_DOMAINS {
            return Err(StoreError::TooManyDomains(ids.len()));
        }
        let mut found: Option<u32> = None;
        for id in ids.iter().filter_map(|i| i.parse::<u32>().ok()) {
            let Some(name) = self.read(&format!("/local/domain/{id}/name"))? else {
                continue;
            };
            if name != which.as_bytes() {
                continue;
            }
            if let Some(first) = found {
                return Err(StoreError::Ambiguous {
                    name: which.into(),
                    first,
                    second: id,
                });
            }
            found = Some(id);
        }
        found
            .map(|domid| Domain {
                domid,
                name: which.into(),
            })
            .ok_or_else(|| StoreError::NoDomain(which.into()))
    }

    /// The console path of `d` under `key` (see [`tty_key`]), bounded.
    pub(crate) fn tty(&mut self, d: &Domain, key: &str) -> Result<PathBuf, StoreError> {
        let v = self
            .read(&format!("/local/domain/{}/{key}", d.domid))?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| StoreError::NoTty {
                domain: d.name.clone(),
                key: key.into(),
            })?;
        tty_path(&d.name, key, v)
    }
}

/// Checks a tty key's value: at most [`MAX_TTY_PATH`] bytes, absolute.
pub(crate) fn tty_path(domain: &str, key: &str, v: Vec<u8>) -> Result<PathBuf, StoreError> {
    use std::os::unix::ffi::OsStringExt as _;
    if v.len() > MAX_TTY_PATH {
        return Err(StoreError::TtyTooLong {
            domain: domain.into(),
            key: key.into(),
            len: v.len(),
        });
    }
    if v.first() != Some(&b'/') || v.contains(&0) {
        return Err(StoreError::TtyNotAbsolute {
            domain: domain.into(),
            key: key.into(),
            value: shown(&v),
        });
    }
    Ok(PathBuf::from(std::ffi::OsString::from_vec(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_xens() {
        assert_eq!(tty_key(ConsoleType::Serial, 0), "serial/0/tty");
        assert_eq!(tty_key(ConsoleType::Serial, 2), "serial/2/tty");
        assert_eq!(tty_key(ConsoleType::Pv, 0), "console/tty");
        assert_eq!(tty_key(ConsoleType::Pv, 1), "device/console/1/tty");
    }

    #[test]
    fn a_tty_value_is_bounded_and_absolute() {
        assert_eq!(
            tty_path("g", "console/tty", b"/dev/pts/3".to_vec()).expect("ok"),
            PathBuf::from("/dev/pts/3")
        );
        let long = format!("/dev/{}", "x".repeat(MAX_TTY_PATH));
        assert_eq!(
            tty_path("g", "console/tty", long.into_bytes())
                .expect_err("too long")
                .to_string(),
            format!("domain g: console/tty is 261 bytes long, more than {MAX_TTY_PATH}")
        );
        assert_eq!(
            tty_path("g", "console/tty", b"pts/3".to_vec())
                .expect_err("relative")
                .to_string(),
            "domain g: console/tty is \"pts/3\", not an absolute path"
        );
    }
}
