//! What the daemons may use of the system layer, as safe functions.
//!
//! `crate::sys` is private: it holds every `unsafe` block and the calls
//! that change credentials, and only privlib's own modules drive it. The
//! daemons need a few plain operations from it (opening files without
//! following symlinks, the account database, poll and signalfd, passing an
//! fd, a pipe, daemonizing); they get them here, and nothing else.

/// The account database (`getpwnam_r` and friends), read with the
/// process's own NSS configuration.
pub mod accounts {
    pub use crate::sys::accounts::{
        Group, User, group_by_gid, group_by_name, group_list, user_by_name, user_by_uid,
    };
}

/// Opening files in trees others can write to: never through a symlink,
/// and beneath a directory never outside it (openat2's RESOLVE_* flags).
pub mod fs {
    pub use crate::sys::openat::{chown_fd, open_beneath, open_no_symlinks};

    use std::os::unix::fs::FileTypeExt as _;

    /// Makes `dir` (and its parents), then sets its mode and, when
    /// `owner`, its owner on the directory itself: the last component is
    /// opened with no symlink followed (O_DIRECTORY, RESOLVE_NO_SYMLINKS
    /// beneath its parent) and changed through that fd, so a symlink put
    /// in its place (started as root, a chown would give its target away)
    /// is refused.
    pub fn make_dir(
        dir: &std::path::Path,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> std::io::Result<()> {
        use std::os::fd::AsFd;
        use std::os::unix::fs::PermissionsExt;
        use std::path::Path;
        std::fs::create_dir_all(dir)?;
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(std::io::Error::other("no parent directory"));
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let up = std::fs::File::open(parent)?;
        let fd = open_no_symlinks(Some(up.as_fd()), Path::new(name), true).map_err(|source| {
            let link = std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
            if link {
                std::io::Error::other("is a symlink: refused (a real directory is expected)")
            } else {
                source
            }
        })?;
        if let Some((u, g)) = owner {
            chown_fd(fd.as_fd(), u, g)?;
        }
        std::fs::File::from(fd).set_permissions(std::fs::Permissions::from_mode(mode))
    }

    /// What a file is, for a message ("a directory", "a FIFO", ...).
    pub fn kind(ft: std::fs::FileType) -> &'static str {
        if ft.is_dir() {
            "a directory"
        } else if ft.is_file() {
            "a regular file"
        } else if ft.is_symlink() {
            "a symbolic link"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "of an unknown type"
        }
    }
}

/// The host's name (`uname(2)`).
pub mod host {
    pub use crate::sys::host::hostname;
}

/// Waiting on fds, and signals as an fd.
pub mod poll {
    pub use crate::sys::poll::{
        POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, PollFd, poll, pollfd, read_signal, signal_fd,
    };

    /// Whether `fd` is readable within `timeout_ms` (0: now; an error
    /// counts as not readable).
    pub fn readable(fd: std::os::fd::BorrowedFd<'_>, timeout_ms: i32) -> bool {
        use std::os::fd::AsRawFd;
        let mut fds = [pollfd(fd.as_raw_fd(), POLLIN)];
        poll(&mut fds, timeout_ms).is_ok_and(|n| n > 0)
    }
}

/// File descriptors: a close-on-exec pipe (and its buffer's size), and
/// one fd sent over a unix stream (SCM_RIGHTS) and received (one byte
/// with it, close-on-exec).
pub mod fd {
    pub use crate::sys::fds::{pipe, recv_fd, set_pipe_size};
    pub use crate::sys::sock::send_with_fd;
}

/// Terminals: a guest console's pty pair, raw mode and restoring a
/// terminal's modes, telling a pty slave by its device number, and a
/// record lock that names its holder.
pub mod tty {
    pub use crate::sys::tty::{
        Modes, Pty, get_modes, is_pty_slave_dev, lock_or_holder, make_raw, open_pty, set_modes,
    };
}

/// The calling thread's securebits (`PR_GET_SECUREBITS`), and the bits
/// privlib's drops lock: uid 0 never special again, set*id never touching
/// capabilities.
pub mod securebits {
    pub use crate::sys::secbit::LOCKED_NOROOT;

    /// The calling thread's securebits.
    pub fn get() -> u32 {
        use crate::sys::Sys;
        crate::sys::Linux.securebits()
    }
}

/// Detaches from the terminal and the session (fork, setsid, fork).
pub use crate::sys::child::daemonize;

/// Landlock's file access bits, for [`crate::confine_fs`].
pub mod landlock {
    pub use crate::sys::landlock::fs::*;
}

/// Network interfaces for device models: a tap made under an exact name
/// on `/dev/net/tun`, never persistent (it goes when the last fd on it
/// closes: the device model's end, or its maker's if it never got it) and
/// its maker's, joined to a bridge and brought up (these three need
/// `sys_net_config` in E); a tap a device model left persistent, removed
/// ([`net::release_tap`]); the interfaces, an interface's index and
/// whether it is a bridge (no privilege), asked of the caller's network
/// namespace, never of sysfs.
pub mod net {
    pub use crate::sys::tap::{
        Tap, TapError, TapStep, create_tap, driver_of, has_vnet_hdr, index_of, interface_names,
        is_bridge, join_bridge, release_tap, set_up, valid_name,
    };
}
