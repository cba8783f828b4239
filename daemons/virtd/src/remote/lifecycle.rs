//! Defining, starting, ending and pausing domains, their autostart flag,
//! and opening a console: the procedures that change state. Each is one
//! audited call to xend (`define`, `start`, `destroy`, `shutdown`,
//! `reboot`, `pause`, `unpause`, `delete`, `autostart`) after the state
//! it needs is checked, so virsh gets libvirt's own "operation invalid"
//! for starting a running domain rather than xend's wording.
//!
//! The console ([`open_console`]) is the pty xenconsoled made for the
//! domain, named in the store at `/local/domain/N/console/tty`: opened
//! without following a symlink, checked to be a pty slave owned by
//! virtd's own account, mode 0600, then locked ([`ConsolePty`]).
//!
//! # Format
//! Every procedure taking a domain reads a `remote_nonnull_domain` first.
//!
//! | procedure | args | ret |
//! |---|---|---|
//! | `DEFINE_XML` | `string xml` | `remote_nonnull_domain` |
//! | `DEFINE_XML_FLAGS` | `string xml, unsigned flags` (0, `VALIDATE`) | `remote_nonnull_domain` |
//! | `CREATE` | dom | nothing |
//! | `CREATE_WITH_FLAGS` | dom, flags (0) | `remote_nonnull_domain` (with its id) |
//! | `DESTROY`, `SUSPEND`, `RESUME`, `UNDEFINE` | dom | nothing |
//! | `DESTROY_FLAGS` | dom, flags (0) | nothing |
//! | `SHUTDOWN_FLAGS`, `REBOOT` | dom, flags (0, `ACPI_POWER_BTN`) | nothing |
//! | `UNDEFINE_FLAGS` | dom, flags (managed save, snapshots, checkpoints, NVRAM, TPM: none exist) | nothing |
//! | `SET_AUTOSTART` | dom, `int autostart` | nothing |
//! | `OPEN_CONSOLE` | dom, `remote_string dev_name`, flags (`FORCE`, `SAFE`) | nothing; then a stream |

use std::fs::File;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use xend::api::DomainInfo;

use crate::error::VirError;
use crate::procs::Proc;
use crate::session::Session;
use crate::xdr::Dec;

use super::Reply;
use super::domain::{
    bad_args, check_device, check_flags, dom_arg, dom_reply, domains, end, find, flags_arg,
    tty_path, xend_error,
};
use super::types::{MAX_STRING, MAX_XML};

pub use console::{ConsolePty, Stop};

/// The in-process side of a console: who in virtd has which pty.
///
/// A POSIX record lock (what xenconsole takes) belongs to a process:
/// two clients of virtd are one process, so the second would get the
/// lock too, and closing its fd would drop the first's. Here each pty
/// (by device number) has at most one claim; the pty's file is opened
/// once and shared, so handing it over (`FORCE`) closes nothing.
mod console {
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::io::{self, Write as _};
    use std::os::fd::{AsFd as _, BorrowedFd};
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard};

    use crate::error::VirError;

    /// How a console is told to stop, from another thread: a flag, the
    /// client that took it over if one did, and a pipe to wake a poll.
    #[derive(Debug)]
    pub struct Stop {
        stopped: AtomicBool,
        taken_by: AtomicI32,
        wake_r: File,
        wake_w: File,
    }

    impl Stop {
        fn new() -> io::Result<Stop> {
            let (r, w) = privlib::os::fd::pipe()?;
            Ok(Stop {
                stopped: AtomicBool::new(false),
                taken_by: AtomicI32::new(0),
                wake_r: File::from(r),
                wake_w: File::from(w),
            })
        }

        /// Stops the console and wakes whoever polls [`Stop::wake_fd`].
        pub fn stop(&self) {
            if !self.stopped.swap(true, Ordering::SeqCst) {
                // One byte, once: the pipe never fills. A failed write
                // leaves the flag, seen at the next wake-up.
                let _ = (&self.wake_w).write(&[1]);
            }
        }

        fn take_over(&self, pid: i32) {
            self.taken_by.store(pid, Ordering::SeqCst);
            self.stop();
        }

        /// Whether the console was stopped.
        pub fn is_stopped(&self) -> bool {
            self.stopped.load(Ordering::SeqCst)
        }

        /// The client (pid) that took the console over, if one did.
        pub fn taken_by(&self) -> Option<i32> {
            match self.taken_by.load(Ordering::SeqCst) {
                0 => None,
                pid => Some(pid),
            }
        }

        /// Readable once stopped: poll it beside the pty.
        pub fn wake_fd(&self) -> BorrowedFd<'_> {
            self.wake_r.as_fd()
        }
    }

    struct Entry {
        file: Arc<File>,
        holder: i32,
        generation: u64,
        stop: Arc<Stop>,
    }

    static CLAIMS: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());
    static NEXT: AtomicU64 = AtomicU64::new(1);

    fn claims() -> MutexGuard<'static, BTreeMap<u64, Entry>> {
        // A panic elsewhere leaves a map that is still whole.
        CLAIMS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One client's hold on a pty, given up when the last
    /// [`ConsolePty`] clone drops (unless it was taken over since).
    #[derive(Debug)]
    struct Claim {
        rdev: u64,
        generation: u64,
    }

    impl Drop for Claim {
        fn drop(&mut self) {
            let mut m = claims();
            if m.get(&self.rdev)
                .is_some_and(|e| e.generation == self.generation)
            {
                m.remove(&self.rdev);
            }
        }
    }

    /// An opened, checked, locked console pty, claimed for one client of
    /// virtd: what `OPEN_CONSOLE` answers with, bridged by
    /// `crate::stream::Console`. Clones share the claim.
    #[derive(Clone, Debug)]
    pub struct ConsolePty {
        file: Arc<File>,
        stop: Arc<Stop>,
        // Held, never read: dropped with the last clone.
        _claim: Option<Arc<Claim>>,
    }

    impl ConsolePty {
        /// The pty (non-blocking).
        pub fn file(&self) -> &File {
            &self.file
        }

        /// How this client's console is stopped (by its end, or by a
        /// client taking it over).
        pub fn stop(&self) -> &Stop {
            &self.stop
        }

        /// A pty opened elsewhere, claimed by no one (tests; a caller
        /// holding a bare file).
        pub fn unclaimed(file: File) -> io::Result<ConsolePty> {
            Ok(ConsolePty {
                file: Arc::new(file),
                stop: Arc::new(Stop::new()?),
                _claim: None,
            })
        }

        /// A second fd of the pty, the claim given up: for a caller that
        /// takes a bare file. Closing it drops the record lock.
        pub fn into_file(self) -> io::Result<File> {
            self.file.try_clone()
        }
    }

    /// Why a pty was not claimed.
    #[derive(Debug)]
    pub(super) enum ClaimError {
        /// A client of this virtd (this pid) has it.
        Held(i32),
        /// Opening or locking it failed.
        Open(VirError),
    }

    /// Claims the pty `rdev` for client `pid`: refused while another
    /// client of virtd has it, unless `force` (that client's console is
    /// stopped, the open file passes on); else opened by `open`.
    pub(super) fn claim(
        rdev: u64,
        pid: i32,
        force: bool,
        open: impl FnOnce() -> Result<File, VirError>,
    ) -> Result<ConsolePty, ClaimError> {
        let stop = Arc::new(
            Stop::new().map_err(|e| ClaimError::Open(VirError::failed(format!("a pipe: {e}"))))?,
        );
        let mut m = claims();
        let file = match m.get(&rdev) {
            Some(e) if !force => return Err(ClaimError::Held(e.holder)),
            Some(e) => {
                e.stop.take_over(pid);
                Arc::clone(&e.file)
            }
            None => Arc::new(open().map_err(ClaimError::Open)?),
        };
        let generation = NEXT.fetch_add(1, Ordering::SeqCst);
        m.insert(
            rdev,
            Entry {
                file: Arc::clone(&file),
                holder: pid,
                generation,
                stop: Arc::clone(&stop),
            },
        );
        Ok(ConsolePty {
            file,
            stop,
            _claim: Some(Arc::new(Claim { rdev, generation })),
        })
    }

    /// The record lock against other processes, or the pid of the one
    /// holding it (one that lets go in between is asked again).
    pub(super) fn lock(f: &File) -> io::Result<Option<i32>> {
        for _ in 0..3 {
            match privlib::os::tty::lock_or_holder(f.as_fd())? {
                Some(0) => {}
                other => return Ok(other),
            }
        }
        Err(io::Error::other(
            "another client takes and drops it repeatedly",
        ))
    }

    /// virtd's effective uid (the console daemon's, who owns the pty).
    pub(super) fn own_uid() -> Result<u32, privlib::procfs::ProcError> {
        privlib::procfs::read_cred(std::path::Path::new("/proc"), "self").map(|c| c.uid[1])
    }
}

/// `VIR_DOMAIN_DEFINE_VALIDATE`: the XML is checked anyway.
const DEFINE_VALIDATE: u32 = 1;
/// `VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN` (and `REBOOT_`): what xend does.
const ACPI_POWER_BTN: u32 = 1;
/// `VIR_DOMAIN_UNDEFINE_*`: managed save, snapshot and checkpoint
/// metadata, NVRAM and TPM state to remove or keep; virtd's domains have
/// none of them, so each is done by doing nothing.
const UNDEFINE_FLAGS: u32 = 0b111_1111;
/// `VIR_DOMAIN_CONSOLE_FORCE`: take the console from the client holding it.
pub const CONSOLE_FORCE: u32 = 1;
/// `VIR_DOMAIN_CONSOLE_SAFE`: only if the console is kept to one client
/// (it is).
pub const CONSOLE_SAFE: u32 = 2;

/// Runs one of this module's procedures.
pub fn call(s: &mut Session, p: Proc, d: &mut Dec<'_>) -> Result<Reply, VirError> {
    match p {
        Proc::DomainDefineXml | Proc::DomainDefineXmlFlags => {
            let xml = d.string("xml", MAX_XML).map_err(|e| bad_args(p, e))?;
            let flags = match p {
                Proc::DomainDefineXmlFlags => flags_arg(p, d)?,
                _ => 0,
            };
            end(p, d)?;
            check_flags(p, flags, DEFINE_VALIDATE)?;
            define(s, p, xml)
        }
        Proc::DomainOpenConsole => {
            let r = dom_arg(p, d)?;
            let dev = d
                .opt_string("dev_name", MAX_STRING)
                .map_err(|e| bad_args(p, e))?;
            let flags = flags_arg(p, d)?;
            end(p, d)?;
            check_flags(p, flags, CONSOLE_FORCE | CONSOLE_SAFE)?;
            let name = r.name.clone();
            let out = check_device(dev)
                .and_then(|()| find(s, &r))
                .and_then(|info| open_console(s, &info, flags & CONSOLE_FORCE != 0));
            s.audit(p, &name, out.as_ref().map(|_| ()));
            out.and_then(console_reply)
        }
        _ => {
            let r = dom_arg(p, d)?;
            let arg = match p {
                Proc::DomainCreateWithFlags
                | Proc::DomainDestroyFlags
                | Proc::DomainShutdownFlags
                | Proc::DomainReboot
                | Proc::DomainUndefineFlags => flags_arg(p, d)?,
                Proc::DomainSetAutostart => {
                    u32::from(d.i32("autostart").map_err(|e| bad_args(p, e))? != 0)
                }
                _ => 0,
            };
            end(p, d)?;
            let known = match p {
                Proc::DomainShutdownFlags | Proc::DomainReboot => ACPI_POWER_BTN,
                Proc::DomainUndefineFlags => UNDEFINE_FLAGS,
                // The autostart value, not flags.
                Proc::DomainSetAutostart => 1,
                _ => 0,
            };
            check_flags(p, arg, known)?;
            let name = r.name.clone();
            let out = find(s, &r).and_then(|info| act(s, p, &info, arg));
            s.audit(p, &name, out.as_ref().map(|_| ()));
            out
        }
    }
}

/// The reply carrying an opened console, its claim held until the
/// stream ends.
fn console_reply(pty: ConsolePty) -> Result<Reply, VirError> {
    Ok(Reply::Console(pty))
}

/// `DEFINE_XML`: the XML read, kept by xend, the domain answered.
fn define(s: &mut Session, p: Proc, xml: &str) -> Result<Reply, VirError> {
    let def = match crate::xml::parse(xml).map_err(|e| VirError::xml(e.to_string())) {
        Ok(def) => def,
        Err(e) => {
            s.audit(p, "", Err(&e));
            return Err(e);
        }
    };
    let name = def.name.clone();
    let out = s
        .xend_call(|c| c.define(&def))
        .map_err(xend_error)
        .and_then(|named| {
            domains(s)?
                .into_iter()
                .find(|r| r.name == named.name)
                .map(|r| dom_reply(&r))
                .ok_or_else(|| {
                    VirError::failed(format!("domain {} defined, then gone", named.name))
                })
        });
    s.audit(p, &name, out.as_ref().map(|_| ()));
    out
}

/// How xend names a domain acted on: the id when it runs (a name of
/// digits would read as an id), else its name.
fn which(info: &DomainInfo) -> String {
    info.domid
        .map_or_else(|| info.name.clone(), |id| id.to_string())
}

fn running(info: &DomainInfo) -> Result<(), VirError> {
    match info.domid {
        Some(_) => Ok(()),
        None => Err(VirError::invalid(format!(
            "Requested operation is not valid: domain {} is not running",
            info.name
        ))),
    }
}

fn persistent(info: &DomainInfo, what: &str) -> Result<(), VirError> {
    if info.managed {
        Ok(())
    } else {
        Err(VirError::invalid(format!(
            "Requested operation is not valid: cannot {what} transient domain {}",
            info.name
        )))
    }
}

fn empty() -> Reply {
    Reply::Body(Vec::new())
}

/// The procedures on one domain, found; `arg` is the flags, checked (or
/// the autostart value).
fn act(s: &mut Session, p: Proc, info: &DomainInfo, arg: u32) -> Result<Reply, VirError> {
    let name = info.name.clone();
    match p {
        Proc::DomainCreate | Proc::DomainCreateWithFlags => {
            if info.domid.is_some() {
                return Err(VirError::invalid(format!(
                    "Requested operation is not valid: domain {name} is already running"
                )));
            }
            let started = s.xend_call(|c| c.start(&name)).map_err(xend_error)?;
            Ok(match p {
                Proc::DomainCreateWithFlags => dom_reply(&started),
                _ => empty(),
            })
        }
        Proc::DomainDestroy | Proc::DomainDestroyFlags => {
            running(info)?;
            s.xend_call(|c| c.destroy(&which(info)))
                .map_err(xend_error)?;
            Ok(empty())
        }
        Proc::DomainShutdown | Proc::DomainShutdownFlags => {
            running(info)?;
            s.xend_call(|c| c.shutdown(&which(info)))
                .map_err(xend_error)?;
            Ok(empty())
        }
        Proc::DomainReboot => {
            running(info)?;
            s.xend_call(|c| c.reboot(&which(info)))
                .map_err(xend_error)?;
            Ok(empty())
        }
        Proc::DomainSuspend => {
            running(info)?;
            s.xend_call(|c| c.pause(&which(info))).map_err(xend_error)?;
            Ok(empty())
        }
        Proc::DomainResume => {
            running(info)?;
            s.xend_call(|c| c.unpause(&which(info)))
                .map_err(xend_error)?;
            Ok(empty())
        }
        Proc::DomainUndefine | Proc::DomainUndefineFlags => {
            persistent(info, "undefine")?;
            s.xend_call(|c| c.delete(&name)).map_err(xend_error)?;
            Ok(empty())
        }
        Proc::DomainSetAutostart => {
            persistent(info, "set autostart for")?;
            let set = arg != 0;
            s.xend_call(|c| c.autostart(&name, Some(set)))
                .map_err(xend_error)?;
            Ok(empty())
        }
        _ => Err(VirError::unknown_procedure(
            crate::packet::REMOTE_PROGRAM,
            p.number(),
        )),
    }
}

/// Opens the running domain's console for this session's peer.
pub fn open_console(s: &Session, info: &DomainInfo, force: bool) -> Result<ConsolePty, VirError> {
    let domid = info.domid.ok_or_else(|| {
        VirError::invalid(format!(
            "Requested operation is not valid: domain {} is not running",
            info.name
        ))
    })?;
    let path = tty_path(&s.env.store_socket, domid, &info.name)?;
    open_pty(&path, &info.name, s.peer.pid, force)
}

/// Opens and claims the pty at `path` for the client `pid`:
/// 1. `O_PATH` with no symlink followed anywhere (nothing is opened
///    for I/O yet, so no device acts on being opened);
/// 2. checked on that fd: a character device, a Unix98 pty slave,
///    owned by virtd's own uid (the console daemon's account), mode 0600;
/// 3. claimed in virtd ([`console`]): a client of this virtd holding it
///    refuses the open, or with `force` hands it over;
/// 4. reopened read-write through `/proc/self/fd/N` (the inode checked),
///    `O_NOCTTY | O_NONBLOCK`, checked to be the same inode, and locked
///    against every other process (xenconsole), whose pid a refusal names.
pub fn open_pty(path: &Path, domain: &str, pid: i32, force: bool) -> Result<ConsolePty, VirError> {
    let fail = |what: &str| {
        VirError::failed(format!(
            "domain {domain}: console {}: {what}",
            path.display()
        ))
    };
    let io = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            fail("reached through a symbolic link, which is not followed")
        } else {
            fail(&e.to_string())
        }
    };
    // 1.
    let opath = File::from(privlib::os::fs::open_no_symlinks(None, path, false).map_err(io)?);
    // 2.
    let meta = opath.metadata().map_err(io)?;
    let me = console::own_uid().map_err(|e| fail(&e.to_string()))?;
    // O_PATH | O_NOFOLLOW opens a symlink in the last place as itself.
    if meta.file_type().is_symlink() {
        return Err(fail(
            "reached through a symbolic link, which is not followed",
        ));
    }
    if !meta.file_type().is_char_device() {
        return Err(fail(&format!(
            "{}, not a pty",
            privlib::os::fs::kind(meta.file_type())
        )));
    }
    if !privlib::os::tty::is_pty_slave_dev(meta.rdev()) {
        return Err(fail(&format!(
            "device {}:{} is not a pty slave",
            libc::major(meta.rdev()),
            libc::minor(meta.rdev())
        )));
    }
    if meta.uid() != me {
        return Err(fail(&format!(
            "owned by uid {}, not by virtd's uid {me}",
            meta.uid()
        )));
    }
    if meta.mode() & 0o7777 != 0o600 {
        return Err(fail(&format!(
            "mode {:04o}, not 0600",
            meta.mode() & 0o7777
        )));
    }
    // 3. and 4., the claim held while the file is opened and locked.
    let reopen = || -> Result<File, VirError> {
        let fd_path = PathBuf::from(format!("/proc/self/fd/{}", opath.as_fd().as_raw_fd()));
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(fd_path)
            .map_err(io)?;
        let now = tty.metadata().map_err(io)?;
        if (now.dev(), now.ino(), now.rdev()) != (meta.dev(), meta.ino(), meta.rdev()) {
            return Err(fail("changed while it was opened"));
        }
        match console::lock(&tty).map_err(|e| fail(&format!("locking: {e}")))? {
            None => Ok(tty),
            Some(holder) => Err(in_use(domain, holder)),
        }
    };
    console::claim(meta.rdev(), pid, force, reopen).map_err(|c| match c {
        console::ClaimError::Held(holder) => in_use(domain, holder),
        console::ClaimError::Open(e) => e,
    })
}

/// libvirt's answer when another client has the console.
fn in_use(domain: &str, holder: i32) -> VirError {
    VirError::failed(format!(
        "domain {domain}: an active console session exists: process {holder} has it (virsh console --force takes it from a client of virtd)"
    ))
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
