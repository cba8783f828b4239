//! Landlock: the raw system calls, ABI probing and access masks.
//!
//! Written here rather than through the `landlock` crate because the ruleset
//! is created in the parent and enforced by a forked child that may only make
//! raw system calls; the crate keeps its ruleset fd private.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::held::HeldFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `LANDLOCK_ACCESS_FS_*` bits.
#[allow(missing_docs)]
pub mod fs {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    pub const REFER: u64 = 1 << 13;
    pub const TRUNCATE: u64 = 1 << 14;
    pub const IOCTL_DEV: u64 = 1 << 15;

    /// Reading: files and directory listings.
    pub const READ: u64 = READ_FILE | READ_DIR;
    /// Every right that changes the file system.
    pub const WRITE: u64 = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM
        | REFER
        | TRUNCATE;
    /// Rights that apply to a file (the rest only make sense on directories).
    pub const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
}

/// `LANDLOCK_SCOPE_SIGNAL`.
pub const SCOPE_SIGNAL: u64 = 1 << 1;
/// `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`.
pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: u32 = 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel (0: none).
pub fn abi_version() -> u32 {
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call
    // reads no memory and only returns the ABI version or an error.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(r).unwrap_or(0)
}

/// The file-system rights an ABI version knows.
pub fn fs_rights(abi: u32) -> u64 {
    let mut all = (1u64 << 13) - 1;
    if abi >= 2 {
        all |= fs::REFER;
    }
    if abi >= 3 {
        all |= fs::TRUNCATE;
    }
    if abi >= 5 {
        all |= fs::IOCTL_DEV;
    }
    all
}

/// A created ruleset, ready to be enforced by `CredOp::LandlockRestrict`.
#[derive(Debug)]
pub struct Ruleset {
    fd: HeldFd,
    handled: u64,
}

impl Ruleset {
    /// Creates a ruleset handling `handled_fs` and the `scoped` scopes.
    pub fn create(abi: u32, handled_fs: u64, scoped: u64) -> io::Result<Ruleset> {
        let attr = RulesetAttr {
            handled_access_fs: handled_fs,
            handled_access_net: 0,
            scoped,
        };
        let size = match abi {
            0 => return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
            1..=3 => 8usize,
            4 | 5 => 16,
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: `attr` is a live, initialised RulesetAttr and `size` never
        // exceeds its size; the kernel only reads `size` bytes of it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &raw const attr,
                size,
                0u32,
            )
        };
        let fd = RawFd::try_from(r).map_err(|_| io::Error::last_os_error())?;
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this fd to us and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Ruleset {
            fd: HeldFd::owned(fd),
            handled: handled_fs,
        })
    }

    /// A ruleset the recording fake made: `fd` is only a number.
    pub fn recorded(fd: RawFd, handled_fs: u64) -> Ruleset {
        Ruleset {
            fd: HeldFd::recorded(fd),
            handled: handled_fs,
        }
    }

    /// The file-system rights it handles.
    pub fn handled(&self) -> u64 {
        self.handled
    }

    /// Allows `access` beneath `path` (a file gets only the file rights).
    pub fn allow(&mut self, path: &Path, access: u64) -> io::Result<()> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        let raw = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd returned by open and owned by nobody else.
        let pfd = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        // The type of what was opened, not of what the path names now.
        let meta = pfd.metadata()?;
        let mut access = access & self.handled;
        if !meta.is_dir() {
            access &= fs::FILE_RIGHTS;
        }
        if access == 0 {
            return Ok(());
        }
        let attr = PathBeneathAttr {
            allowed_access: access,
            parent_fd: pfd.as_raw_fd(),
        };
        // SAFETY: `attr` is a live packed path_beneath attribute whose fd is
        // open for the duration of the call; the ruleset fd is ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.fd.as_raw_fd(),
                RULE_PATH_BENEATH,
                &raw const attr,
                0u32,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Moves the ruleset's fd to the lowest free number at or above `floor`.
    pub fn move_above(&mut self, floor: RawFd) -> io::Result<()> {
        self.fd.move_above(floor)
    }

    /// The ruleset's fd, for `CredOp::LandlockRestrict`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
