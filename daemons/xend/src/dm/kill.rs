//! Ending a device model without any capability.

use std::os::fd::AsFd;

use privlib::PrivSet;

use crate::domain::Domain;
use crate::qmp::Qmp;

/// Whether the process behind `c` has ended, waiting up to `ms`.
fn ended_within(c: &privlib::Child, ms: i32) -> bool {
    privlib::os::poll::readable(c.pidfd().as_fd(), ms)
}

/// SIGKILL to every process of a device-model uid, from a helper running
/// as that uid (`kill -KILL -1`): no capability, no pid to get wrong, and
/// nothing outside that uid can be hit. Never for uid 0.
pub(crate) fn kill_uid(uid: u32, domid: u32) {
    if uid == 0 {
        tracing::error!(domid, "refusing to kill everything of uid 0");
        return;
    }
    let _on = crate::privs::Bracket::on();
    let helper = privlib::Spawn::new("/bin/kill")
        .args(["-KILL", "-1"])
        .uid(uid)
        .gid(uid)
        .groups(&[])
        .privileges(PrivSet::basic())
        .limit(PrivSet::basic())
        .spawn();
    match helper {
        Ok(mut h) => drop(h.wait()),
        Err(e) => tracing::error!(domid, "killing uid {uid}: {e}"),
    }
}

/// Ends a domain's qemu without any capability: QMP `quit` (bounded in
/// time); if it does not end, SIGKILL to everything of the domain's uid
/// (device-model uid range), or to the qemu itself (session mode, our
/// own uid). Never blocks: an adopted qemu is reaped by its new parent.
pub(crate) fn kill(d: &mut Domain, dm_range: bool) {
    let uid = d.uid;
    let Some(c) = &mut d.child else {
        return;
    };
    let quit = Qmp::connect(&d.dir.join("qmp")).and_then(|mut q| q.execute("quit"));
    if quit.is_err() || !ended_within(c, 3000) {
        if dm_range {
            kill_uid(uid, d.domid);
        } else {
            let _ = c.kill(libc::SIGKILL);
        }
        if !ended_within(c, 5000) {
            tracing::error!(domid = d.domid, pid = c.pid(), "qemu did not end");
            return;
        }
    }
    let _ = c.wait();
    d.child = None;
}
