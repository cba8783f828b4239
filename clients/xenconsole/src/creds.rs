//! Who the caller is, and the proof that nothing of root is left.
//!
//! Both come from `/proc/self/status` (privlib's bounded reader): the
//! real ids and groups the kernel keeps for the caller, and, after
//! [`privlib::relinquish`], every uid, gid and capability set as the
//! kernel now holds them. The check reads the kernel's answer rather than
//! trusting the calls that should have made it so.

use std::path::Path;

use privlib::procfs::{ProcCred, ProcError, read_cred};

/// The caller: real uid and gid, and the supplementary groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// Real uid.
    pub(crate) uid: u32,
    /// Real gid.
    pub(crate) gid: u32,
    /// Supplementary groups (getgroups).
    pub(crate) groups: Vec<u32>,
}

/// Why the credentials could not be read, or are not what they must be.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredError {
    /// `/proc/self/status` could not be read or parsed.
    #[error("reading /proc/self/status: {0}")]
    Proc(#[source] ProcError),
    /// Something of the set-id start is left.
    #[error("still privileged after giving up privileges ({0}); not attaching")]
    StillPrivileged(String),
}

/// The caller's real ids and groups.
pub(crate) fn caller() -> Result<Caller, CredError> {
    let c = read_cred(Path::new("/proc"), "self").map_err(CredError::Proc)?;
    Ok(Caller {
        uid: c.uid[0],
        gid: c.gid[0],
        groups: c.groups,
    })
}

/// Checks the process is the caller and nothing more: all four uids and
/// gids the caller's, every capability set empty (inheritable,
/// permitted, effective, bounding, ambient), NoNewPrivs set, and the
/// securebits NOROOT and NO_SETUID_FIXUP set and locked.
pub(crate) fn verify_relinquished(who: &Caller) -> Result<(), CredError> {
    let c = read_cred(Path::new("/proc"), "self").map_err(CredError::Proc)?;
    let mut left: Vec<String> = what_is_left(who, &c).into_iter().collect();
    // /proc does not show the securebits: ask the kernel. Unlocked, uid 0
    // would mean all privileges again after an exec.
    let bits = privlib::os::securebits::get();
    let want = privlib::os::securebits::LOCKED_NOROOT;
    if bits & want != want {
        left.push(format!("securebits {bits:#x}, not {want:#x} locked"));
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(CredError::StillPrivileged(left.join(", ")))
    }
}

/// What of `c` is more than `who`, as text; `None` when nothing is.
pub(crate) fn what_is_left(who: &Caller, c: &ProcCred) -> Option<String> {
    let mut left = Vec::new();
    if c.uid.iter().any(|u| *u != who.uid) {
        left.push(format!("Uid {:?}", c.uid));
    }
    if c.gid.iter().any(|g| *g != who.gid) {
        left.push(format!("Gid {:?}", c.gid));
    }
    for (name, mask) in [
        ("CapInh", c.caps.inheritable),
        ("CapPrm", c.caps.permitted),
        ("CapEff", c.caps.effective),
        ("CapBnd", c.bounding),
        ("CapAmb", c.ambient),
    ] {
        if !mask.is_empty() {
            left.push(format!("{name} {:016x}", mask.0));
        }
    }
    if !c.no_new_privs {
        left.push("NoNewPrivs 0".into());
    }
    (!left.is_empty()).then(|| left.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use privlib::procfs::parse_status;

    const DROPPED: &str = "Name:\txenconsole\nUid:\t1000\t1000\t1000\t1000\n\
        Gid:\t1000\t1000\t1000\t1000\nGroups:\t1000 27\nCapInh:\t0000000000000000\n\
        CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n\
        CapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";

    fn who() -> Caller {
        Caller {
            uid: 1000,
            gid: 1000,
            groups: vec![1000, 27],
        }
    }

    #[test]
    fn a_process_that_is_only_the_caller_passes() {
        let c = parse_status("self", Path::new("status"), DROPPED).expect("parses");
        assert_eq!(what_is_left(&who(), &c), None);
    }

    #[test]
    fn a_saved_root_uid_a_bounding_set_or_a_missing_no_new_privs_is_named() {
        let text = DROPPED
            .replace("Uid:\t1000\t1000\t1000\t1000", "Uid:\t1000\t1000\t0\t1000")
            .replace("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff")
            .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0");
        let c = parse_status("self", Path::new("status"), &text).expect("parses");
        assert_eq!(
            what_is_left(&who(), &c).as_deref(),
            Some("Uid [1000, 1000, 0, 1000], CapBnd 000001ffffffffff, NoNewPrivs 0")
        );
    }
}
