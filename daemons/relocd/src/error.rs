//! Why a migration failed on this server's side, one variant per step,
//! each keeping its cause. What it says goes to xend (`relocation.done`,
//! which tells the `xm migrate` that waits) and to the peer (an outcome
//! frame); a peer's own words arrive as [`RelocError::Peer`].

use std::io;

use crate::wire::{Kind, VERSION, WireError};

/// Why a peer's certificate is not let in ([`crate::tls::allowed`]).
#[derive(Debug, thiserror::Error)]
pub enum NameRefused {
    /// The peer sent none.
    #[error("it sent no certificate")]
    NoCertificate,
    /// webpki could not read it.
    #[error("its certificate: {0}")]
    Unreadable(#[source] webpki::Error),
    /// It is valid for none of the allowed names.
    #[error("its certificate names none of the allowed hosts ({0})")]
    NotAllowed(String),
}

/// A step of a migration that failed.
#[derive(Debug, thiserror::Error)]
pub enum RelocError {
    /// A destination that is no `HOST[:PORT]`.
    #[error("{0:?}: not HOST, HOST:PORT or [ADDRESS]:PORT")]
    BadHost(String),
    /// Its name did not resolve.
    #[error("{host}: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// It resolved to no address.
    #[error("{0}: no address")]
    NoAddress(String),
    /// No address answered.
    #[error("{at}: {source}")]
    Connect {
        /// The last address tried.
        at: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// rustls would not set up the connection.
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// The handshake failed (the peer's certificate refused, or ours).
    #[error("TLS handshake: {0}")]
    Handshake(#[source] io::Error),
    /// The peer's certificate names no allowed host.
    #[error("{0}")]
    Refused(#[source] NameRefused),
    /// A frame could not be sent or read (`what`: which).
    #[error("{what}: {source}")]
    Wire {
        /// What was being sent or read.
        what: &'static str,
        /// The cause.
        #[source]
        source: WireError,
    },
    /// A frame could not be sent.
    #[error("{what}: {source}")]
    Send {
        /// What was being sent.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// qemu's end of the stream failed.
    #[error("{what} qemu's stream: {source}")]
    Qemu {
        /// `reading` or `writing into`.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// xend refused or failed.
    #[error("xend: {0}")]
    Xend(#[source] xend::client::ClientError),
    /// The peer speaks another version.
    #[error("version {0} (this host speaks {VERSION})")]
    Version(u32),
    /// A frame of the wrong kind inside the stream.
    #[error("a {0:?} frame inside the stream")]
    Unexpected(Kind),
    /// The peer said why it failed (its words).
    #[error("{host}: {why}")]
    Peer {
        /// The peer.
        host: String,
        /// What it said.
        why: String,
    },
    /// The destination answered for another domain than it started.
    #[error("{host} answered for domain {got}, not {want}")]
    OtherDomain {
        /// The peer.
        host: String,
        /// The domain it named.
        got: u32,
        /// The one it started.
        want: u32,
    },
    /// The stream failed, so the arriving domain was ended.
    #[error("the stream: {0}; the arriving domain was ended")]
    Stream(#[source] Box<RelocError>),
    /// No thread could be started for a job.
    #[error("no thread for it: {0}")]
    Thread(#[source] io::Error),
}

impl RelocError {
    /// A wire step's error.
    pub fn wire(what: &'static str) -> impl FnOnce(WireError) -> RelocError {
        move |source| RelocError::Wire { what, source }
    }

    /// A send's error.
    pub fn send(what: &'static str) -> impl FnOnce(io::Error) -> RelocError {
        move |source| RelocError::Send { what, source }
    }
}
