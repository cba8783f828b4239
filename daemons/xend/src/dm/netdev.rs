//! A domain's network cards on qemu's command line: each card's backend
//! is an fd xend opened ([`crate::net`]); qemu opens no network socket of
//! its own.

use std::os::fd::{AsRawFd, OwnedFd};

use privlib::Spawn;

use crate::dm::prepare::Prepared;

/// The network cards' part of qemu's command line.
pub fn args(p: &Prepared) -> Vec<String> {
    let _ = &p.nics;
    Vec::new()
}

/// Passes the cards' backends `nics` (one per card, in order) to qemu.
pub fn pass(sp: Spawn, nics: &[OwnedFd]) -> Spawn {
    let mut sp = sp;
    for (i, fd) in nics.iter().enumerate() {
        let to = super::FD_NIC0 + i32::try_from(i).unwrap_or(0);
        sp = sp.pass_fd(fd.as_raw_fd(), to);
    }
    sp
}
