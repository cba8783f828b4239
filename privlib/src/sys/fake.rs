//! A recording stand-in for the kernel: it answers queries from a simulated
//! state, records every [`CredOp`] and updates the state the way Linux
//! would for the parts privlib relies on. Used by unit tests to check the
//! plan of a privilege drop without root.
//!
//! It makes no system call: the file-system and fd questions a plan asks
//! (is this fd open, what is PATH, is this file executable, open
//! /dev/null, build a Landlock ruleset) are answered from its own data
//! and recorded in [`Recording::calls`].

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use super::landlock::Ruleset;
use super::{CapState, CredOp, HeldFd, Ids, Sys, secbit};
use crate::caps::{CapMask, num};

/// A question the fake answered instead of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Whether an fd is open.
    FdIsOpen(RawFd),
    /// The caller's PATH.
    PathVar,
    /// Whether a file is executable.
    IsExecutable(PathBuf),
    /// Whether a device node opens.
    CheckNode(PathBuf),
    /// /dev/null opened; the fd number handed out.
    OpenDevNull(RawFd),
    /// A Landlock ruleset created.
    LandlockCreate {
        /// The ABI asked for.
        abi: u32,
        /// The file-system rights handled.
        handled_fs: u64,
        /// The scopes.
        scoped: u64,
    },
    /// A Landlock rule added (the rights as the kernel would keep them).
    LandlockAllow(PathBuf, u64),
}

/// The first fd number the fake hands out: far above what tests pass.
const FIRST_FAKE_FD: RawFd = 1000;

/// Simulated process state plus the log of ops.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Ids.
    pub ids: Ids,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Capability sets.
    pub caps: CapState,
    /// Bounding set.
    pub bounding: CapMask,
    /// Ambient set.
    pub ambient: CapMask,
    /// Securebits.
    pub securebits: u32,
    /// no_new_privs.
    pub nnp: bool,
    /// Threads in the process.
    pub threads: usize,
    /// Highest capability number.
    pub last_cap: u8,
    /// Landlock ABI.
    pub landlock_abi: u32,
    /// Fds open in the process.
    pub open_fds: Vec<RawFd>,
    /// Its PATH.
    pub path_var: Option<OsString>,
    /// The executable files there are.
    pub executables: Vec<PathBuf>,
    /// The device nodes there are.
    pub dev_nodes: Vec<PathBuf>,
    /// Every op applied, in order.
    pub log: Vec<CredOp>,
    /// Every question answered, in order.
    pub calls: RefCell<Vec<Call>>,
    next_fd: Cell<RawFd>,
}

impl Recording {
    /// A single-threaded root process with every capability.
    pub fn root() -> Recording {
        let all = CapMask::upto(40);
        Recording {
            ids: Ids::default(),
            groups: vec![0],
            caps: CapState {
                effective: all,
                permitted: all,
                inheritable: CapMask::EMPTY,
            },
            bounding: all,
            ambient: CapMask::EMPTY,
            securebits: 0,
            nnp: false,
            threads: 1,
            last_cap: 40,
            landlock_abi: 7,
            open_fds: vec![0, 1, 2],
            path_var: Some(OsString::from("/usr/bin:/bin")),
            executables: vec![PathBuf::from("/bin/true"), PathBuf::from("/usr/bin/true")],
            dev_nodes: vec![PathBuf::from("/dev/null"), PathBuf::from("/dev/kvm")],
            log: Vec::new(),
            calls: RefCell::new(Vec::new()),
            next_fd: Cell::new(FIRST_FAKE_FD),
        }
    }

    /// A process already running as `uid`:`gid` with `ambient` capabilities
    /// raised by a service manager (so they are also in P, E and I).
    pub fn service(uid: u32, gid: u32, ambient: CapMask) -> Recording {
        Recording {
            ids: Ids {
                uid: [uid; 3],
                gid: [gid; 3],
            },
            groups: vec![],
            caps: CapState {
                effective: ambient,
                permitted: ambient,
                inheritable: ambient,
            },
            ambient,
            ..Recording::root()
        }
    }

    /// The ops' step names, for compact assertions.
    pub fn steps(&self) -> Vec<&'static str> {
        self.log.iter().map(CredOp::step).collect()
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }

    fn new_fd(&self) -> RawFd {
        let fd = self.next_fd.get();
        self.next_fd.set(fd + 1);
        fd
    }
}

impl Sys for Recording {
    fn thread_count(&self) -> io::Result<usize> {
        Ok(self.threads)
    }
    fn ids(&self) -> Ids {
        self.ids
    }
    fn groups(&self) -> io::Result<Vec<u32>> {
        Ok(self.groups.clone())
    }
    fn caps(&self) -> io::Result<CapState> {
        Ok(self.caps)
    }
    fn bounding(&self) -> CapMask {
        self.bounding
    }
    fn ambient(&self) -> CapMask {
        self.ambient
    }
    fn securebits(&self) -> u32 {
        self.securebits
    }
    fn no_new_privs(&self) -> bool {
        self.nnp
    }
    fn last_cap(&self) -> u8 {
        self.last_cap
    }
    fn landlock_abi(&self) -> u32 {
        self.landlock_abi
    }

    fn fd_is_open(&self, fd: RawFd) -> bool {
        self.record(Call::FdIsOpen(fd));
        self.open_fds.contains(&fd)
    }

    fn path_var(&self) -> Option<OsString> {
        self.record(Call::PathVar);
        self.path_var.clone()
    }

    fn is_executable(&self, path: &Path) -> bool {
        self.record(Call::IsExecutable(path.to_path_buf()));
        self.executables.iter().any(|e| e == path)
    }

    fn check_node(&self, path: &Path) -> io::Result<()> {
        self.record(Call::CheckNode(path.to_path_buf()));
        if self.dev_nodes.iter().any(|n| n == path) {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::ENOENT))
        }
    }

    fn open_devnull(&self) -> io::Result<HeldFd> {
        let fd = self.new_fd();
        self.record(Call::OpenDevNull(fd));
        Ok(HeldFd::recorded(fd))
    }

    fn landlock_create(&self, abi: u32, handled_fs: u64, scoped: u64) -> io::Result<Ruleset> {
        self.record(Call::LandlockCreate {
            abi,
            handled_fs,
            scoped,
        });
        if abi == 0 || abi > self.landlock_abi {
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        }
        Ok(Ruleset::recorded(self.new_fd(), handled_fs))
    }

    fn landlock_allow(&self, rs: &mut Ruleset, path: &Path, access: u64) -> io::Result<()> {
        self.record(Call::LandlockAllow(
            path.to_path_buf(),
            access & rs.handled(),
        ));
        Ok(())
    }

    fn apply(&mut self, op: &CredOp) -> Result<(), i32> {
        let eff = self.caps.effective;
        let need = |cap: u8| {
            if eff.has(cap) {
                Ok(())
            } else {
                Err(libc::EPERM)
            }
        };
        match op {
            CredOp::Securebits(b) => {
                need(num::SETPCAP)?;
                self.securebits = *b;
            }
            CredOp::DropBounding(m) => {
                need(num::SETPCAP)?;
                self.bounding = self.bounding.minus(*m);
            }
            CredOp::SetGroups(g) => {
                need(num::SETGID)?;
                self.groups.clone_from(g);
            }
            CredOp::SetGid(g) => {
                if !self.ids.gid.contains(g) {
                    need(num::SETGID)?;
                }
                self.ids.gid = [*g; 3];
            }
            CredOp::SetUid(u) => {
                if !self.ids.uid.contains(u) {
                    need(num::SETUID)?;
                }
                let was_root = self.ids.uid.contains(&0);
                self.ids.uid = [*u; 3];
                if was_root && *u != 0 && self.securebits & secbit::NO_SETUID_FIXUP == 0 {
                    // The kernel's fixup: leaving uid 0 clears E (and P
                    // unless keep-caps) and the ambient set.
                    self.caps.effective = CapMask::EMPTY;
                    if self.securebits & secbit::KEEP_CAPS == 0 {
                        self.caps.permitted = CapMask::EMPTY;
                    }
                    self.ambient = CapMask::EMPTY;
                }
            }
            CredOp::KeepCaps(on) => {
                if *on {
                    self.securebits |= secbit::KEEP_CAPS;
                } else {
                    self.securebits &= !secbit::KEEP_CAPS;
                }
            }
            CredOp::SetCaps(s) => {
                if !self.caps.permitted.contains(s.permitted) || !s.permitted.contains(s.effective)
                {
                    return Err(libc::EPERM);
                }
                self.caps = *s;
                self.ambient = self.ambient.intersect(s.permitted).intersect(s.inheritable);
            }
            CredOp::ClearAmbient => self.ambient = CapMask::EMPTY,
            CredOp::RaiseAmbient(m) => {
                if !self
                    .caps
                    .permitted
                    .intersect(self.caps.inheritable)
                    .contains(*m)
                {
                    return Err(libc::EPERM);
                }
                self.ambient = self.ambient.union(*m);
            }
            CredOp::NoNewPrivs => self.nnp = true,
            _ => {}
        }
        self.log.push(op.clone());
        Ok(())
    }
}
