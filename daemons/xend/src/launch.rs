//! Starting a reserved domain, and ending one.
//!
//! A start is [`prepare`] then [`run`]. This is the one list of a
//! device-model launch (the modules it names point here): first
//! everything is checked and nothing is made, then xend acts in a fixed
//! order, one error variant per step ([`LaunchError`] is either; the
//! manager turns it into its `DomainError`).
//!
//! [`prepare`] ([`crate::dm::prepare`], [`PrepareError`]): checks, makes
//! nothing (no directory, socket, named file or process; the one
//! privilege raised is the foreign-images DAC override, around the open
//! of an image xvm may not open, [`crate::disk`]):
//! - P1. the ids: never 0; in the device-model range `base + domid` for
//!   uid and gid, held by no user's subordinate range;
//! - P2. the qemu binary: found, a regular file the device model's uid
//!   may execute;
//! - P3. the disks: at most the IDE controller's four, each opened by
//!   xend beneath an image directory (the checks are made on the open fd,
//!   which is what qemu gets: nothing can be swapped in between), with a
//!   read-only twin; a qcow2 disk's backing files read from its header by
//!   xend ([`crate::qcow2`]) and opened the same way, read-only, at most
//!   [`crate::disk::MAX_BACKING`] deep, no loop; a file xvm may not open
//!   is opened with the foreign-images privileges raised around that
//!   open alone (its owner and mode never change); qemu gets them as a
//!   `-blockdev` graph of passed fds ([`dm::blockdev`]); then the kernel
//!   and ramdisk of a direct kernel boot, opened the same way, read-only,
//!   regular files; one the device model's uid may not read is given as
//!   a nameless (`O_TMPFILE|O_EXCL`) read-only copy in xend's run
//!   directory (qemu opens them again through `/proc/self/fd/N`, which
//!   checks the mode bits);
//! - P3n. the network cards ([`crate::net::plan`]): at most
//!   [`crate::net::MAX_NICS`]; in system mode the networking feature on
//!   and each card's bridge (`xenbr0` by default) an existing bridge of
//!   xend's network namespace, asked by ioctl (no privilege); MACs
//!   unicast and distinct, one chosen from Xen's 00:16:3e for a card
//!   without; nothing is made;
//! - P4. the device nodes of its private `/dev` (null, zero, urandom, and
//!   kvm when used): character devices on the host;
//! - P5. the limits: xend's hard `RLIMIT_NOFILE` leaves room for
//!   [`dm::DM_NOFILE`] (a hard limit is raised only with sys_resource,
//!   which xend never holds).
//!
//! [`run`] ([`RunError`]): acts, in this order:
//! 1. the domain's run directory, mode 0700, made fresh: a leftover of
//!    an earlier domain of this id is cleared, never reused
//!    ([`RunError::Dir`]);
//! 2. its sockets, bound by xend in that directory: QMP, serial and VNC
//!    ([`RunError::Socket`]); qemu gets the listening fds, and only xend
//!    (and root) can reach them; and with `vnc = 1` xend's VNC TCP
//!    listener on `vnclisten` ([`crate::vnc`]; a port in use is
//!    [`RunError::Vnc`] naming the address), which qemu never gets;
//! 3. its network cards' backends ([`crate::net`], [`RunError::Net`],
//!    which names the card, the interface and the step): in system mode
//!    each card's tap `vifD.N`, made not persistent, on its bridge and up,
//!    with `sys_net_config` raised around those three ioctls only (the
//!    feature's privilege, [`crate::privs::Raised`]); in session mode
//!    passt per card, as the device model's uid with no privilege and
//!    no_new_privs, on one end of a socket pair. qemu gets the tap or the
//!    other end; xend closes its copies once qemu runs, so a tap goes
//!    with qemu (also when qemu ends while xend is down) and passt, one-off,
//!    ends when qemu's end of its socket closes;
//! 4. qemu's log: `qemu.log` (0600, xend's) and the pipe qemu writes into
//!    ([`RunError::Log`], [`RunError::Pipe`]);
//! 5. the device model ([`dm::spawn`]), with proc_setid raised for this
//!    step only ([`RunError::Spawn`], which names privlib's step).
//!    privlib's child acts in its fixed order: the signals reset, then the
//!    rlimits (no core dump, [`dm::DM_NOFILE`] open files; set first, as
//!    root still, before the fds are moved and the ids change; xend's own
//!    limits are not changed); the bounding set emptied; supplementary
//!    groups `kvm` only when the domain uid uses /dev/kvm; gid and uid =
//!    the domain's own; then, as that uid, its own user namespace mapping
//!    only it, whose mount namespace gets a read-only tmpfs /dev with
//!    only the P4 nodes (the device model unshares nothing else, and
//!    nothing before the ids change); no capability left; no_new_privs;
//!    Landlock (read /usr, the loader cache, and the kernel and ramdisk
//!    xend opened, or their copies: the rule is made on xend's own fd, so
//!    it names the very files checked; read-write only those nodes); seccomp (no fork,
//!    no further exec, no network sockets: its cards are the fds of step
//!    3); exec qemu, which adds its own `-sandbox` filter;
//! 6. the log pump (a failure is logged: the domain runs without its log);
//! 7. its saved state, before anything else can happen to this xend
//!    ([`RunError::State`]);
//! 8. its xenstore entries ([`RunError::Store`]);
//! 9. where its VNC listens, `console/vnc-listen` and `console/vnc-port`
//!    ([`RunError::Vnc`]).
//!
//! A failure from step 2 on removes the directory (and from step 3 on,
//! the backends made so far go with xend's fds); from step 7 on, the
//! device model is killed first; at steps 8 and 9, what was written to
//! the store is removed too.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::dm::kill::kill;
use crate::dm::log::{QEMU_LOG_MAX, pump_log};
use crate::dm::prepare::{Host, PrepareError, Prepared, Request, prepare};
use crate::dm::{self, DmError, DmFds};
use crate::domain::{DState, Domain, Reservation, Settings};
use crate::entries::{self, EntriesError};
use crate::saved::{StateError, save_state};
use crate::vnc::{self, VncError};

/// Why a reserved domain did not start: refused before anything was made,
/// or failed at a step of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Refused by [`prepare`]: nothing was made.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// Failed at a step of [`run`] (named in the error).
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Why a prepared launch failed, by step.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Step 1: the run directory could not be made (or a leftover could
    /// not be cleared).
    #[error("domain {domid}: making {}: {source}", path.display())]
    Dir {
        /// The domain.
        domid: u32,
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Step 2: a socket could not be bound.
    #[error("domain {domid}: binding {}: {source}", path.display())]
    Socket {
        /// The domain.
        domid: u32,
        /// The socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Step 3: a network card's backend could not be made.
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// Step 4: the log file could not be made.
    #[error("domain {domid}: making {}: {source}", path.display())]
    Log {
        /// The domain.
        domid: u32,
        /// The log.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Step 4: the pipe for qemu's output could not be made.
    #[error("domain {domid}: a pipe for qemu's log: {source}")]
    Pipe {
        /// The domain.
        domid: u32,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Step 5: the device model did not start.
    #[error(transparent)]
    Spawn(#[from] DmError),
    /// Step 7: the state could not be saved.
    #[error("domain {domid}: saving its state: {source}")]
    State {
        /// The domain.
        domid: u32,
        /// The cause.
        #[source]
        source: StateError,
    },
    /// Step 2 or 9: the VNC TCP listener could not be made (or its
    /// address is refused: checked when the domain is reserved, before
    /// anything is made), or its store keys written.
    #[error("domain {domid}: {source}")]
    Vnc {
        /// The domain.
        domid: u32,
        /// The cause.
        #[source]
        source: VncError,
    },
    /// Step 8: the store entries could not be written.
    #[error("domain {domid}: {source}")]
    Store {
        /// The domain.
        domid: u32,
        /// The cause.
        #[source]
        source: EntriesError,
    },
}

/// Starts a reserved domain: [`prepare`] on this host, then [`run`].
/// Needs only the settings, so it runs without the manager's lock.
pub fn launch(s: &Settings, r: &Reservation) -> Result<Domain, LaunchError> {
    let req = Request {
        domid: r.domid,
        uid: r.uid,
        gid: r.gid,
        config: &r.cfg,
        uuid: &r.uuid,
        source: &r.source,
        text: &r.text,
    };
    let mut p = prepare(s, req, &Host::system())?;
    p.incoming = r.incoming;
    Ok(run(p)?)
}

/// Step 1: the domain's directory `dir`, 0700, made here and now. Its
/// parent (`<run>/domains`) is made when missing. A leftover of an
/// earlier domain of this id (what a failed removal left: start-up adopts
/// or clears every directory, and this domid is reserved, so no live
/// domain owns it) is cleared, with a warning, rather than refused: a
/// refusal would fail every later start of the lowest free domid. The
/// directory itself is then created without `recursive`, so one that
/// could not be cleared (or appeared again) is an error, never reused.
fn fresh_dir(domid: u32, dir: &Path) -> Result<(), RunError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| RunError::Dir {
        domid,
        path: dir.to_path_buf(),
        source,
    };
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(err)?;
    }
    if std::fs::symlink_metadata(dir).is_ok() {
        tracing::warn!(domid, dir = %dir.display(), "a leftover run directory: cleared");
        // Not followed if a symlink: the link itself goes.
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(err)
}

/// A listening socket at `path`.
fn bind(domid: u32, path: PathBuf) -> Result<UnixListener, RunError> {
    UnixListener::bind(&path).map_err(|source| RunError::Socket {
        domid,
        path,
        source,
    })
}

/// Step 2: the sockets, in the domain's directory.
struct Made {
    qmp: OwnedFd,
    serial: OwnedFd,
    vnc: Option<UnixListener>,
    vnc_tcp: Option<TcpListener>,
}

fn make(p: &Prepared) -> Result<Made, RunError> {
    let (domid, dir) = (p.domid, &p.dir);
    // 2. The sockets: only xend (and root) can reach them, in its 0700
    //    directory; qemu gets the listening fds.
    let qmp = bind(domid, dir.join("qmp"))?.into();
    let serial = bind(domid, dir.join("serial"))?.into();
    let vnc = if p.config.vnc {
        let path = dir.join("vnc");
        let l = bind(domid, path.clone())?;
        l.set_nonblocking(true).map_err(|source| RunError::Socket {
            domid,
            path,
            source,
        })?;
        Some(l)
    } else {
        None
    };
    // xend's VNC listener on TCP: bound here, never handed to qemu.
    let vnc_err = |source| RunError::Vnc { domid, source };
    let vnc_tcp = match vnc::listen_addr(&p.config, domid).map_err(vnc_err)? {
        Some(at) => Some(vnc::bind(at).map_err(vnc_err)?),
        None => None,
    };
    Ok(Made {
        qmp,
        serial,
        vnc,
        vnc_tcp,
    })
}

/// Step 4: the log file, and the pipe qemu writes into: (file, read
/// end, write end).
fn make_log(p: &Prepared) -> Result<(std::fs::File, OwnedFd, OwnedFd), RunError> {
    let (domid, dir) = (p.domid, &p.dir);
    // 4. qemu's stdout and stderr: a pipe that xend copies into qemu.log
    //    (for xend alone), up to QEMU_LOG_MAX bytes ([`pump_log`]). Not a
    //    file with RLIMIT_FSIZE: that limit bounds the write *offset* in
    //    every regular file the process writes, so it would also stop the
    //    guest writing its disk image past that size.
    let path = dir.join("qemu.log");
    let log_file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
    }
    .map_err(|source| RunError::Log {
        domid,
        path,
        source,
    })?;
    let (log_read, log) =
        privlib::os::fd::pipe().map_err(|source| RunError::Pipe { domid, source })?;
    Ok((log_file, log_read, log))
}

/// Acts on a prepared launch, in the order of this module's list.
pub fn run(p: Prepared) -> Result<Domain, RunError> {
    let domid = p.domid;
    // 1. The directory.
    fresh_dir(domid, &p.dir)?;
    let gone = |e: RunError| {
        let _ = std::fs::remove_dir_all(&p.dir);
        e
    };
    // 2. Sockets.
    let made = make(&p).map_err(gone)?;
    // 3. The network cards' backends (a failure drops those made: their
    //    taps go with xend's fds, their passt with its socket).
    let backends = p
        .nics
        .iter()
        .map(|n| crate::net::open_for(p.dm_range, domid, p.uid, p.gid, n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| gone(e.into()))?;
    let taps = p
        .nics
        .iter()
        .any(|n| matches!(n.kind, crate::net::BackendKind::Tap { .. }));
    let (nics, helpers): (Vec<OwnedFd>, Vec<_>) = backends
        .into_iter()
        .map(crate::net::Backend::into_parts)
        .unzip();
    // 4. The log.
    let (log_file, log_read, log) = make_log(&p).map_err(gone)?;
    // 5. The device model. proc_setid is raised for this one step only
    //    (device-model range).
    let fds = DmFds {
        qmp: &made.qmp,
        serial: &made.serial,
        log: &log,
        nics: &nics,
    };
    let child = {
        let _on = p.dm_range.then(crate::privs::Bracket::on);
        dm::spawn(&p, &fds).map_err(|e| gone(e.into()))?
    };
    // qemu holds the cards' backends now: xend's copies go, so a tap
    // lives exactly as long as qemu, and passt (reaped by xend) as long
    // as qemu's end of its socket.
    drop(nics);
    drop(helpers);
    drop(log);
    // 6. The log pump, until qemu's end closes the pipe.
    let pump = std::thread::Builder::new()
        .name(format!("qemu-log-{domid}"))
        .spawn(move || pump_log(log_read, log_file, QEMU_LOG_MAX));
    if let Err(e) = pump {
        tracing::warn!(domid, "qemu's log is not kept: {e}");
    }
    let mut d = Domain {
        domid,
        config: p.config,
        uuid: p.uuid,
        // Arriving from another host, it is paused until its state is
        // loaded and xend resumes it.
        state: if p.incoming {
            DState::Paused
        } else {
            DState::Running
        },
        child: Some(child),
        started: SystemTime::now(),
        dir: p.dir,
        uid: p.uid,
        vnc: made.vnc,
        vnc_tcp: made.vnc_tcp,
    };
    // 7. Recorded before anything else, so a new xend finds this qemu
    //    whatever happens to this one from here on.
    if let Err(source) = save_state(&d, p.uid, &p.source, &p.text) {
        abandon(&mut d, p.dm_range, taps);
        return Err(RunError::State { domid, source });
    }
    // A domain arriving from another host is registered once its state
    // has been loaded ([`register`], by the relocation's end).
    if p.incoming {
        return Ok(d);
    }
    if let Err(e) = register(&p.xenstore, &d) {
        abandon(&mut d, p.dm_range, taps);
        return Err(e);
    }
    Ok(d)
}

/// Steps 8 and 9: a started domain's xenstore entries, and where its
/// VNC listens. A failure after the transaction committed (at set_perms
/// or introduce) leaves nodes written: they are removed here, as for any
/// ended domain (the caller ends the device model).
pub(crate) fn register(xenstore: &Path, d: &Domain) -> Result<(), RunError> {
    let domid = d.domid;
    // 8. The store.
    if let Err(source) = entries::register(xenstore, d) {
        entries::unregister(xenstore, d);
        return Err(RunError::Store { domid, source });
    }
    // 9. Where its VNC listens (the port the kernel chose for port 0).
    if let Some(source) = publish_vnc(xenstore, d).err() {
        entries::unregister(xenstore, d);
        return Err(RunError::Vnc { domid, source });
    }
    Ok(())
}

/// Writes where `d`'s VNC TCP listener is (nothing without one).
pub(crate) fn publish_vnc(xenstore: &Path, d: &Domain) -> Result<(), VncError> {
    let Some(l) = &d.vnc_tcp else {
        return Ok(());
    };
    let at = l.local_addr().map_err(VncError::LocalAddr)?;
    vnc::publish(xenstore, d.domid, &at)
}

/// A started domain that cannot be kept: its qemu killed, its directory
/// removed.
fn abandon(d: &mut Domain, dm_range: bool, taps: bool) {
    kill(d, dm_range);
    release_taps(taps, d);
    let _ = std::fs::remove_dir_all(&d.dir);
}

/// Once `d`'s qemu ended: its taps that outlived it (`system`: a
/// system-mode domain, whose cards are taps), released (see
/// [`crate::net::release_left_taps`]). While it still runs, they are its.
fn release_taps(system: bool, d: &Domain) {
    if d.child.is_none() {
        crate::net::release_left_taps(system, d.domid);
    }
}

/// Removes a domain's xenstore entries (see [`entries::unregister`]).
pub(crate) fn unregister(s: &Settings, d: &Domain) {
    entries::unregister(&s.xenstore, d);
}

/// Ends a domain taken out by [`crate::manager::Manager::take`]: its
/// qemu killed (this may wait seconds), the taps it kept past its end
/// released, its store entries and run directory gone. Needs no lock; returns the domid for
/// [`crate::manager::Manager::release`].
pub fn end(s: &Settings, mut d: Domain) -> u32 {
    kill(&mut d, s.dm_range);
    release_taps(s.system, &d);
    entries::unregister(&s.xenstore, &d);
    let _ = std::fs::remove_dir_all(&d.dir);
    tracing::info!(domid = d.domid, "domain destroyed");
    d.domid
}

#[cfg(test)]
#[path = "launch_tests.rs"]
mod tests;
