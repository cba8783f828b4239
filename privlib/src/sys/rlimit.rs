//! Resource limits of the calling process.

use std::io;

/// Raises the soft limit on open files to at least `want` (never above
/// the hard limit, never lowered). Returns the soft limit now in force.
///
/// A daemon that holds many connections needs more than the usual 1024:
/// each admitted peer costs a socket and the duplicate kept in its
/// [`crate::Ucred`].
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live rlimit the kernel fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur >= target {
        return Ok(lim.rlim_cur);
    }
    lim.rlim_cur = target;
    // SAFETY: `lim` is a live, initialized rlimit; raising the soft limit
    // up to the hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_lowers_and_never_passes_the_hard_limit() {
        let now = raise_nofile(0).expect("query");
        assert_eq!(raise_nofile(1).expect("lower?"), now, "never lowered");
        let high = raise_nofile(u64::MAX).expect("raise");
        assert!(high >= now);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a live rlimit the kernel fills in.
        let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) };
        assert_eq!(r, 0);
        assert_eq!(lim.rlim_cur, high);
        assert!(high <= lim.rlim_max);
    }
}
