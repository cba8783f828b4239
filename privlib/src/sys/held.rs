//! An fd a plan holds until the fork: one the kernel opened, or a number
//! the recording fake made up, which has nothing to close.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// An fd held open for a child (a Landlock ruleset, /dev/null).
#[derive(Debug)]
pub struct HeldFd {
    raw: RawFd,
    owned: Option<OwnedFd>,
}

impl HeldFd {
    /// An fd the kernel opened; closed when this is dropped.
    pub fn owned(fd: OwnedFd) -> HeldFd {
        HeldFd {
            raw: fd.as_raw_fd(),
            owned: Some(fd),
        }
    }

    /// A number the fake gave out: no fd behind it, nothing to close.
    pub fn recorded(raw: RawFd) -> HeldFd {
        HeldFd { raw, owned: None }
    }

    /// Moves a real fd to the lowest free number at or above `floor` (a
    /// recorded one stays as it is).
    pub fn move_above(&mut self, floor: RawFd) -> io::Result<()> {
        if let Some(fd) = &self.owned {
            let moved = super::fds::dup_above(fd.as_raw_fd(), floor)?;
            self.raw = moved.as_raw_fd();
            self.owned = Some(moved);
        }
        Ok(())
    }
}

impl AsRawFd for HeldFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw
    }
}
