//! Where a set-id xenconsole finds the stack: the root R, from its own
//! executable, never from the environment.
//!
//! # The rule
//! R comes from `/proc/self/exe` (the kernel's name for the file it ran,
//! symlinks already resolved): when that path ends with
//! `usr/lib/xen/bin/xenconsole`, R is what comes before it, else R is `/`.
//! Then every directory on the executable's path, from `/` down to
//! `R/usr/lib/xen/bin`, must be a directory (not a symlink) owned by root
//! that neither group nor others may write; the one exception is a sticky
//! directory (such as `/tmp`) when the next component on the path is
//! root's. The executable itself must be root's and writable by nobody
//! else.
//!
//! # Why
//! R decides which policy file says who may attach and which xenstored
//! says where the console is. A caller of a set-id program chooses its
//! environment, so `XVM_ROOT`, `XENSTORED_PATH` and the like would let
//! any user name their own policy and their own store. The executable's
//! path is the kernel's, not the caller's; but a user could still put the
//! binary in a tree of their own (a hard link, where the kernel's
//! `protected_hardlinks` is off, or a copy of a tree root made with looser
//! modes). When nobody but root can have changed a directory on the
//! path, the tree is one root made for this binary. In a sticky directory
//! only an entry's owner (or root) may rename or remove it, so a root-owned
//! child of `/tmp` is as fixed as one of a root-only directory. What lies
//! below R is checked by those who read it: the policy file by
//! [`privlib::Policy::load_system`], which walks its path the same way; the
//! store's socket is not, because whatever a store names is then opened
//! only if it is a pty slave of xvm's, mode 0600: the console of some
//! domain, which a user granted `virt_manage` may attach to anyway.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};

/// Where the installed client lives, below R.
pub(crate) const INSTALLED: &str = "usr/lib/xen/bin/xenconsole";

/// Why R cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RootError {
    /// `/proc/self/exe` could not be read.
    #[error("reading /proc/self/exe: {0}")]
    Exe(#[source] std::io::Error),
    /// A node on the path could not be examined.
    #[error("{}: {source}", .path.display())]
    Stat {
        /// The node.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A node on the path that someone other than root could change.
    #[error(
        "{}: owned by uid {uid}, mode {mode:04o}: only a tree nobody but root can change is trusted by a set-id xenconsole",
        .path.display()
    )]
    NotRootOnly {
        /// The node.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// A symlink, or not a directory, where a directory must be.
    #[error("{}: not a directory", .path.display())]
    NotDirectory {
        /// The node.
        path: PathBuf,
    },
    /// `/proc/self/exe` is not an absolute, plain path.
    #[error("/proc/self/exe names {}, not an absolute path", .0.display())]
    Relative(PathBuf),
}

/// R for an executable at `exe`: the prefix before [`INSTALLED`], else `/`.
pub(crate) fn root_of(exe: &Path) -> PathBuf {
    if exe.ends_with(INSTALLED) {
        let mut r = exe.to_path_buf();
        for _ in Path::new(INSTALLED).components() {
            r.pop();
        }
        r
    } else {
        PathBuf::from("/")
    }
}

/// R of the running set-id client, checked by the rule above.
pub(crate) fn trusted_root() -> Result<PathBuf, RootError> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(RootError::Exe)?;
    check_exe_path(&exe)?;
    Ok(root_of(&exe))
}

/// Checks every directory from `/` to `exe`'s, and `exe` itself.
pub(crate) fn check_exe_path(exe: &Path) -> Result<(), RootError> {
    if !exe.is_absolute()
        || exe
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(RootError::Relative(exe.to_path_buf()));
    }
    let mut path = PathBuf::from("/");
    let mut meta = stat(&path)?;
    let parts: Vec<_> = exe.components().skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let child = path.join(part);
        let child_meta = stat(&child)?;
        // `path` is a directory on the way; `child` is the next component.
        check_dir(&path, &meta, child_meta.uid() == 0)?;
        if i + 1 == parts.len() {
            check_file(&child, &child_meta)?;
        }
        path = child;
        meta = child_meta;
    }
    Ok(())
}

fn stat(path: &Path) -> Result<std::fs::Metadata, RootError> {
    std::fs::symlink_metadata(path).map_err(|source| RootError::Stat {
        path: path.to_path_buf(),
        source,
    })
}

fn not_root_only(path: &Path, meta: &std::fs::Metadata) -> RootError {
    RootError::NotRootOnly {
        path: path.to_path_buf(),
        uid: meta.uid(),
        mode: meta.mode() & 0o7777,
    }
}

/// A directory on the way: root's, and writable by nobody else unless it
/// is sticky and its `child_is_roots`.
fn check_dir(path: &Path, meta: &std::fs::Metadata, child_is_roots: bool) -> Result<(), RootError> {
    if !meta.file_type().is_dir() {
        return Err(RootError::NotDirectory {
            path: path.to_path_buf(),
        });
    }
    let sticky = meta.mode() & 0o1000 != 0;
    if meta.uid() != 0 || (meta.mode() & 0o022 != 0 && !(sticky && child_is_roots)) {
        return Err(not_root_only(path, meta));
    }
    Ok(())
}

/// The executable: root's, writable by nobody else.
fn check_file(path: &Path, meta: &std::fs::Metadata) -> Result<(), RootError> {
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(not_root_only(path, meta));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_prefix_of_the_installed_path_or_slash() {
        assert_eq!(
            root_of(Path::new("/srv/t/usr/lib/xen/bin/xenconsole")),
            Path::new("/srv/t")
        );
        assert_eq!(
            root_of(Path::new("/usr/lib/xen/bin/xenconsole")),
            Path::new("/")
        );
        assert_eq!(
            root_of(Path::new("/home/u/target/debug/xenconsole")),
            Path::new("/")
        );
        // A name that only ends like it is not the installed path.
        assert_eq!(
            root_of(Path::new("/x/usr/lib/xen/bin/my-xenconsole")),
            Path::new("/")
        );
    }

    #[test]
    fn a_path_with_dot_dot_or_relative_is_refused() {
        for p in [
            "usr/lib/xen/bin/xenconsole",
            "/a/../usr/lib/xen/bin/xenconsole",
        ] {
            assert!(
                matches!(check_exe_path(Path::new(p)), Err(RootError::Relative(_))),
                "{p}"
            );
        }
    }
}
