//! TAP network interfaces for device models: one made on `/dev/net/tun`
//! under an exact name, never persistent (the kernel removes it when the
//! last fd on it closes), joined to a bridge and brought up; and what a
//! caller checks first (an interface's index, whether it is a bridge).
//!
//! Every query goes through an ioctl on a socket of the caller's network
//! namespace, never through `/sys/class/net`: sysfs shows the interfaces
//! of the namespace that mounted it, which is not the caller's in a
//! daemon started inside a namespace of its own.
//!
//! Making the tap, joining the bridge and bringing it up need
//! CAP_NET_ADMIN (`sys_net_config`) in the caller's effective set; the
//! queries need nothing.
//!
//! The kernel checks no capability for `TUNSETPERSIST`, `TUNSETOWNER` or
//! `TUNSETGROUP` on an fd already attached: whoever holds a tap's fd (a
//! device model) can keep the interface past its end and hand it to
//! anyone. So a tap is owned by its maker's euid from the start (only
//! that uid, or CAP_NET_ADMIN, attaches to it), a device model gets a
//! seccomp rule refusing those requests
//! ([`crate::basic::seccomp::tap_reconfigure`]), and [`release_tap`]
//! removes a tap left persistent.

use std::ffi::c_char;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::fds::own;

/// `SIOCBRADDIF` (linux/sockios.h): adds the interface whose index is in
/// `ifr_ifindex` to the bridge named in `ifr_name`.
const SIOCBRADDIF: libc::c_ulong = 0x89a2;

/// `ETHTOOL_GDRVINFO` (linux/ethtool.h): the driver's name and version.
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// `struct ethtool_drvinfo` (linux/ethtool.h), as the kernel fills it.
#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// What was being done when a tap step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapStep {
    /// Opening `/dev/net/tun`.
    OpenTun,
    /// `TUNSETIFF`: making the tap under its name.
    Create,
    /// `TUNSETOWNER`: making it its maker's.
    SetOwner,
    /// `TUNSETIFF`: attaching to a tap that exists.
    Attach,
    /// `TUNSETPERSIST`: clearing persistence.
    ClearPersist,
    /// `if_nameindex`: listing the interfaces.
    List,
    /// A socket for the interface ioctls.
    Socket,
    /// `SIOCGIFINDEX`: the interface's index.
    Index,
    /// `SIOCETHTOOL` `GDRVINFO`: which driver the interface has.
    Driver,
    /// `SIOCBRADDIF`: joining the bridge.
    JoinBridge,
    /// `SIOCGIFFLAGS`: reading the flags.
    GetFlags,
    /// `SIOCSIFFLAGS`: bringing it up.
    SetUp,
}

impl std::fmt::Display for TapStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TapStep::OpenTun => "opening /dev/net/tun",
            TapStep::Create => "making the tap (TUNSETIFF)",
            TapStep::SetOwner => "making it its maker's (TUNSETOWNER)",
            TapStep::Attach => "attaching to it (TUNSETIFF)",
            TapStep::ClearPersist => "clearing persistence (TUNSETPERSIST 0)",
            TapStep::List => "listing the interfaces (if_nameindex)",
            TapStep::Socket => "a socket for interface ioctls",
            TapStep::Index => "its index (SIOCGIFINDEX)",
            TapStep::Driver => "its driver (ETHTOOL_GDRVINFO)",
            TapStep::JoinBridge => "joining the bridge (SIOCBRADDIF)",
            TapStep::GetFlags => "reading its flags (SIOCGIFFLAGS)",
            TapStep::SetUp => "bringing it up (SIOCSIFFLAGS)",
        })
    }
}

/// Why a tap step failed: the interface, the step, the kernel's error.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name is not one the kernel takes (empty, longer than 15
    /// bytes, `.`/`..`, or holding `/`, `:`, a space or a NUL).
    #[error("interface name {name:?}: not a valid interface name")]
    Name {
        /// The name asked for.
        name: String,
    },
    /// A step failed.
    #[error("interface {iface}: {step}: {source}")]
    Step {
        /// The interface (for [`TapStep::JoinBridge`], the tap).
        iface: String,
        /// The step.
        step: TapStep,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// `SIOCBRADDIF` failed.
    #[error("interface {iface}: joining bridge {bridge} (SIOCBRADDIF): {source}")]
    Join {
        /// The tap.
        iface: String,
        /// The bridge.
        bridge: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
}

impl TapError {
    /// The kernel's errno, when a step failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            TapError::Name { .. } => None,
            TapError::Step { source, .. } | TapError::Join { source, .. } => source.raw_os_error(),
        }
    }
}

/// Whether the kernel takes `name` as an interface name (net/core/dev.c
/// `dev_valid_name`): 1 to 15 bytes, not `.` or `..`, no `/`, `:`,
/// whitespace or NUL.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// An `ifreq` naming `name` (checked by [`valid_name`]), the rest zero.
fn ifreq(name: &str) -> Result<libc::ifreq, TapError> {
    if !valid_name(name) {
        return Err(TapError::Name { name: name.into() });
    }
    // SAFETY: ifreq is plain data (a name and a union of integers,
    // addresses and a pointer); all-zero is an empty request with a null
    // data pointer, which no ioctl used here reads.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = c_char::from_ne_bytes([s]);
    }
    Ok(r)
}

fn step(iface: &str, step: TapStep) -> impl FnOnce(io::Error) -> TapError + '_ {
    move |source| TapError::Step {
        iface: iface.into(),
        step,
        source,
    }
}

/// A socket for the interface ioctls, in the caller's network namespace.
/// A unix datagram socket: the interface ioctls a protocol does not take
/// itself fall through to the device layer, and no inet socket is made.
fn ioctl_socket(iface: &str) -> Result<OwnedFd, TapError> {
    // SAFETY: socket takes integers only and returns a new fd or -1.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(step(iface, TapStep::Socket)(io::Error::last_os_error()));
    }
    Ok(own(raw))
}

/// `ioctl(sock, req, r)` on an ifreq.
fn ifreq_ioctl(sock: &OwnedFd, req: libc::c_ulong, r: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request passed here (SIOCGIFINDEX, SIOCGIFFLAGS,
    // SIOCSIFFLAGS, SIOCBRADDIF) reads and writes exactly one struct
    // ifreq, and `r` is a live, exclusively borrowed one; no pointer in it
    // is followed by these requests.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), req, std::ptr::from_mut(r)) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The index of the interface `name` in the caller's network namespace
/// (ENODEV: there is none).
pub fn index_of(name: &str) -> Result<u32, TapError> {
    let mut r = ifreq(name)?;
    let sock = ioctl_socket(name)?;
    ifreq_ioctl(&sock, libc::SIOCGIFINDEX, &mut r).map_err(step(name, TapStep::Index))?;
    // SAFETY: SIOCGIFINDEX succeeded, so the kernel wrote ifru_ifindex.
    let index = unsafe { r.ifr_ifru.ifru_ifindex };
    u32::try_from(index).map_err(|_| {
        step(name, TapStep::Index)(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("negative index {index}"),
        ))
    })
}

/// The name of the driver of interface `name` (`bridge`, `tun`,
/// `veth`, ...), as ethtool reports it.
pub fn driver_of(name: &str) -> Result<String, TapError> {
    let mut r = ifreq(name)?;
    let sock = ioctl_socket(name)?;
    // SAFETY: EthtoolDrvinfo is plain integers and byte arrays; zero is
    // a valid value of each.
    let mut info: EthtoolDrvinfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    r.ifr_ifru.ifru_data = std::ptr::from_mut(&mut info).cast();
    // SAFETY: SIOCETHTOOL with GDRVINFO writes one struct ethtool_drvinfo
    // through ifru_data, which points at `info`, live and exclusively ours
    // for the call; `r` is a live ifreq naming the interface.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCETHTOOL,
            std::ptr::from_mut(&mut r),
        )
    };
    if rc < 0 {
        return Err(step(name, TapStep::Driver)(io::Error::last_os_error()));
    }
    let end = info
        .driver
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(info.driver.len());
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

/// Whether the interface `name` exists and is a bridge. `Ok(false)`: it
/// exists and is something else; ENODEV in the error: there is none.
pub fn is_bridge(name: &str) -> Result<bool, TapError> {
    index_of(name)?;
    match driver_of(name) {
        Ok(d) => Ok(d == "bridge"),
        // A driver that answers no ethtool query (lo) is no bridge: the
        // bridge driver always answers.
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A tap made by [`create_tap`]: the fd that keeps it (a device model
/// reads and writes frames on it), its name and index.
#[derive(Debug)]
pub struct Tap {
    /// The tap's fd (close-on-exec). When the last fd on it closes, the
    /// kernel removes the interface.
    pub fd: OwnedFd,
    /// Its name.
    pub name: String,
    /// Its index.
    pub index: u32,
}

/// `/dev/net/tun`, opened close-on-exec.
fn open_tun(name: &str) -> Result<OwnedFd, TapError> {
    // SAFETY: a NUL-terminated path, flags only; returns a new fd or -1.
    let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(step(name, TapStep::OpenTun)(io::Error::last_os_error()));
    }
    Ok(own(raw))
}

/// `TUNSETIFF` on `fd` with `flags` and the tap `r` names.
fn set_iff(fd: &OwnedFd, mut r: libc::ifreq, flags: i32) -> io::Result<()> {
    // The flags word is a short whose top bit is IFF_TUN_EXCL: the bits,
    // not the value, are what the kernel reads.
    r.ifr_ifru.ifru_flags = u16::try_from(flags).unwrap_or(0).cast_signed();
    // SAFETY: TUNSETIFF reads and writes one struct ifreq; `r` is a live
    // ifreq holding the name and flags, exclusively borrowed for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, std::ptr::from_mut(&mut r)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ioctl(fd, req, value)` for the tun requests that take an integer
/// by value (`TUNSETPERSIST`, `TUNSETOWNER`).
fn tun_int_ioctl(fd: BorrowedFd<'_>, req: libc::Ioctl, value: libc::c_ulong) -> io::Result<()> {
    // SAFETY: TUNSETPERSIST and TUNSETOWNER read their argument as an
    // integer, never as a pointer; `fd` is a live fd.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, value) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets or clears the persistence of the tap attached on `fd`
/// (`TUNSETPERSIST`): a persistent tap outlives its last fd.
pub fn set_persist(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    tun_int_ioctl(fd, libc::TUNSETPERSIST, libc::c_ulong::from(on))
}

/// Makes the tap `name` (`IFF_TAP | IFF_NO_PI`, with `IFF_VNET_HDR` when
/// `vnet_hdr`), not persistent, in the caller's network namespace, and
/// owned by the caller's euid (`TUNSETOWNER`): only that uid, or
/// CAP_NET_ADMIN, may attach to it, even if it were made persistent.
/// `IFF_TUN_EXCL` makes an interface of that name that exists already
/// (a tap someone left persistent, another domain's) an error (EBUSY),
/// never one attached to. Needs CAP_NET_ADMIN in E.
pub fn create_tap(name: &str, vnet_hdr: bool) -> Result<Tap, TapError> {
    let r = ifreq(name)?;
    let fd = open_tun(name)?;
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_TUN_EXCL;
    if vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    set_iff(&fd, r, flags).map_err(step(name, TapStep::Create))?;
    // SAFETY: geteuid takes nothing and cannot fail.
    let euid = unsafe { libc::geteuid() };
    tun_int_ioctl(fd.as_fd(), libc::TUNSETOWNER, libc::c_ulong::from(euid))
        .map_err(step(name, TapStep::SetOwner))?;
    let index = index_of(name)?;
    Ok(Tap {
        fd,
        name: name.into(),
        index,
    })
}

/// Removes the tap `name`, left persistent by whoever held it: attaches
/// to it (`TUNSETIFF` without `IFF_TUN_EXCL`), clears its persistence
/// and closes the fd, the last one on it, so the kernel removes it.
/// `Ok(false)`: there is no interface `name`. An interface that is no
/// tap is an error (EINVAL from the attach), never touched, as is a tap
/// someone still holds (EBUSY). Needs CAP_NET_ADMIN in E unless the tap
/// is the caller's ([`create_tap`] makes it so).
pub fn release_tap(name: &str) -> Result<bool, TapError> {
    let r = ifreq(name)?;
    // TUNSETIFF makes a tap of a name nothing has: ask first. (One that
    // went in between is made and goes again with the fd, not persistent.)
    match index_of(name) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(false),
        Err(e) => return Err(e),
    }
    let fd = open_tun(name)?;
    set_iff(&fd, r, libc::IFF_TAP | libc::IFF_NO_PI).map_err(step(name, TapStep::Attach))?;
    set_persist(fd.as_fd(), false).map_err(step(name, TapStep::ClearPersist))?;
    drop(fd);
    Ok(true)
}

/// The names of the interfaces of the caller's network namespace
/// (`if_nameindex`, by netlink; not sysfs).
pub fn interface_names() -> Result<Vec<String>, TapError> {
    // SAFETY: if_nameindex takes nothing; it returns a malloc'd array
    // ended by an entry of index 0 and a null name, or null on failure.
    let list = unsafe { libc::if_nameindex() };
    if list.is_null() {
        return Err(step("*", TapStep::List)(io::Error::last_os_error()));
    }
    let mut names = Vec::new();
    for i in 0.. {
        // SAFETY: the array if_nameindex returned is live until
        // if_freenameindex below, and `i` never passes its terminating
        // entry (index 0, null name), after which the loop stops.
        let entry = unsafe { &*list.wrapping_add(i) };
        if entry.if_index == 0 || entry.if_name.is_null() {
            break;
        }
        // SAFETY: a live entry's name is a NUL-terminated string owned by
        // the array, read (copied) before the array is freed.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.if_name) };
        names.push(name.to_string_lossy().into_owned());
    }
    // SAFETY: `list` came from if_nameindex and is freed once; nothing
    // of it is read after.
    unsafe { libc::if_freenameindex(list) };
    Ok(names)
}

/// Whether the tap on `fd` was made with `IFF_VNET_HDR` (`TUNGETIFF`).
pub fn has_vnet_hdr(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: all-zero ifreq, as in `ifreq`.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes one struct ifreq into `r`, live and ours.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, std::ptr::from_mut(&mut r)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TUNGETIFF succeeded, so the kernel wrote ifru_flags.
    let flags = i32::from(unsafe { r.ifr_ifru.ifru_flags });
    Ok(flags & libc::IFF_VNET_HDR != 0)
}

/// Adds the interface `iface` (index `index`) to the bridge `bridge`.
/// Needs CAP_NET_ADMIN in E.
pub fn join_bridge(bridge: &str, iface: &str, index: u32) -> Result<(), TapError> {
    let mut r = ifreq(bridge)?;
    r.ifr_ifru.ifru_ifindex = libc::c_int::try_from(index).map_err(|_| TapError::Join {
        iface: iface.into(),
        bridge: bridge.into(),
        source: io::Error::new(io::ErrorKind::InvalidInput, format!("index {index}")),
    })?;
    let sock = ioctl_socket(iface)?;
    ifreq_ioctl(&sock, SIOCBRADDIF, &mut r).map_err(|source| TapError::Join {
        iface: iface.into(),
        bridge: bridge.into(),
        source,
    })
}

/// Brings the interface `name` up (`IFF_UP`, the other flags kept).
/// Needs CAP_NET_ADMIN in E.
pub fn set_up(name: &str) -> Result<(), TapError> {
    let mut r = ifreq(name)?;
    let sock = ioctl_socket(name)?;
    ifreq_ioctl(&sock, libc::SIOCGIFFLAGS, &mut r).map_err(step(name, TapStep::GetFlags))?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the kernel wrote ifru_flags.
    let flags = unsafe { r.ifr_ifru.ifru_flags };
    r.ifr_ifru.ifru_flags = flags | libc::c_short::try_from(libc::IFF_UP).unwrap_or(1);
    ifreq_ioctl(&sock, libc::SIOCSIFFLAGS, &mut r).map_err(step(name, TapStep::SetUp))
}

#[cfg(test)]
#[path = "tap_tests.rs"]
mod tests;
