//! A recording stand-in for the kernel: it answers queries from a simulated
//! state, records every [`CredOp`] and updates the state the way Linux
//! would for the parts privlib relies on. Used by unit tests to check the
//! plan of a privilege drop without root.

use std::io;

use super::{CapState, CredOp, Ids, Sys, secbit};
use crate::caps::{CapMask, num};

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
    /// Every op applied, in order.
    pub log: Vec<CredOp>,
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
            log: Vec::new(),
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
