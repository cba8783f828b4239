//! Opening a card's backend: the tap (system mode) or passt and its
//! socket pair (session mode). See [`super`] for what each is and why.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use privlib::{PrivSet, Spawn};

use super::{BackendKind, NetError, NicPlan, ifname};
use crate::domain::Settings;
use crate::features::Feature;

/// Where passt is (Debian's package).
pub const PASST: &str = "/usr/bin/passt";

/// passt's end of its socket pair, in passt.
const PASST_FD: i32 = 3;

/// A card's backend, open: the fd qemu gets, and what must live as long
/// as the card (passt). Dropping it closes xend's copy of the fd (the
/// tap then lives as long as qemu holds it) and leaves passt to end with
/// qemu's end of its socket, reaped by a thread of xend.
#[derive(Debug)]
pub struct Backend {
    fd: OwnedFd,
    stream: bool,
    helper: Helper,
}

/// passt, reaped when it ends: on drop, a thread of xend waits for it
/// (it is one-off, so it ends when qemu's end of its socket closes, or
/// at once if qemu never got it).
#[derive(Debug, Default)]
pub(crate) struct Helper(Option<privlib::Child>);

impl Drop for Helper {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let pid = child.pid();
        let reaper = std::thread::Builder::new()
            .name(format!("passt-{pid}"))
            .spawn(move || match child.wait() {
                Ok(st) => tracing::debug!(pid, "passt ended: {st}"),
                Err(e) => tracing::warn!(pid, "waiting for passt: {e}"),
            });
        if let Err(e) = reaper {
            tracing::warn!(pid, "passt will not be reaped: {e}");
        }
    }
}

impl Backend {
    /// The fd qemu gets for the card's backend.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The backend on qemu's command line, with the fd as qemu's `fd`:
    /// `tap,id=ID,fd=N` or `stream,id=ID,addr.type=fd,addr.str=N`.
    pub fn netdev_arg(&self, id: &str, fd: i32) -> String {
        netdev_arg(self.stream, id, &fd.to_string())
    }

    /// The arguments of QMP `netdev_add` for the backend, the fd given to
    /// qemu first by `getfd` as `fdname`.
    pub fn netdev_add(&self, id: &str, fdname: &str) -> serde_json::Value {
        netdev_add(self.stream, id, fdname)
    }

    /// The fd, and what must be kept alive beside it.
    pub(crate) fn into_parts(self) -> (OwnedFd, Helper) {
        (self.fd, self.helper)
    }
}

/// `-netdev` of a tap or a stream backend on fd `fd` (a number, or a
/// name given by `getfd`).
pub fn netdev_arg(stream: bool, id: &str, fd: &str) -> String {
    if stream {
        format!("stream,id={id},server=off,addr.type=fd,addr.str={fd}")
    } else {
        format!("tap,id={id},fd={fd}")
    }
}

/// QMP `netdev_add`'s arguments for a tap or a stream backend on the fd
/// qemu got by `getfd` as `fdname`.
pub(crate) fn netdev_add(stream: bool, id: &str, fdname: &str) -> serde_json::Value {
    if stream {
        serde_json::json!({
            "type": "stream", "id": id, "server": false,
            "addr": { "type": "fd", "str": fdname },
        })
    } else {
        serde_json::json!({ "type": "tap", "id": id, "fd": fdname })
    }
}

/// Opens the backend of card `plan` of domain `domid`, whose device
/// model runs as `uid`/`gid`: the tap `vif{domid}.{index}` on its bridge,
/// up (system mode), or passt as `uid`/`gid` (session mode).
pub fn open_backend(
    s: &Settings,
    domid: u32,
    uid: u32,
    gid: u32,
    plan: &NicPlan,
) -> Result<Backend, NetError> {
    open_for(s.dm_range, domid, uid, gid, plan)
}

/// [`open_backend`] for a device model under the uid range (`dm_range`:
/// proc_setid is raised to start passt as its uid) or not.
pub(crate) fn open_for(
    dm_range: bool,
    domid: u32,
    uid: u32,
    gid: u32,
    plan: &NicPlan,
) -> Result<Backend, NetError> {
    match &plan.kind {
        BackendKind::Tap { bridge } => open_tap(domid, plan.index, bridge),
        BackendKind::Passt => open_passt(dm_range, domid, uid, gid, plan.index),
    }
}

/// The tap, made with `sys_net_config` raised around its three ioctls
/// and nothing else. On a failure after it was made, its fd is dropped
/// here, which removes it.
fn open_tap(domid: u32, index: usize, bridge: &str) -> Result<Backend, NetError> {
    let name = ifname(domid, index);
    let tap_err = |source| NetError::Tap { domid, source };
    // A name the kernel would refuse is refused before anything is raised.
    if !privlib::os::net::valid_name(&name) {
        return Err(tap_err(privlib::os::net::TapError::Name { name }));
    }
    let tap = {
        let _raised =
            crate::privs::Raised::on(Feature::Networking).map_err(|source| NetError::Raise {
                domid,
                ifname: name.clone(),
                source,
            })?;
        let tap = privlib::os::net::create_tap(&name, true).map_err(tap_err)?;
        privlib::os::net::join_bridge(bridge, &tap.name, tap.index).map_err(tap_err)?;
        privlib::os::net::set_up(&tap.name).map_err(tap_err)?;
        tap
    };
    tracing::info!(domid, tap = %name, bridge, "tap made");
    Ok(Backend {
        fd: tap.fd,
        stream: false,
        helper: Helper::default(),
    })
}

/// passt on one end of a fresh socket pair, the other end for qemu.
/// passt runs as the device model's uid, with no privilege and
/// no_new_privs (it cannot gain any, whatever it execs), in the
/// foreground, quiet, one-off; its own sandbox (namespaces, seccomp) is
/// left to it.
fn open_passt(
    dm_range: bool,
    domid: u32,
    uid: u32,
    gid: u32,
    index: usize,
) -> Result<Backend, NetError> {
    let (ours, theirs) = UnixStream::pair().map_err(|source| NetError::Socketpair {
        domid,
        index,
        source,
    })?;
    let mut sp = Spawn::new(PASST)
        .args(["--foreground", "--quiet", "--one-off", "--fd"])
        .arg(PASST_FD.to_string())
        .uid(uid)
        .gid(gid)
        .privileges(PrivSet::basic())
        .limit(PrivSet::basic())
        .no_new_privs(true)
        .pass_fd(theirs.as_raw_fd(), PASST_FD);
    if dm_range {
        sp = sp.groups(&[]);
    }
    let child = {
        let _on = dm_range.then(crate::privs::Bracket::on);
        sp.spawn().map_err(|source| NetError::Passt {
            domid,
            index,
            source,
        })?
    };
    drop(theirs);
    tracing::info!(domid, index, pid = child.pid(), "passt started");
    Ok(Backend {
        fd: ours.into(),
        stream: true,
        helper: Helper(Some(child)),
    })
}
