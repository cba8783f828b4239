//! The host's name, from the kernel (`uname(2)`): the UTS namespace's
//! node name, which `/proc/sys/kernel/hostname` also shows but a
//! service's `ProcSubset=pid` hides.

use std::ffi::CStr;

/// The node name; `None` if the kernel refused (never, on Linux).
pub fn hostname() -> Option<String> {
    let mut u = std::mem::MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `u` is a valid, writable utsname; uname fills it whole and
    // touches nothing else.
    let rc = unsafe { libc::uname(u.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: uname returned 0, so every field is initialised, and the
    // zeroed start means the buffer is initialised memory in any case.
    let u = unsafe { u.assume_init() };
    // The kernel NUL-terminates nodename within its 65 bytes.
    let bytes: Vec<u8> = u.nodename.iter().map(|&c| c.cast_unsigned()).collect();
    CStr::from_bytes_until_nul(&bytes)
        .ok()
        .map(|s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_has_a_name() {
        let n = super::hostname().expect("uname answers");
        assert!(!n.is_empty());
    }
}
