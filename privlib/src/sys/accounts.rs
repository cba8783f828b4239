//! Users and groups through the C library (so NSS sources count too).

use std::ffi::{CStr, CString};
use std::io;

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
}

/// A group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Name.
    pub name: String,
    /// Gid.
    pub gid: u32,
}

const BUF: usize = 16 * 1024;
/// Entries longer than this are refused rather than retried forever.
const MAX_BUF: usize = 1 << 20;

fn cstr(s: &str) -> Result<CString, io::Error> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name holds a NUL byte"))
}

/// One reentrant passwd/group lookup, growing the buffer on ERANGE (up to
/// [`MAX_BUF`]); `take` reads what it needs out of the filled record while
/// the buffer it points into is alive.
fn lookup<R, T>(
    by: impl Fn(*mut R, &mut [u8], *mut *mut R) -> libc::c_int,
    take: impl FnOnce(&R) -> T,
) -> io::Result<Option<T>> {
    let mut size = BUF;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: R is libc::passwd or libc::group (the only callers),
        // plain C data for which all-zero is valid before the call fills it.
        let mut rec: R = unsafe { std::mem::zeroed() };
        let mut out: *mut R = std::ptr::null_mut();
        let r = by(&raw mut rec, &mut buf, &raw mut out);
        if r == libc::ERANGE && size < MAX_BUF {
            size *= 2;
            continue;
        }
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        if out.is_null() {
            return Ok(None);
        }
        return Ok(Some(take(&rec)));
    }
}

fn user_lookup(
    by: impl Fn(*mut libc::passwd, &mut [u8], *mut *mut libc::passwd) -> libc::c_int,
) -> io::Result<Option<User>> {
    lookup(by, |pw: &libc::passwd| User {
        // SAFETY: on success pw_name points at a NUL-terminated string in
        // the lookup's buffer, alive while `take` runs.
        name: unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned(),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}

/// Looks a user up by name.
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let c = cstr(name)?;
    user_lookup(|pw, buf, out| {
        // SAFETY: every pointer is live for the call and `buf.len()` is the buffer's size.
        unsafe { libc::getpwnam_r(c.as_ptr(), pw, buf.as_mut_ptr().cast(), buf.len(), out) }
    })
}

/// Looks a user up by uid.
pub fn user_by_uid(uid: u32) -> io::Result<Option<User>> {
    user_lookup(|pw, buf, out| {
        // SAFETY: every pointer is live for the call and `buf.len()` is the buffer's size.
        unsafe { libc::getpwuid_r(uid, pw, buf.as_mut_ptr().cast(), buf.len(), out) }
    })
}

fn group_lookup(
    by: impl Fn(*mut libc::group, &mut [u8], *mut *mut libc::group) -> libc::c_int,
) -> io::Result<Option<Group>> {
    lookup(by, |gr: &libc::group| Group {
        // SAFETY: on success gr_name points at a NUL-terminated string in
        // the lookup's buffer, alive while `take` runs.
        name: unsafe { CStr::from_ptr(gr.gr_name) }
            .to_string_lossy()
            .into_owned(),
        gid: gr.gr_gid,
    })
}

/// Looks a group up by name.
pub fn group_by_name(name: &str) -> io::Result<Option<Group>> {
    let c = cstr(name)?;
    group_lookup(|gr, buf, out| {
        // SAFETY: every pointer is live for the call and `buf.len()` is the buffer's size.
        unsafe { libc::getgrnam_r(c.as_ptr(), gr, buf.as_mut_ptr().cast(), buf.len(), out) }
    })
}

/// Looks a group up by gid.
pub fn group_by_gid(gid: u32) -> io::Result<Option<Group>> {
    group_lookup(|gr, buf, out| {
        // SAFETY: every pointer is live for the call and `buf.len()` is the buffer's size.
        unsafe { libc::getgrgid_r(gid, gr, buf.as_mut_ptr().cast(), buf.len(), out) }
    })
}

/// Every group `user` belongs to (primary first), as login would set them.
pub fn group_list(user: &User) -> io::Result<Vec<u32>> {
    let c = cstr(&user.name)?;
    let mut n: libc::c_int = 64;
    loop {
        let mut v = vec![0 as libc::gid_t; usize::try_from(n).unwrap_or(64)];
        let mut got = n;
        // SAFETY: `v` has room for `got` gids; the call writes at most that
        // many and updates `got`.
        let r = unsafe { libc::getgrouplist(c.as_ptr(), user.gid, v.as_mut_ptr(), &raw mut got) };
        if r >= 0 {
            v.truncate(usize::try_from(got).unwrap_or(0));
            return Ok(v);
        }
        if got <= n || got > 65_536 {
            return Err(io::Error::other("group list too long"));
        }
        n = got;
    }
}
