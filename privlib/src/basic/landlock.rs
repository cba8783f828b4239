//! Landlock for removed basic privileges (`file_read`, `file_write`,
//! `proc_session`) and for a daemon's own confinement ([`confine_fs`]).
//!
//! The rulesets are built through `Sys`, so a plan under the recording
//! fake makes none; the raw calls are in the system layer's `landlock`.

use std::io;
use std::path::Path;

use crate::sys::landlock::{Ruleset, fs, fs_rights};
use crate::sys::{CredOp, Linux, Sys};

/// Why Landlock could not take away what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The running kernel's Landlock is too old (or absent).
    #[error("Landlock ABI {have} is running, {need} is needed to remove {what}")]
    TooOld {
        /// The running ABI.
        have: u32,
        /// The ABI needed.
        need: u32,
        /// The privilege.
        what: &'static str,
    },
    /// Landlock restricts the calling thread only.
    #[error("{0} threads are running; confine before any runtime starts threads")]
    MultiThreaded(usize),
    /// One kernel step failed; says which.
    #[error("{step} failed: {source}")]
    Step {
        /// The step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

/// Builds a Landlock ruleset handling `fs_rights` and `scope`, with
/// `allow` (path, rights) exceptions. Fails closed when the kernel cannot.
pub fn ruleset(
    sys: &impl Sys,
    fs_rights_wanted: u64,
    scope: u64,
    allow: &[(&Path, u64)],
) -> Result<Ruleset, LandlockError> {
    let abi = sys.landlock_abi();
    // Truncation is a write that Landlock handles from ABI 3 on: before
    // that, file_write could not really be taken away.
    let need = if scope != 0 {
        6
    } else if fs_rights_wanted & fs::TRUNCATE != 0 {
        3
    } else {
        1
    };
    if abi < need {
        return Err(LandlockError::TooOld {
            have: abi,
            need,
            what: if scope != 0 {
                "proc_session"
            } else {
                "file_read or file_write"
            },
        });
    }
    let handled = fs_rights_wanted & fs_rights(abi);
    let step = |step| move |source| LandlockError::Step { step, source };
    let mut rs = sys
        .landlock_create(abi, handled, scope)
        .map_err(step("landlock_create_ruleset"))?;
    for (path, rights) in allow {
        sys.landlock_allow(&mut rs, path, *rights)
            .map_err(step("landlock_add_rule"))?;
    }
    Ok(rs)
}

/// Confines the calling (single-threaded) process's file access for good
/// with Landlock: only `allow` (path, Landlock rights of [`crate::os::landlock`])
/// remain reachable. A daemon calls it once it has opened what it needs,
/// keeping its own directories.
pub fn confine_fs(allow: &[(&Path, u64)]) -> Result<(), LandlockError> {
    confine_fs_with(&mut Linux, allow)
}

/// [`confine_fs`] through a given `Sys`.
pub fn confine_fs_with(sys: &mut impl Sys, allow: &[(&Path, u64)]) -> Result<(), LandlockError> {
    let threads = sys.thread_count().map_err(|source| LandlockError::Step {
        step: "count threads",
        source,
    })?;
    if threads != 1 {
        return Err(LandlockError::MultiThreaded(threads));
    }
    let rs = ruleset(sys, fs_rights(sys.landlock_abi()), 0, allow)?;
    let mut ops = Vec::new();
    if !sys.no_new_privs() {
        ops.push(CredOp::NoNewPrivs);
    }
    ops.push(CredOp::LandlockRestrict(rs.fd()));
    for op in &ops {
        sys.apply(op).map_err(|e| LandlockError::Step {
            step: op.step(),
            source: io::Error::from_raw_os_error(e),
        })?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "landlock_tests.rs"]
mod tests;
