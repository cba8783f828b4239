//! capget and capset with the version-3 header: two 32-bit words per set.

use super::{CapState, check};
use crate::caps::CapMask;

/// `_LINUX_CAPABILITY_VERSION_3`.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn header() -> CapHeader {
    CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    }
}

fn lo(m: CapMask) -> u32 {
    u32::try_from(m.0 & 0xffff_ffff).unwrap_or(0)
}

fn hi(m: CapMask) -> u32 {
    u32::try_from(m.0 >> 32).unwrap_or(0)
}

fn join(lo: u32, hi: u32) -> CapMask {
    CapMask(u64::from(lo) | (u64::from(hi) << 32))
}

/// The calling thread's three sets; the error is an errno.
pub(super) fn capget() -> Result<CapState, i32> {
    let mut hdr = header();
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 capget writes two CapData structs, which `data` holds.
    check(unsafe { libc::syscall(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()) })?;
    Ok(CapState {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// Sets the calling thread's three sets with raw calls only (safe in a
/// forked child); the error is an errno.
pub(super) fn capset(s: &CapState) -> Result<(), i32> {
    let mut hdr = header();
    let data = [
        CapData {
            effective: lo(s.effective),
            permitted: lo(s.permitted),
            inheritable: lo(s.inheritable),
        },
        CapData {
            effective: hi(s.effective),
            permitted: hi(s.permitted),
            inheritable: hi(s.inheritable),
        },
    ];
    // SAFETY: version 3 capset reads two CapData structs from `data`.
    check(unsafe { libc::syscall(libc::SYS_capset, &raw mut hdr, data.as_ptr()) })
}
