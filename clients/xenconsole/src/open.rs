//! Opening a console pty named by the store, as a set-id program must.
//!
//! The order, and why:
//! 1. The path is opened O_PATH with no symlink followed anywhere on the
//!    way (openat2 RESOLVE_NO_SYMLINKS, through privlib), without any
//!    privilege: an O_PATH open reads nothing and opens no device.
//! 2. What was opened is checked with fstat on that fd: a character
//!    device, a Unix98 pty slave by its major number, owned by the
//!    console daemon's account, mode exactly 0600. Checking before any
//!    real open matters: opening a device can act (a watchdog arms, a
//!    tape rewinds), and with file_dac_write raised this process could
//!    open any device of the host.
//! 3. Only then, with file_dac_write raised around that one call, the
//!    same inode is opened for reading and writing through
//!    `/proc/self/fd/N` (our own fd: nothing on a path can be swapped in
//!    between), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC.
//! 4. The new fd is checked to be the inode that was checked.
//!
//! file_dac_write (CAP_DAC_OVERRIDE) alone is what opening another
//! uid's 0600 file for read and write takes: for anything but a
//! directory it overrides the read bits too. file_dac_read
//! (CAP_DAC_READ_SEARCH) would add nothing to an O_RDWR open, so it is
//! not kept.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use privlib::os::fs::open_no_symlinks;
use privlib::os::tty::is_pty_slave_dev;
use privlib::{PrivError, PrivOp, priv_bracket};

/// Why the console was not opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// A symlink on the way (openat2 answered ELOOP), or in the last place.
    #[error("{}: reached through a symbolic link, which is not followed", .0.display())]
    Symlink(PathBuf),
    /// The path could not be opened.
    #[error("{}: {source}", .path.display())]
    Open {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not a character device.
    #[error("{}: {kind}, not a pty", .path.display())]
    NotCharDevice {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A character device other than a pty slave.
    #[error("{}: device {major}:{minor} is not a pty slave", .path.display())]
    NotPty {
        /// The path.
        path: PathBuf,
        /// Its major number.
        major: u32,
        /// Its minor number.
        minor: u32,
    },
    /// Owned by someone other than the console daemon's account.
    #[error("{}: owned by uid {owner}, not by {expect} (uid {uid})", .path.display())]
    Owner {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Who should own it.
        expect: String,
        /// Their uid.
        uid: u32,
    },
    /// Open to others than its owner.
    #[error("{}: mode {mode:04o}, not 0600", .path.display())]
    Mode {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The reopened fd is another file than the one checked.
    #[error("{}: changed while it was opened", .0.display())]
    Changed(PathBuf),
    /// Raising or lowering the bracketed privilege failed.
    #[error("privilege bracket: {0}")]
    Bracket(#[source] PrivError),
}

/// Who must own the console pty.
#[derive(Clone, Debug)]
pub(crate) struct Owner {
    /// The account's name, for messages (`xvm`, or the session user).
    pub(crate) name: String,
    /// Its uid.
    pub(crate) uid: u32,
}

/// Checks what `meta` describes is a pty slave `owner` owns, mode 0600.
pub(crate) fn check(path: &Path, meta: &std::fs::Metadata, owner: &Owner) -> Result<(), OpenError> {
    let p = || path.to_path_buf();
    // O_PATH | O_NOFOLLOW opens a symlink in the last place as itself.
    if meta.file_type().is_symlink() {
        return Err(OpenError::Symlink(p()));
    }
    if !meta.file_type().is_char_device() {
        return Err(OpenError::NotCharDevice {
            path: p(),
            kind: privlib::os::fs::kind(meta.file_type()),
        });
    }
    if !is_pty_slave_dev(meta.rdev()) {
        return Err(OpenError::NotPty {
            path: p(),
            major: libc::major(meta.rdev()),
            minor: libc::minor(meta.rdev()),
        });
    }
    if meta.uid() != owner.uid {
        return Err(OpenError::Owner {
            path: p(),
            owner: meta.uid(),
            expect: owner.name.clone(),
            uid: owner.uid,
        });
    }
    if meta.mode() & 0o7777 != 0o600 {
        return Err(OpenError::Mode {
            path: p(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Opens the console at `path` by the steps in the module comment.
pub(crate) fn open_console(path: &Path, owner: &Owner) -> Result<File, OpenError> {
    let fail = |source: io::Error| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            OpenError::Symlink(path.to_path_buf())
        } else {
            OpenError::Open {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    // 1. O_PATH, no symlink anywhere, no privilege.
    let opath = File::from(open_no_symlinks(None, path, false).map_err(fail)?);
    // 2. The checks, on what was opened.
    let meta = opath.metadata().map_err(fail)?;
    check(path, &meta, owner)?;
    // 3. The same inode for I/O, file_dac_write raised for this call only.
    let me = PathBuf::from(format!("/proc/self/fd/{}", opath.as_fd().as_raw_fd()));
    priv_bracket(PrivOp::On).map_err(OpenError::Bracket)?;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(&me);
    priv_bracket(PrivOp::Off).map_err(OpenError::Bracket)?;
    let tty = opened.map_err(fail)?;
    // 4. The inode checked is the inode opened.
    let now = tty.metadata().map_err(fail)?;
    if (now.dev(), now.ino(), now.rdev()) != (meta.dev(), meta.ino(), meta.rdev()) {
        return Err(OpenError::Changed(path.to_path_buf()));
    }
    Ok(tty)
}
