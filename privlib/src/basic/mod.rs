//! Taking basic privileges away for real.
//!
//! Solaris removes `proc_fork`, `proc_exec`, `file_write` and the rest in
//! the kernel's privilege checks. Linux has no such checks, so privlib
//! builds the equivalent from seccomp (system calls) and Landlock (file
//! access, signal scope), as the table in [`crate::names`] says:
//! [`removal`] says what a set of missing basic privileges takes,
//! [`seccomp`] holds the filter rules for each, and [`landlock`] builds
//! the rulesets (and [`landlock::confine_fs`], a daemon's own
//! confinement). The raw calls are in the system layer.

pub mod landlock;
pub mod seccomp;

use crate::names::{Backing, LandlockUse, SeccompUse};
use crate::set::PrivSet;
use crate::sys::bpf::Rule;
use crate::sys::landlock::{SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL, fs};

/// What removing a set of basic privileges takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    /// Seccomp deny rules.
    pub rules: Vec<Rule>,
    /// Landlock file-system rights to handle (deny unless allowed).
    pub landlock_fs: u64,
    /// Landlock scopes.
    pub landlock_scope: u64,
}

impl Removal {
    /// Whether nothing needs enforcing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.landlock_fs == 0 && self.landlock_scope == 0
    }

    /// Whether the seccomp part uses a listener (one-shot exec).
    pub fn needs_listener(&self) -> bool {
        self.rules.iter().any(Rule::notifies)
    }
}

/// What it takes to remove the basic privileges that `held` lacks.
///
/// With `exec_once`, a missing `proc_exec` is enforced through a listener
/// that lets exactly one exec through (the spawn of the program itself);
/// otherwise exec fails at once.
pub fn removal(held: &PrivSet, exec_once: bool) -> Removal {
    let missing = PrivSet::basic().minus(held);
    let mut r = Removal::default();
    for p in missing.iter() {
        match p.info().backing {
            Backing::Seccomp(SeccompUse::ProcFork) => r.rules.extend(seccomp::proc_fork()),
            Backing::Seccomp(SeccompUse::ProcExec) => {
                r.rules.extend(seccomp::proc_exec(exec_once));
            }
            Backing::Seccomp(SeccompUse::NetAccess) => r.rules.extend(seccomp::net_access()),
            Backing::Seccomp(SeccompUse::ProcSecflags) => {
                r.rules.extend(seccomp::proc_secflags());
            }
            Backing::Landlock(LandlockUse::FileRead) => r.landlock_fs |= fs::READ,
            Backing::Landlock(LandlockUse::FileWrite) => r.landlock_fs |= fs::WRITE,
            Backing::Landlock(LandlockUse::SignalScope) => {
                r.landlock_scope |= SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET;
            }
            // file_link_any, proc_info: Linux has nothing (see `ppriv -l -v`).
            _ => {}
        }
    }
    r
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
