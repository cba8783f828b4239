//! Mount namespaces for hermetic runs: tests (and later the device-model
//! launch) get a private mount table with their own tmpfs, so nothing they
//! mount or create is seen by the host.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check_io as check;

fn c(path: &Path) -> Result<CString, io::Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

/// Moves the calling (single-threaded) process into a new mount namespace
/// whose mounts do not propagate back to the host.
pub fn unshare_mounts() -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
    let root = c(Path::new("/"))?;
    // SAFETY: a NUL-terminated target and null source/type/data: the call
    // only changes propagation of the existing mounts.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })
}

/// Mounts a fresh tmpfs (mode 0755, set-id bits honoured) on `dir`.
pub fn mount_tmpfs(dir: &Path) -> io::Result<()> {
    let (src, target, fstype) = (c(Path::new("tmpfs"))?, c(dir)?, c(Path::new("tmpfs"))?);
    let data = CString::new("mode=0755").map_err(io::Error::other)?;
    // SAFETY: every pointer is a live NUL-terminated string for the call.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    })
}

/// Bind-mounts `src` on `dst` (both must exist).
pub fn bind_mount(src: &Path, dst: &Path) -> io::Result<()> {
    let (s, d) = (c(src)?, c(dst)?);
    // SAFETY: live NUL-terminated paths; null type and data for MS_BIND.
    check(unsafe {
        libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    })
}

/// Moves the calling process into a new, empty network namespace (only
/// `lo`, down): test hosts live there, never on the real network.
pub fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })
}
