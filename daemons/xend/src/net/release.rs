//! Taps a domain's device model left behind. xend makes a domain's taps
//! not persistent and its own, and the device model's seccomp filter
//! refuses the requests that would keep one or give it away; were one
//! kept all the same (`TUNSETPERSIST` on the fd qemu holds needs no
//! capability), it would outlive the domain, up on its bridge, for
//! anyone its owner lets attach: a raw port on the bridge. So when a
//! domain ends, any `vif{domid}.N` still there is released: attached to
//! by name, its persistence cleared, and closed, so the kernel removes it.

use privlib::os::net::{interface_names, release_tap};

use crate::features::Feature;

/// Whether `name` is the name of one of domain `domid`'s taps:
/// `vif{domid}.{N}`, N decimal digits only.
pub fn is_tap_of(name: &str, domid: u32) -> bool {
    name.strip_prefix(&format!("vif{domid}."))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Releases every tap of domain `domid` still there once its device
/// model ended (with `system`, system mode: session mode makes no taps,
/// and the interfaces it sees are the host's), each with a
/// warning naming it: only a device model keeps a tap past its end.
/// `sys_net_config` is raised around each release alone, and only when
/// there is one. A tap still held (EBUSY) or an interface of that name
/// that is no tap (EINVAL) is left as it is, logged. Returns how many
/// were released.
pub fn release_left_taps(system: bool, domid: u32) -> usize {
    if !system {
        return 0;
    }
    let names = match interface_names() {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(domid, "looking for taps left behind: {e}");
            return 0;
        }
    };
    let mut released = 0;
    for name in names.into_iter().filter(|n| is_tap_of(n, domid)) {
        let raised = match crate::privs::Raised::on(Feature::Networking) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(domid, tap = %name, "a tap outlived its domain and stays: raising sys_net_config: {e}");
                continue;
            }
        };
        let r = release_tap(&name);
        drop(raised);
        match r {
            Ok(true) => {
                released += 1;
                tracing::warn!(domid, tap = %name, "the domain's device model kept its tap past its end (made it persistent): removed");
            }
            Ok(false) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                tracing::warn!(domid, tap = %name, "a tap outlived its domain: still held by a process, left to go with it");
            }
            Err(e) => {
                tracing::error!(domid, tap = %name, "a tap outlived its domain and stays: {e}")
            }
        }
    }
    released
}
