//! xvm-relocd: the relocation server. It moves running domains between
//! hosts for xend, and is the only part of the stack that faces the
//! network for it:
//!
//! - [`tls`]: this host's certificate and key, the administrator's CA,
//!   and the names a peer's certificate must carry (rustls, TLS 1.3);
//! - [`wire`]: the frames between two relocation servers, bounded;
//! - [`peer`]: the destination's side (a source host connecting);
//! - [`sender`]: the source's side (jobs xend queued for `xm migrate`);
//! - [`timed`]: a whole exchange bounded by one deadline;
//! - [`error`]: why a step failed, typed;
//! - [`audit`]: one `xvm::audit` record per peer decided;
//! - [`start`]: the start-up steps, the privilege drop among them.
//!
//! It holds no privilege beyond basic (less fork and exec): no
//! `proc_setid`, no `net_config`, no file privilege. It talks to xend
//! over xend's own socket like any client holding `xvm_control`, and
//! xend hands it each migration stream as an fd. It has no local socket
//! of its own.

pub mod audit;
pub mod error;
pub mod peer;
pub mod sender;
pub mod start;
pub mod timed;
pub mod tls;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;

/// What the serving threads share.
#[derive(Debug)]
pub struct Ctx {
    /// The TLS set-up.
    pub tls: tls::Identity,
    /// xend's socket.
    pub xend: PathBuf,
    /// Where this server listens.
    pub listen: SocketAddr,
}
