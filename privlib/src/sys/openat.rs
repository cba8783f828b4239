//! Opening files in trees others can write to: openat2 with the kernel's
//! RESOLVE_* rules, so no symlink is followed anywhere on the way and a
//! lookup beneath a directory never leaves it; and a change of owner on the
//! fd that was opened, so nothing can be swapped in between.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check_io as check;

/// Opens `name` under `dir` (or `name` itself, absolute, when `dir` is
/// `None`) without following a symlink anywhere on the way (openat2 with
/// RESOLVE_NO_SYMLINKS; under a `dir`, RESOLVE_BENEATH too). A directory
/// opens read-only; anything else opens O_PATH, enough for fstat and, by
/// [`chown_fd`], a change of owner. For tools like xvm-fixperms that change
/// owners in trees others could write to.
pub fn open_no_symlinks(
    dir: Option<std::os::fd::BorrowedFd<'_>>,
    name: &Path,
    want_dir: bool,
) -> io::Result<OwnedFd> {
    let flags = if want_dir {
        libc::O_RDONLY | libc::O_DIRECTORY
    } else {
        libc::O_PATH
    } | libc::O_NOFOLLOW
        | libc::O_CLOEXEC;
    let resolve = libc::RESOLVE_NO_SYMLINKS
        | if dir.is_some() {
            libc::RESOLVE_BENEATH
        } else {
            0
        };
    let base = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    openat2(base, name, flags, resolve)
}

/// `openat2(base, name, flags, resolve)`: one open with the kernel's
/// resolution rules, which O_NOFOLLOW alone cannot give (it guards the
/// last component only). `base` is a live directory fd or AT_FDCWD.
fn openat2(base: RawFd, name: &Path, flags: libc::c_int, resolve: u64) -> io::Result<OwnedFd> {
    let c = CString::new(name.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: open_how is plain data; zeroed is mode 0 and no flags.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = u64::try_from(flags).unwrap_or(0);
    how.resolve = resolve;
    // SAFETY: a NUL-terminated path, a live open_how of the size passed,
    // and a dir fd that is live (or AT_FDCWD), as the caller promises.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            base,
            c.as_ptr(),
            &raw const how,
            size_of::<libc::open_how>(),
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = i32::try_from(raw).map_err(io::Error::other)?;
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Changes the owner of what `fd` (any fd, O_PATH too) refers to.
pub fn chown_fd(fd: std::os::fd::BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: an empty path with AT_EMPTY_PATH acts on the fd itself.
    check(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) })
}

/// Opens the regular file or block device `name` beneath the directory
/// `dir` for I/O (read-write when `write`), never through a symlink and
/// never outside `dir` (openat2: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS). For handing disk images to a device model.
pub fn open_beneath(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &Path,
    write: bool,
) -> io::Result<OwnedFd> {
    // O_NONBLOCK: a FIFO or device put there cannot block the open; the
    // caller checks the type and reopens (see `reopen`).
    let flags = if write { libc::O_RDWR } else { libc::O_RDONLY }
        | libc::O_NOFOLLOW
        | libc::O_CLOEXEC
        | libc::O_NOCTTY
        | libc::O_NONBLOCK;
    openat2(
        dir.as_raw_fd(),
        name,
        flags,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
}
