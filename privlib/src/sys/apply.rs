//! Applying [`CredOp`]s with raw system calls only, safe in a forked child.

use super::{CredOp, PrivateDev, ambient_op, capset, check, errno, fds, prctl, seccomp};

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> Result<(), i32> {
    // SAFETY: a NUL-terminated path; flags are integers.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `data` is a live buffer of the length passed; `fd` is ours.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let e = errno();
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    match usize::try_from(n) {
        Ok(done) if done == data.len() => Ok(()),
        // A short write sets no errno.
        Ok(_) => Err(libc::EIO),
        Err(_) => Err(e),
    }
}

/// Nodes a private /dev may hold.
pub const MAX_DEV_NODES: usize = 16;

/// `/proc/self/fd/N` with its NUL, formatted without allocating.
fn fd_path(fd: i32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let prefix = b"/proc/self/fd/";
    out[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 12];
    let mut n = u32::try_from(fd).unwrap_or(0);
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10: the cast keeps it.
        digits[i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[i..];
    out[prefix.len()..prefix.len() + d.len()].copy_from_slice(d);
    out
}

fn private_dev(p: &PrivateDev) -> Result<(), i32> {
    // Writing our own uid_map needs us dumpable (a setuid made us not).
    // SAFETY: integer-only prctl.
    check(libc::c_long::from(unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0)
    }))?;
    // SAFETY: integer-only call.
    check(libc::c_long::from(unsafe {
        libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS)
    }))?;
    write_file(c"/proc/self/setgroups", b"deny")?;
    write_file(c"/proc/self/uid_map", p.uid_map.as_bytes())?;
    write_file(c"/proc/self/gid_map", p.gid_map.as_bytes())?;
    // SAFETY: integer-only prctl.
    check(libc::c_long::from(unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
    }))?;
    // Nothing we mount may reach the host's namespace.
    // SAFETY: NUL-terminated strings or nulls, as mount(2) takes them.
    check(libc::c_long::from(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    }))?;
    // Hold the nodes (in this namespace: a bind mount's source must be in
    // the caller's own) before the tmpfs covers them.
    let mut held = [-1; MAX_DEV_NODES];
    if p.nodes.len() > MAX_DEV_NODES {
        return Err(libc::E2BIG);
    }
    for (slot, node) in held.iter_mut().zip(&p.nodes) {
        // SAFETY: a NUL-terminated path; O_PATH|O_NOFOLLOW opens the node itself.
        let fd = unsafe {
            libc::open(
                node.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(errno());
        }
        *slot = fd;
    }
    // SAFETY: as above; the data string is NUL-terminated.
    check(libc::c_long::from(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV,
            c"mode=0755,size=64k".as_ptr().cast(),
        )
    }))?;
    for (fd, node) in held.iter().zip(&p.nodes) {
        // SAFETY: a NUL-terminated path; creates the mount point.
        let m = unsafe {
            libc::open(
                node.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                0o600,
            )
        };
        if m < 0 {
            return Err(errno());
        }
        // SAFETY: closing our own fd.
        unsafe { libc::close(m) };
        let src = fd_path(*fd);
        // SAFETY: NUL-terminated paths; a bind mount of the host's node,
        // which keeps its own mount's device semantics.
        check(libc::c_long::from(unsafe {
            libc::mount(
                src.as_ptr().cast(),
                node.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        }))?;
        // SAFETY: closing our own fd.
        unsafe { libc::close(*fd) };
    }
    // Read-only from now on: the program may not add nodes of its own
    // (the tmpfs belongs to its uid). The bind mounts keep their flags.
    // SAFETY: NUL-terminated strings or nulls, as mount(2) takes them.
    check(libc::c_long::from(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/dev".as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NOEXEC
                | libc::MS_NODEV,
            std::ptr::null(),
        )
    }))?;
    // The namespace gave us a full bounding set: back to what was asked.
    for cap in 0..=crate::caps::MAX_CAP {
        if !p.bounding.has(cap) {
            // SAFETY: integer-only prctl; EINVAL past the kernel's last cap.
            let r =
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
            if r < 0 && errno() != libc::EINVAL {
                return Err(errno());
            }
        }
    }
    Ok(())
}

/// Applies one op with raw system calls only: no allocation, no locks, so
/// it is safe in a child forked from a multi-threaded parent. Credential
/// calls are the raw per-thread ones, not glibc's process-wide wrappers.
pub fn apply_raw(op: &CredOp) -> Result<(), i32> {
    match op {
        CredOp::ResetSignals => {
            // SAFETY: sigset_t is plain data; all-zero is a valid value.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a live sigset_t.
            unsafe { libc::sigemptyset(&raw mut set) };
            // SAFETY: a live, empty set; the old mask is not asked for.
            if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &raw const set, std::ptr::null_mut()) }
                != 0
            {
                return Err(errno());
            }
            // SAFETY: integer arguments only.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            Ok(())
        }
        // SAFETY: unshare takes flags only.
        CredOp::Unshare(flags) => check(libc::c_long::from(unsafe { libc::unshare(*flags) })),
        CredOp::Rlimit {
            resource,
            soft,
            hard,
        } => {
            let lim = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            // SAFETY: `lim` is a live rlimit the kernel only reads.
            let r = unsafe { libc::setrlimit(*resource, &raw const lim) };
            check(libc::c_long::from(r))
        }
        CredOp::RemapFds(pairs) => fds::remap_fds(pairs),
        CredOp::Chdir(path) => {
            // SAFETY: `path` is a NUL-terminated string that outlives the call.
            check(libc::c_long::from(unsafe { libc::chdir(path.as_ptr()) }))
        }
        CredOp::Securebits(bits) => check(libc::c_long::from(prctl(
            libc::PR_SET_SECUREBITS,
            libc::c_ulong::from(*bits),
            0,
        ))),
        CredOp::KeepCaps(on) => check(libc::c_long::from(prctl(
            libc::PR_SET_KEEPCAPS,
            libc::c_ulong::from(*on),
            0,
        ))),
        CredOp::DropBounding(mask) => {
            for cap in mask.iter() {
                let r = prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0);
                // EINVAL: a capability this kernel does not know is not in
                // its bounding set either.
                if r < 0 && errno() != libc::EINVAL {
                    return Err(errno());
                }
            }
            Ok(())
        }
        CredOp::SetGroups(list) => {
            // SAFETY: `list` is a live slice of gid_t-sized values and the
            // length passed is its length.
            let r = unsafe { libc::syscall(libc::SYS_setgroups, list.len(), list.as_ptr()) };
            check(r)
        }
        CredOp::SetGid(g) => {
            // SAFETY: integer arguments only.
            check(unsafe { libc::syscall(libc::SYS_setresgid, *g, *g, *g) })
        }
        CredOp::SetUid(u) => {
            // SAFETY: integer arguments only.
            check(unsafe { libc::syscall(libc::SYS_setresuid, *u, *u, *u) })
        }
        CredOp::SetCaps(s) => capset::capset(s),
        CredOp::ClearAmbient => {
            // SAFETY: integer-only prctl.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    ambient_op(libc::PR_CAP_AMBIENT_CLEAR_ALL),
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            check(libc::c_long::from(r))
        }
        CredOp::RaiseAmbient(mask) => {
            for cap in mask.iter() {
                // SAFETY: integer-only prctl.
                let r = unsafe {
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        ambient_op(libc::PR_CAP_AMBIENT_RAISE),
                        libc::c_ulong::from(cap),
                        0 as libc::c_ulong,
                        0 as libc::c_ulong,
                    )
                };
                check(libc::c_long::from(r))?;
            }
            Ok(())
        }
        CredOp::NoNewPrivs => check(libc::c_long::from(prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0))),
        CredOp::Dumpable(on) => check(libc::c_long::from(prctl(
            libc::PR_SET_DUMPABLE,
            libc::c_ulong::from(*on),
            0,
        ))),
        CredOp::Umask(mask) => {
            // SAFETY: umask takes a plain integer and cannot fail.
            unsafe { libc::umask(*mask & 0o777) };
            Ok(())
        }
        CredOp::PrivateDev(p) => private_dev(p),
        CredOp::LandlockRestrict(fd) => {
            // SAFETY: integer arguments only; the fd is a ruleset owned by the caller.
            check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, *fd, 0u32) })
        }
        CredOp::Seccomp {
            prog,
            flags,
            listener_to,
        } => seccomp::install(prog, *flags, *listener_to),
    }
}
