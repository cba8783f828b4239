//! What xend's device-model tests share: a real qemu started as xend
//! starts one, `dm::prepare` then `dm::spawn`, with the test's own
//! sockets and log in the test's directory. (Each test binary uses a
//! part.)

#![allow(dead_code)]

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use xend::config::DomainConfig;
use xend::dm::prepare::{Host, PrepareError, Prepared, Request, prepare};
use xend::dm::{self, DmError, DmFds};
use xend::domain::Settings;
use xend::testguest::BANNER;
use xvm_tests::Error;
use xvm_tests::stack::read_banner;

/// Why a test's device model did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DmTestError {
    /// `dm::prepare` refused the domain.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// A socket or the log in the test's directory could not be made.
    #[error("{}: {source}", .path.display())]
    Fixture {
        /// The socket or log.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `dm::spawn` failed.
    #[error(transparent)]
    Spawn(#[from] DmError),
}

/// A domain as a test gives it to `dm::prepare`.
pub(crate) struct Domain<'a> {
    /// Its id; its device model runs as base + domid (uid and gid).
    pub(crate) domid: u32,
    /// Its UUID.
    pub(crate) uuid: &'a str,
    /// Its config's file name.
    pub(crate) source: &'a str,
    /// The config's text.
    pub(crate) text: &'a str,
    /// The config.
    pub(crate) config: &'a DomainConfig,
}

/// `dm::prepare` for `d` on a device-model-only xend whose image
/// directory is `dir`, with uids from `base` and `kvm_gid` as the kvm
/// group if given, on a host whose subid files grant the test's own uids.
pub(crate) fn prepare_in(
    dir: &Path,
    base: u32,
    kvm_gid: Option<u32>,
    d: Domain<'_>,
) -> Result<Prepared, DmTestError> {
    let req = Request {
        domid: d.domid,
        uid: base + d.domid,
        gid: base + d.domid,
        config: d.config,
        uuid: d.uuid,
        source: d.source,
        text: d.text,
    };
    Ok(prepare(
        &Settings::device_model_only(dir, base, kvm_gid),
        req,
        &Host::own_uids(),
    )?)
}

/// Spawns `prepared`'s qemu with listening sockets `dir`/qmp and
/// `dir`/serial and its log in `dir`/qemu.log, runs `f` with its pid,
/// then kills and reaps it, and gives back what `f` returned.
pub(crate) fn with_device_model<T>(
    dir: &Path,
    prepared: &Prepared,
    f: impl FnOnce(libc::pid_t) -> T,
) -> Result<T, DmTestError> {
    let fixture = |path: PathBuf| move |source| DmTestError::Fixture { path, source };
    let listen = |name: &str| {
        let path = dir.join(name);
        UnixListener::bind(&path)
            .map(OwnedFd::from)
            .map_err(fixture(path))
    };
    let qmp = listen("qmp")?;
    let serial = listen("serial")?;
    let log_path = dir.join("qemu.log");
    let log = std::fs::File::create(&log_path)
        .map(OwnedFd::from)
        .map_err(fixture(log_path))?;
    let fds = DmFds {
        qmp: &qmp,
        serial: &serial,
        log: &log,
        nics: &[],
    };
    let mut child = dm::spawn(prepared, &fds)?;
    let result = f(child.pid());
    let _ = child.kill(libc::SIGKILL);
    let _ = child.wait();
    Ok(result)
}

/// The test guest's banner on the serial socket in `dir`; else the error
/// with qemu's log.
pub(crate) fn test_guest_banner(dir: &Path) -> Result<(), Error> {
    read_banner(&dir.join("serial"), BANNER).map_err(|err| {
        let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
        Error::Check(format!("{err}; qemu log: {log}"))
    })?;
    Ok(())
}
