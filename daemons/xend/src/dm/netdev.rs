//! A domain's network cards on qemu's command line: each card's backend
//! is an fd xend opened ([`crate::net`]): a tap (`-netdev tap,fd=N`) or
//! qemu's end of a socket pair whose other end is passt's (`-netdev
//! stream,addr.type=fd`). qemu opens no network socket of its own (its
//! seccomp filter and privileges deny it one).

use std::os::fd::{AsRawFd, OwnedFd};

use privlib::Spawn;

use crate::dm::prepare::Prepared;
use crate::net::{BackendKind, NicPlan};

/// The fd number card `i` (its place in the prepared list) has in qemu.
fn nic_fd(i: usize) -> i32 {
    super::FD_NIC0 + i32::try_from(i).unwrap_or(0)
}

/// The network cards' part of qemu's command line: per card its backend
/// on fd [`super::FD_NIC0`] + its place, and the card itself.
pub fn args(p: &Prepared) -> Vec<String> {
    nic_args(&p.nics)
}

fn nic_args(nics: &[NicPlan]) -> Vec<String> {
    let mut a = Vec::new();
    for (i, n) in nics.iter().enumerate() {
        let stream = n.kind == BackendKind::Passt;
        a.push("-netdev".into());
        a.push(crate::net::netdev_arg(
            stream,
            &n.netdev_id(),
            &nic_fd(i).to_string(),
        ));
        a.push("-device".into());
        a.push(n.device_arg());
    }
    a
}

/// Passes the cards' backends `nics` (one per card, in order) to qemu.
pub fn pass(sp: Spawn, nics: &[OwnedFd]) -> Spawn {
    let mut sp = sp;
    for (i, fd) in nics.iter().enumerate() {
        sp = sp.pass_fd(fd.as_raw_fd(), nic_fd(i));
    }
    sp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Mac, NicModel, Vif};

    #[test]
    fn each_card_is_its_backend_on_its_fd_and_the_device_with_its_mac() {
        let card = |index, model, kind| NicPlan {
            index,
            vif: Vif {
                bridge: None,
                mac: None,
                model,
            },
            mac: Mac([0, 0x16, 0x3e, 0, 0, u8::try_from(index).unwrap_or(0)]),
            kind,
        };
        let tap = BackendKind::Tap {
            bridge: "xenbr0".into(),
        };
        let a = nic_args(&[
            card(0, NicModel::E1000, tap),
            card(1, NicModel::VirtioNet, BackendKind::Passt),
        ]);
        assert_eq!(
            a,
            [
                "-netdev",
                "tap,id=net0,fd=71",
                "-device",
                "e1000,netdev=net0,mac=00:16:3e:00:00:00,id=nic0",
                "-netdev",
                "stream,id=net1,server=off,addr.type=fd,addr.str=72",
                "-device",
                "virtio-net-pci,netdev=net1,mac=00:16:3e:00:00:01,id=nic1",
            ]
        );
    }
}
