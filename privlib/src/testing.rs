//! Support for tests that need root (used by every crate's root tests).
//!
//! Without root such a test skips with a one-line reason; with
//! `XVM_REQUIRE_ROOT_TESTS=1` (as CI sets) a skip is a failure.

use std::io;
use std::path::{Path, PathBuf};

use crate::caps::{CapMask, num};
pub use crate::sys::child::{ChildFailure, ChildVerdict};
use crate::sys::child::{ForkCallError, fork_call};
use crate::sys::{Linux, Sys};

/// Why a test helper failed.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// A file or directory of the fixture could not be written.
    #[error("{}: {source}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The private mount namespace could not be made.
    #[error("unshare mount namespace: {0}")]
    Unshare(#[source] io::Error),
    /// The scratch tmpfs could not be mounted.
    #[error("tmpfs on {}: {source}", .path.display())]
    Tmpfs {
        /// The mount point.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A fixture file could not be bind-mounted over the host's.
    #[error("bind {}: {source}", .path.display())]
    Bind {
        /// The host's file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// One step of becoming a user, or of a hostile user's attack, failed.
    #[error("{step}: {source}")]
    Step {
        /// The step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The hostile user's thread panicked.
    #[error("hostile thread panicked")]
    HostilePanicked,
    /// The child process failed.
    #[error(transparent)]
    Fork(#[from] ForkCallError),
}

/// For tests whose own error is a line of text: `?` on a helper keeps working.
impl From<TestingError> for String {
    fn from(e: TestingError) -> String {
        e.to_string()
    }
}

fn file_err(path: &Path) -> impl FnOnce(io::Error) -> TestingError + '_ {
    move |source| TestingError::File {
        path: path.to_path_buf(),
        source,
    }
}

fn step(step: &'static str) -> impl FnOnce(io::Error) -> TestingError {
    move |source| TestingError::Step { step, source }
}

/// The capabilities root tests use: ids, capability sets, file ownership
/// and xattrs, namespaces and mounts. (Containers and some CI machines
/// withhold others, such as CAP_SYS_RESOURCE, from root.)
const NEEDED: [u8; 8] = [
    num::SETUID,
    num::SETGID,
    num::SETPCAP,
    num::CHOWN,
    num::DAC_OVERRIDE,
    num::FOWNER,
    num::SETFCAP,
    num::SYS_ADMIN,
];

/// Whether this process runs as root with what root tests need.
pub fn is_root() -> bool {
    let sys = Linux;
    sys.ids().uid[1] == 0
        && sys
            .caps()
            .is_ok_and(|c| c.effective.contains(CapMask::of(&NEEDED)))
}

/// Runs `f` in a forked child inside a private mount namespace with a
/// fresh tmpfs at a new directory under the system temp dir, which `f`
/// gets as its scratch space. Nothing it creates or mounts reaches the
/// host; the directory itself is removed afterwards. Root only.
pub fn in_private_tmpfs(
    name: &str,
    f: impl FnOnce(&Path) -> ChildVerdict,
) -> Result<(), TestingError> {
    let dir = std::env::temp_dir().join(format!("xvm-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(file_err(&dir))?;
    let verdict = fork_call(|| {
        crate::sys::ns::unshare_mounts().map_err(TestingError::Unshare)?;
        crate::sys::ns::mount_tmpfs(&dir).map_err(|source| TestingError::Tmpfs {
            path: dir.clone(),
            source,
        })?;
        f(&dir)
    });
    let _ = std::fs::remove_dir(&dir);
    Ok(verdict?)
}

/// [`fake_accounts`] where each user has a group of its own name and id,
/// plus `groups` (name, gid, members).
pub fn fake_users(
    dir: &Path,
    users: &[(&str, u32)],
    groups: &[(&str, u32, &[&str])],
) -> Result<(), TestingError> {
    let with_gid: Vec<(&str, u32, u32)> = users.iter().map(|(n, id)| (*n, *id, *id)).collect();
    let mut all: Vec<(&str, u32, &[&str])> =
        users.iter().map(|(n, id)| (*n, *id, &[][..])).collect();
    all.extend_from_slice(groups);
    fake_accounts(dir, &with_gid, &all)
}

/// Writes `text` as the system policy file under `root`
/// (`root/etc/xvm/privileges.toml`, for `XVM_ROOT=root`).
pub fn write_policy(root: &Path, text: &str) -> Result<(), TestingError> {
    let etc = root.join("etc/xvm");
    std::fs::create_dir_all(&etc).map_err(file_err(&etc))?;
    let p = etc.join("privileges.toml");
    std::fs::write(&p, text).map_err(file_err(&p))
}

/// Replaces `/etc/passwd` and `/etc/group`, in the current (private!)
/// mount namespace only, by files in `dir` holding `users` as
/// (name, uid, gid) and `groups` as (name, gid, members).
pub fn fake_accounts(
    dir: &Path,
    users: &[(&str, u32, u32)],
    groups: &[(&str, u32, &[&str])],
) -> Result<(), TestingError> {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\n");
    for (name, uid, gid) in users {
        passwd.push_str(&format!(
            "{name}:x:{uid}:{gid}::/nonexistent:/usr/sbin/nologin\n"
        ));
    }
    let mut group = String::from("root:x:0:\n");
    for (name, gid, members) in groups {
        group.push_str(&format!("{name}:x:{gid}:{}\n", members.join(",")));
    }
    for (file, text) in [("passwd", passwd), ("group", group)] {
        let ours = dir.join(file);
        std::fs::write(&ours, text).map_err(file_err(&ours))?;
        let etc = Path::new("/etc").join(file);
        crate::sys::ns::bind_mount(&ours, &etc).map_err(|source| TestingError::Bind {
            path: etc.clone(),
            source,
        })?;
    }
    Ok(())
}

/// One captured `tracing` event: its target and fields as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturedEvent {
    /// The event's target.
    pub target: String,
    /// Field name to value (the message is under "message").
    pub fields: std::collections::BTreeMap<String, String>,
}

/// A `tracing` subscriber that keeps every event, for tests of the audit trail.
#[derive(Clone, Debug, Default)]
pub struct EventCapture(std::sync::Arc<std::sync::Mutex<Vec<CapturedEvent>>>);

impl EventCapture {
    /// Events so far with this target.
    pub fn events(&self, target: &str) -> Vec<CapturedEvent> {
        let v = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        v.iter().filter(|e| e.target == target).cloned().collect()
    }
}

struct FieldText<'a>(&'a mut std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl tracing::Subscriber for EventCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut e = CapturedEvent {
            target: event.metadata().target().to_string(),
            ..CapturedEvent::default()
        };
        event.record(&mut FieldText(&mut e.fields));
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(e);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Makes the calling process `uid` (gid the same) with supplementary
/// `groups`, for good. For a forked child ([`as_user`]). Root only.
pub fn become_user(uid: u32, groups: &[u32]) -> Result<(), TestingError> {
    for op in [
        crate::sys::CredOp::SetGroups(groups.to_vec()),
        crate::sys::CredOp::SetGid(uid),
        crate::sys::CredOp::SetUid(uid),
    ] {
        Linux
            .apply(&op)
            .map_err(|e| step(op.step())(io::Error::from_raw_os_error(e)))?;
    }
    Ok(())
}

/// Runs `f` in a forked child that runs as `uid` with `groups`; its
/// verdict. Root only.
pub fn as_user(
    uid: u32,
    groups: &[u32],
    f: impl FnOnce() -> ChildVerdict,
) -> Result<(), TestingError> {
    fork_call(|| {
        become_user(uid, groups)?;
        f()
    })?;
    Ok(())
}

/// A hostile local user's connections to a socket: a child process that
/// runs as that user (no supplementary group) holds them open, or keeps
/// connecting, until this is dropped.
#[derive(Debug)]
pub struct Hostile {
    release: std::os::unix::net::UnixStream,
    thread: Option<std::thread::JoinHandle<Result<(), ForkCallError>>>,
    /// Connections the user managed to open (0 for a flood).
    pub opened: usize,
}

/// What a [`Hostile`] user does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack<'a> {
    /// Opens this many connections, sends these bytes on each (empty:
    /// nothing, or half a request) and keeps them open.
    Hold(usize, &'a [u8]),
    /// Connects, sends these bytes and closes, again and again.
    Flood(&'a [u8]),
}

impl Hostile {
    /// Starts `attack` on the socket at `path` as `uid`; returns once the
    /// connections are open (a flood: once it runs). Root only.
    pub fn start(uid: u32, path: &Path, attack: Attack<'_>) -> Result<Hostile, TestingError> {
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        let (release, child_release) = UnixStream::pair().map_err(step("socketpair"))?;
        let (mut ready, child_ready) = UnixStream::pair().map_err(step("socketpair"))?;
        let path = path.to_path_buf();
        let (n, bytes, flood) = match attack {
            Attack::Hold(n, b) => (n, b.to_vec(), false),
            Attack::Flood(b) => (0, b.to_vec(), true),
        };
        let thread = std::thread::spawn(move || {
            fork_call(move || {
                let _ = crate::sys::rlimit::raise_nofile(u64::try_from(n).unwrap_or(0) + 64);
                become_user(uid, &[])?;
                let mut held = Vec::with_capacity(n);
                let mut ready = child_ready;
                let mut release = child_release;
                if flood {
                    ready
                        .write_all(&0u32.to_le_bytes())
                        .map_err(step("report ready"))?;
                    release
                        .set_nonblocking(true)
                        .map_err(step("set non-blocking"))?;
                    let mut b = [0u8; 1];
                    while matches!(release.read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
                    {
                        if let Ok(mut s) = UnixStream::connect(&path) {
                            let _ = s.write(&bytes);
                        }
                    }
                    return Ok(());
                }
                for _ in 0..n {
                    match UnixStream::connect(&path) {
                        Ok(mut s) => {
                            if !bytes.is_empty() {
                                let _ = s.write(&bytes);
                            }
                            held.push(s);
                        }
                        Err(_) => break,
                    }
                }
                let count = u32::try_from(held.len()).unwrap_or(u32::MAX);
                ready
                    .write_all(&count.to_le_bytes())
                    .map_err(step("report ready"))?;
                let mut b = [0u8; 1];
                let _ = release.read(&mut b);
                Ok(())
            })
        });
        ready
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .map_err(step("set read timeout"))?;
        let mut count = [0u8; 4];
        ready
            .read_exact(&mut count)
            .map_err(step("wait for the hostile user to get going"))?;
        Ok(Hostile {
            release,
            thread: Some(thread),
            opened: usize::try_from(u32::from_le_bytes(count)).unwrap_or(0),
        })
    }

    /// Lets go (closes every connection) and reports how the child ended.
    pub fn stop(mut self) -> Result<(), TestingError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), TestingError> {
        use std::io::Write;
        let _ = self.release.write_all(&[1]);
        match self.thread.take() {
            Some(t) => Ok(t.join().map_err(|_| TestingError::HostilePanicked)??),
            None => Ok(()),
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
