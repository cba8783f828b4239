//! The tree the stack runs in, as a host has it: one table that
//! svc-startd (its own directories), `xvm-fixperms` (the daemons') and
//! the `tmpfiles.d` export all lay out from.
//!
//! Three kinds of directory:
//! - the host's ([`Owner::Host`]): `run`, `var`, `var/lib`, `var/log`;
//!   root's, 0755, as every host has them, so the daemons
//!   (running as xvm) can pass them to reach their own. Made when missing.
//!   On the real root (`/`) an existing one is the host's business and is
//!   only checked to be passable; under an `XVM_ROOT` of its own the tree
//!   is the stack's, and an existing one is made right like the others.
//! - svc-startd's own, and `var/xen` ([`Owner::Root`]): root's, at their modes, not
//!   walked;
//! - the daemons' (DESIGN.md 4, [`Owner::Daemons`]): xvm:xvm at their
//!   modes, and everything inside them xvm's too;
//! - one the daemons share a name with another product ([`Owner::Shared`]:
//!   `run/libvirt`, where virsh looks for virtd and libvirtd alike): made
//!   xvm's when missing, its mode kept right while it is xvm's, and left
//!   alone (reported) when it is anyone else's: a host's libvirtd keeps
//!   root's pid and status files there, which xvm must never be given.
//!   Never walked.
//!
//! Each list holds parents before their children.

/// Who owns a directory of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The host's: root:root 0755.
    Host,
    /// svc-startd's: root:root at its mode.
    Root,
    /// The daemons' (xvm:xvm, or the session's user), contents included.
    Daemons,
    /// The daemons' when missing or already theirs; another's is left
    /// alone. Contents never walked.
    Shared,
}

/// One directory, relative to the root (`XVM_ROOT`, or `/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dir {
    /// Its path below the root (`""`: the root itself).
    pub path: &'static str,
    /// Its mode.
    pub mode: u32,
    /// Its owner.
    pub owner: Owner,
}

const fn host(path: &'static str) -> Dir {
    Dir {
        path,
        mode: 0o755,
        owner: Owner::Host,
    }
}

const fn root(path: &'static str, mode: u32) -> Dir {
    Dir {
        path,
        mode,
        owner: Owner::Root,
    }
}

const fn shared(path: &'static str, mode: u32) -> Dir {
    Dir {
        path,
        mode,
        owner: Owner::Shared,
    }
}

const fn daemons(path: &'static str, mode: u32) -> Dir {
    Dir {
        path,
        mode,
        owner: Owner::Daemons,
    }
}

/// svc-startd's run directory (its `control` socket).
pub const STARTD_RUN: &str = "run/xvm/svc-startd";
/// svc-startd's persistent state (the administrator's properties).
pub const STARTD_STATE: &str = "var/lib/xvm/smf";
/// svc-startd's method logs.
pub const STARTD_LOG: &str = "var/log/xvm";

/// The host's directories the stack's live in. `var/xen` is no Debian
/// directory, only the parent of xend's dump directory: it is made and
/// kept root's 0755 like svc-startd's own, on any root, since whoever
/// could write it could swap `dump` for a directory of their own and read
/// the guests' cores.
pub const HOST_DIRS: [Dir; 5] = [
    host("run"),
    host("var"),
    host("var/lib"),
    host("var/log"),
    root("var/xen", 0o755),
];

/// svc-startd's own, after [`HOST_DIRS`]: the run directories others may
/// pass but not list (the control socket, 0666, is the gate), the state
/// root's alone, the logs readable by root's group.
pub const STARTD_DIRS: [Dir; 5] = [
    root("run/xvm", 0o711),
    root(STARTD_RUN, 0o711),
    root("var/lib/xvm", 0o711),
    root(STARTD_STATE, 0o700),
    root(STARTD_LOG, 0o750),
];

/// The daemons' directories (DESIGN.md 4), after [`HOST_DIRS`]: run
/// directories others may pass but not list (their 0666 sockets are the
/// gate), the rest private.
pub const XVM_DIRS: [Dir; 11] = [
    daemons("run/xenstored", 0o711),
    // virtd's sockets (libvirt-sock, -sock-ro), where virsh looks for
    // xen:///system: passable, not listable (the sockets' gate decides);
    // libvirtd's when a host runs it (then virtd cannot listen there).
    shared("run/libvirt", 0o711),
    daemons("run/xenconsoled", 0o700),
    daemons("run/xend", 0o711),
    daemons("run/xend/boot", 0o700),
    daemons("var/lib/xend", 0o700),
    daemons("var/lib/xend/domains", 0o700),
    daemons("var/lib/xend/storage", 0o700),
    daemons("var/log/xen", 0o750),
    daemons("var/log/xen/console", 0o750),
    daemons("var/xen/dump", 0o700),
];

/// What `xvm-fixperms` lays out in system mode: the host's directories,
/// then the daemons'.
pub const SYSTEM_DIRS: [Dir; 16] = concat(HOST_DIRS, XVM_DIRS);

/// What svc-startd lays out in system mode before anything else.
pub const STARTD_SYSTEM_DIRS: [Dir; 10] = concat(HOST_DIRS, STARTD_DIRS);

/// Session mode: under `$XDG_RUNTIME_DIR/xvm`, the user's own, private.
pub const SESSION_DIRS: [Dir; 4] = [
    daemons("", 0o700),
    daemons("xenstored", 0o700),
    daemons("xenconsoled", 0o700),
    daemons("libvirt", 0o700),
];

/// `a` then `b`, at compile time.
const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [Dir; A],
    b: [Dir; B],
) -> [Dir; N] {
    assert!(A + B == N, "the lengths add up");
    let mut out = [host(""); N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Makes directory `p` with `mode`, and each missing parent as a host has
/// them (mode 0755), whatever the umask. The mode is set on the directory
/// opened without following a symlink: root makes these inside
/// directories xvm may write, and xvm could swap the new, empty one for a
/// symlink to a file of root's before a chmod by name.
pub fn make_dir(p: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(parent) = p.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        make_dir(parent, 0o755)?;
    }
    match std::fs::create_dir(p) {
        Ok(()) => std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(p)?
            .set_permissions(std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parent_comes_before_its_children() {
        for list in [&SYSTEM_DIRS[..], &STARTD_SYSTEM_DIRS[..]] {
            for (i, d) in list.iter().enumerate() {
                let mut p = std::path::Path::new(d.path);
                while let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
                    let at = list
                        .iter()
                        .position(|x| std::path::Path::new(x.path) == parent);
                    assert!(
                        at.is_some_and(|j| j < i),
                        "{}: its parent {} is not listed before it",
                        d.path,
                        parent.display()
                    );
                    p = parent;
                }
            }
        }
    }
}
