//! xenconsoled: the console daemon of xvm-lp (DESIGN.md 4).
//!
//! It runs as `xvm:xvm` with nothing beyond basic (and, once started,
//! without proc_fork and proc_exec), in one `poll` loop. For each domain
//! xenstored has introduced, it connects to the device model's serial
//! stream (`<xend run>/domains/N/serial`, a path it derives from its own
//! `--xend-run`, never from the store, which the guest partly owns),
//! opens a pty whose slave is xvm's, mode 0600 and raw, and writes the
//! slave's path to `/local/domain/N/console/tty` and `serial/0/tty`.
//! Guest output is logged (rotated, bounded) and passed to the pty and to
//! the domain's TCP serial clients through bounded buffers; what they type
//! goes back to the serial stream.
//!
//! - [`start`]: the start-up steps, each with its [`start::StartError`];
//! - [`daemon`]: the event loop, the store's domains attached and released;
//! - [`console`]: one domain's console: serial, pty, log, buffers;
//! - [`tcp`]: a domain's TCP serial listener and clients;
//! - [`gate`]: who the TCP serial serves (loopback: `virt_manage`);
//! - [`logfile`]: a log with timestamps, reopening and rotation;
//! - [`buffer`]: a byte queue bounded by `console/limit`;
//! - [`rate`]: a domain's output rate limit.
//!
//! Imports point one way: `start -> daemon -> console -> tcp -> gate`,
//! and each of them to `logfile`, `buffer`, `rate`.

pub mod buffer;
pub mod console;
pub mod daemon;
pub mod gate;
pub mod logfile;
pub mod rate;
pub mod start;
pub mod tcp;
