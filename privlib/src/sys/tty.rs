//! Terminals: a pseudo-terminal pair for a guest console, the terminal
//! modes a console client saves and restores, and a POSIX record lock
//! that names its holder (one console client per domain).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::fds::own;

/// The Linux major numbers of Unix98 pty slaves (`/dev/pts/N`): 136 to
/// 143 (`UNIX98_PTY_SLAVE_MAJOR` and the seven after it).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;

/// A new pseudo-terminal.
#[derive(Debug)]
pub struct Pty {
    /// The master side (the console daemon's).
    pub master: OwnedFd,
    /// The slave, opened once by its creator so that the master never
    /// reads EIO while no client has it open.
    pub slave: OwnedFd,
    /// The slave's path (`/dev/pts/N`).
    pub path: PathBuf,
}

/// Opens a new pty pair, both sides close-on-exec and not the caller's
/// controlling terminal; the slave is owned by the caller (`uid`, `gid`),
/// mode 0600, and in raw mode.
pub fn open_pty(uid: u32, gid: u32) -> io::Result<Pty> {
    // SAFETY: posix_openpt takes flags and returns a new fd or -1.
    let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if m < 0 {
        return Err(io::Error::last_os_error());
    }
    let master = own(m);
    // SAFETY: unlockpt takes the master fd we own.
    if unsafe { libc::unlockpt(master.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // TIOCGPTPEER opens the slave through the master itself: no path is
    // looked up, so nothing can be swapped in between.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd or -1.
    let s = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    let slave = own(s);
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number into `n`.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fchown and fchmod take the slave fd we own.
    if unsafe { libc::fchown(slave.as_raw_fd(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fchmod(slave.as_raw_fd(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    make_raw(slave.as_fd_ref())?;
    Ok(Pty {
        master,
        slave,
        path: PathBuf::from(format!("/dev/pts/{n}")),
    })
}

trait AsFdRef {
    fn as_fd_ref(&self) -> BorrowedFd<'_>;
}

impl AsFdRef for OwnedFd {
    fn as_fd_ref(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.as_fd()
    }
}

/// A terminal's modes, as read by [`get_modes`].
#[derive(Clone, Copy)]
pub struct Modes(libc::termios);

impl std::fmt::Debug for Modes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Modes")
            .field("iflag", &self.0.c_iflag)
            .field("oflag", &self.0.c_oflag)
            .field("cflag", &self.0.c_cflag)
            .field("lflag", &self.0.c_lflag)
            .finish()
    }
}

impl Modes {
    /// Whether these modes are raw: no echo, no line editing, no signals
    /// from keys, no output processing.
    pub fn is_raw(&self) -> bool {
        let t = &self.0;
        t.c_lflag & (libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN) == 0
            && t.c_oflag & libc::OPOST == 0
    }
}

/// The modes of the terminal `fd`.
pub fn get_modes(fd: BorrowedFd<'_>) -> io::Result<Modes> {
    // SAFETY: termios is plain data; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid termios to write into.
    if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Modes(t))
}

/// Sets the modes of the terminal `fd` (after output drains).
pub fn set_modes(fd: BorrowedFd<'_>, m: &Modes) -> io::Result<()> {
    // SAFETY: `m.0` is a termios read by tcgetattr.
    if unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSADRAIN, &m.0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts the terminal `fd` in raw mode (cfmakeraw), returning the modes it
/// had.
pub fn make_raw(fd: BorrowedFd<'_>) -> io::Result<Modes> {
    let old = get_modes(fd)?;
    let mut t = old.0;
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    set_modes(fd, &Modes(t))?;
    Ok(old)
}

/// Whether a file's device number (`st_rdev`) is a Unix98 pty slave's.
pub fn is_pty_slave_dev(rdev: u64) -> bool {
    PTY_SLAVE_MAJORS.contains(&libc::major(rdev))
}

// The lock constants are small (0 to 2) and fit flock's short fields.
const WRLCK: libc::c_short = short(libc::F_WRLCK);
const UNLCK: libc::c_short = short(libc::F_UNLCK);
const SET: libc::c_short = short(libc::SEEK_SET);

const fn short(v: libc::c_int) -> libc::c_short {
    #[allow(clippy::cast_possible_truncation)]
    let s = v as libc::c_short;
    assert!(s as libc::c_int == v);
    s
}

/// Takes a POSIX write lock on the whole of `fd` (which must be open for
/// writing), held until the process closes any fd of the file or exits.
/// `Ok(None)`: taken; `Ok(Some(pid))`: process `pid` holds it.
pub fn lock_or_holder(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    // SAFETY: flock is plain data.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = WRLCK;
    l.l_whence = SET;
    // SAFETY: F_SETLK reads the flock we pass.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLK, &l) } == 0 {
        return Ok(None);
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) {
        return Err(e);
    }
    // SAFETY: F_GETLK writes the conflicting lock into `l`.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLK, &mut l) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The holder may have let go in between: then it is free, but taking
    // it now would race again; report no pid the caller can name.
    Ok(Some(if l.l_type == UNLCK { 0 } else { l.l_pid }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn me() -> (u32, u32) {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        // SAFETY: getgid cannot fail.
        (uid, unsafe { libc::getgid() })
    }

    #[test]
    fn a_pty_is_raw_0600_and_a_slave() {
        use std::os::unix::fs::MetadataExt;
        let (uid, gid) = me();
        let p = open_pty(uid, gid).expect("pty");
        let m = std::fs::metadata(&p.path).expect("stat");
        assert_eq!(m.mode() & 0o7777, 0o600);
        assert_eq!((m.uid(), m.gid()), (uid, gid));
        assert!(is_pty_slave_dev(m.rdev()));
        assert!(get_modes(p.slave.as_fd()).expect("modes").is_raw());
        assert!(!is_pty_slave_dev(
            std::fs::metadata("/dev/null").expect("null").rdev()
        ));
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let (uid, gid) = me();
        let p = open_pty(uid, gid).expect("pty");
        assert_eq!(lock_or_holder(p.slave.as_fd()).expect("lock"), None);
        let path = std::ffi::CString::new(p.path.as_os_str().as_encoded_bytes()).expect("path");
        let me = i32::try_from(std::process::id()).expect("pid");
        // Another process: a second fd of ours would share our own lock.
        // SAFETY: the child makes only async-signal-safe calls, then _exit.
        let child = unsafe { libc::fork() };
        if child == 0 {
            // SAFETY: `path` is a valid C string.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
            let code = if fd < 0 {
                2
            } else {
                // SAFETY: `fd` was just opened by this child.
                let b = unsafe { BorrowedFd::borrow_raw(fd) };
                match lock_or_holder(b) {
                    Ok(Some(pid)) if pid == me => 0,
                    _ => 1,
                }
            };
            // SAFETY: ends the forked child at once.
            unsafe { libc::_exit(code) };
        }
        assert!(child > 0, "fork");
        let mut status = 0;
        // SAFETY: waits for the child we forked.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status));
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "the child did not see us hold the lock"
        );
    }
}
