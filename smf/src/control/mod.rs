//! svc-startd's control socket: the protocol, its one table of verbs, and
//! how a connection is served.
//!
//! # Format
//! One request per connection: one line of tab-separated fields, the verb
//! first, at most [`MAX_LINE`] bytes, ended by a newline, sent within
//! [`READ_TIMEOUT`]. The answer is data lines, then `OK`; or one line
//! `ERR why`. Hand-written rather than a framework's: a line of fields is
//! all svcs/svcadm/svcprop/svccfg need, and each bound is visible here.
//!
//! # Who may do what
//! The gate at accept ([`ControlServer::decide`]) serves only peers that
//! hold `virt_manage` or `xvm_control`; `xvm_control` peers (root, the
//! daemons) may take the gate's reserved slots. Every other peer gets one
//! `ERR permission denied: ... required` line from the gate's refuser and
//! never takes a slot. Each request is then checked again for its verb
//! ([`Verb::entry`]: reading needs `virt_manage` or `xvm_control`,
//! changing needs `xvm_control`). Every decision is audited.
//!
//! # Concurrency
//! Each admitted connection is read on a thread of its own (the gate
//! bounds how many, [`LIMITS`]); a complete, authorized request goes to
//! the restarter's loop through a channel ([`Inbox`]) and the thread
//! waits for the answer and writes it. Why this split, and not a thread
//! that locks the restarter: the restarter state (children, pidfds,
//! timers) stays owned by the one loop that starts, reaps and stops
//! services, so no lock is ever held across a client's I/O; the loop
//! only ever sees whole requests, handles each in memory, and never
//! reads from or writes to a client. A slow, stalled or malicious client
//! therefore costs one thread and one slot for at most [`READ_TIMEOUT`],
//! delays no other client, and never delays the restarter's own work.
//!
//! # Modules
//! - [`limits`]: every bound of the protocol, in one place;
//! - [`error`]: [`ControlError`], the text of an `ERR` line;
//! - [`verb`]: the verbs, the one table of what each needs and what
//!   serves it, a request;
//! - [`handlers`]: what each verb does to the restarter;
//! - [`wire`]: reading a request, writing an answer, the gate's refusal;
//! - [`server`]: the gate's decision, the connections' threads and the
//!   restarter loop's [`Inbox`];
//! - [`client`]: the tools' side, [`request`].
//!
//! Imports point one way: `server -> wire -> verb -> handlers -> error
//! -> limits`; `client -> error`. Below: the restarter, props, manifest.

pub mod client;
pub mod error;
pub mod handlers;
pub mod limits;
pub mod server;
pub mod verb;
pub mod wire;

pub use client::{ClientError, client_socket, request};
pub use error::{Answer, ControlError, Lines};
pub use limits::{ANSWER_TIMEOUT, LIMITS, MAX_LINE, READ_TIMEOUT};
pub use server::{ControlServer, Inbox, Job, admit, authorize};
pub use verb::{Access, Handler, Request, Verb, handle};
pub use wire::{LineRefusal, answer, read_request};
