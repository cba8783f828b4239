//! The real kernel behind [`Sys`]: capget, prctl queries, and the file
//! and fd questions a plan asks.

use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

use super::landlock::Ruleset;
use super::{
    CapState, CredOp, HeldFd, Ids, Sys, ambient_op, apply_raw, capset, fds, landlock, openat, prctl,
};
use crate::caps::{CapMask, MAX_CAP};

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

/// Reads the kernel's highest capability number, cached for the process.
pub fn kernel_last_cap() -> u8 {
    static LAST: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        // A number below 64 and a newline; anything longer is not the
        // kernel's answer (bounded: whatever is mounted there is read no
        // further than this).
        crate::bounded::read_to_string(Path::new("/proc/sys/kernel/cap_last_cap"), 16)
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
            .unwrap_or_else(|| {
                // No /proc: probe the bounding set, which answers EINVAL past the end.
                (0..=MAX_CAP)
                    .take_while(|c| prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(*c), 0) >= 0)
                    .last()
                    .unwrap_or(40)
            })
    })
}

impl Sys for Linux {
    fn thread_count(&self) -> io::Result<usize> {
        Ok(std::fs::read_dir("/proc/self/task")?.count())
    }

    fn ids(&self) -> Ids {
        let (mut r, mut e, mut s) = (0, 0, 0);
        let (mut rg, mut eg, mut sg) = (0, 0, 0);
        // SAFETY: the pointers are to live local u32s the kernel fills in.
        unsafe { libc::getresuid(&raw mut r, &raw mut e, &raw mut s) };
        // SAFETY: as above, for the gids.
        unsafe { libc::getresgid(&raw mut rg, &raw mut eg, &raw mut sg) };
        Ids {
            uid: [r, e, s],
            gid: [rg, eg, sg],
        }
    }

    fn groups(&self) -> io::Result<Vec<u32>> {
        // SAFETY: size 0 with a null list only asks for the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        let mut v = vec![0u32; len];
        // SAFETY: `v` has room for exactly `n` gids.
        let got = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
        v.truncate(usize::try_from(got).map_err(|_| io::Error::last_os_error())?);
        Ok(v)
    }

    fn caps(&self) -> io::Result<CapState> {
        capset::capget().map_err(io::Error::from_raw_os_error)
    }

    fn bounding(&self) -> CapMask {
        CapMask(
            (0..=kernel_last_cap())
                .filter(|c| prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(*c), 0) == 1)
                .fold(0, |m, c| m | (1u64 << c)),
        )
    }

    fn ambient(&self) -> CapMask {
        CapMask(
            (0..=kernel_last_cap())
                .filter(|c| {
                    // SAFETY: integer-only prctl, see `prctl`.
                    let r = unsafe {
                        libc::prctl(
                            libc::PR_CAP_AMBIENT,
                            ambient_op(libc::PR_CAP_AMBIENT_IS_SET),
                            libc::c_ulong::from(*c),
                            0 as libc::c_ulong,
                            0 as libc::c_ulong,
                        )
                    };
                    r == 1
                })
                .fold(0, |m, c| m | (1u64 << c)),
        )
    }

    fn securebits(&self) -> u32 {
        u32::try_from(prctl(libc::PR_GET_SECUREBITS, 0, 0)).unwrap_or(0)
    }

    fn no_new_privs(&self) -> bool {
        prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0) == 1
    }

    fn last_cap(&self) -> u8 {
        kernel_last_cap()
    }

    fn landlock_abi(&self) -> u32 {
        landlock::abi_version()
    }

    fn fd_is_open(&self, fd: RawFd) -> bool {
        fds::fd_is_open(fd)
    }

    fn path_var(&self) -> Option<OsString> {
        std::env::var_os("PATH")
    }

    fn is_executable(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
    }

    fn check_node(&self, path: &Path) -> io::Result<()> {
        openat::open_no_symlinks(None, path, false).map(drop)
    }

    fn open_devnull(&self) -> io::Result<HeldFd> {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        Ok(HeldFd::owned(null.into()))
    }

    fn landlock_create(&self, abi: u32, handled_fs: u64, scoped: u64) -> io::Result<Ruleset> {
        Ruleset::create(abi, handled_fs, scoped)
    }

    fn landlock_allow(&self, rs: &mut Ruleset, path: &Path, access: u64) -> io::Result<()> {
        rs.allow(path, access)
    }

    fn apply(&mut self, op: &CredOp) -> Result<(), i32> {
        apply_raw(op)
    }
}
