//! virtd: the management daemon of xvm-lp (DESIGN.md 4), speaking
//! libvirt's remote protocol on two local sockets so that Debian's
//! unmodified `virsh` (and every other libvirt client) manages the stack.
//!
//! It runs as `xvm:xvm` with basic privileges only, and reaches xend and
//! xenstored as their peer holding `xvm_control` through its group. Every
//! client must hold `virt_manage`; `libvirt-sock-ro`, and a connection
//! opened read-only, refuse every procedure that changes state.
//!
//! A request travels down this map; imports point one way (a module uses
//! only modules listed before it):
//!
//! 1. The wire: [`xdr`], the encoding; [`packet`], framing and headers,
//!    every length bounded; [`error`], libvirt's error with its codes;
//!    [`procs`], the procedures served and which change state.
//! 2. Domains as libvirt describes them: [`xml`], the domain XML subset,
//!    to and from xend's typed [`xend::api::Definition`].
//! 3. A connection: [`session`], who the peer is and what it may do;
//!    [`remote`], the procedures; [`stream`], the console stream.
//! 4. Serving: [`conn`], one client's packets, calls, keepalive and
//!    console; [`server`], the two sockets, the gate, a thread per
//!    client; [`start`], the start-up steps (`main.rs` parses arguments
//!    and calls it).

pub mod conn;
pub mod error;
pub mod packet;
pub mod procs;
pub mod remote;
pub mod server;
pub mod session;
pub mod start;
pub mod stream;
pub mod xdr;
pub mod xml;
