//! xvm-fixperms: makes an existing installation right. The directories of
//! DESIGN.md 4 (under `XVM_ROOT`) are made when missing and owned by
//! xvm:xvm with their modes; what is inside them is owned by xvm:xvm too.
//!
//! Every node is opened with openat2(RESOLVE_NO_SYMLINKS), beneath its
//! parent's fd, so a symlink anywhere (planted to redirect a chown to
//! `/etc/shadow`, say) is never followed: it is reported and left alone.
//! Only regular files and directories are changed: a device node, fifo or
//! socket (a planted `/dev/sda` twin in `var/lib/xend/storage`, say) is
//! reported and left alone, never given to xvm.
//!
//! The tree is xvm's to write, and root walks it, so xvm may change it
//! while root looks. xvm can link a name in the tree to a root-owned file
//! outside (hard links to a file it may write are allowed) and unlink it
//! again, in a loop: a file opened while the name was there then has a
//! link count of 1, its only name outside, and no check of the name or
//! the count, before or after the change, can tell (each look is its own
//! system call; xvm toggles faster than they line up: issue 10, item 8,
//! an outside `root:xvm` file became `xvm:xvm`). So a regular file's name
//! is first taken out of xvm's reach: renamed into a vault, a directory
//! of root's own (mode 0700) made beside it for the walk. There nobody
//! but root can link or unlink it; the file held must be the one walked
//! (dev and inode), a regular file, with one link, which now means its
//! only name is the held one. Only then is it fchowned (on an O_PATH fd
//! of the held name, so check and change are on the same open file); the
//! link count is read again after the change, the change undone on the
//! same fd if it moved (owner, then mode: chown clears the set-id bits),
//! and the name put back. Directories have one name and are changed on
//! their fd directly.
//!
//! Idempotent: a second run changes and prints nothing.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use privlib::os::fs::{chown_fd, open_no_symlinks};

use crate::layout::{Dir, Owner};
pub use crate::layout::{SESSION_DIRS, SYSTEM_DIRS};

mod failure;
pub use failure::Failure;

/// Nesting beyond which a tree is not walked (and the run fails).
const MAX_DEPTH: usize = 64;

/// What to do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The root (`XVM_ROOT`, or `/`).
    pub root: PathBuf,
    /// The owner of the daemons' directories ([`Owner::Daemons`]).
    pub uid: u32,
    /// Their group.
    pub gid: u32,
    /// Print, change nothing.
    pub dry_run: bool,
    /// The directories, parents first ([`SYSTEM_DIRS`], [`SESSION_DIRS`],
    /// [`crate::layout::STARTD_SYSTEM_DIRS`]).
    pub dirs: &'static [Dir],
}

/// The outcome: changes made (or that would be), nodes left alone on
/// purpose, and failures.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per change.
    pub changes: Vec<String>,
    /// Nodes inside the tree not touched on purpose: a symlink, a device
    /// node, fifo or socket, a file with other hard links (its other
    /// names may be outside the tree), or one whose name or link count
    /// moved while it was changed (the change undone).
    pub left_alone: Vec<String>,
    /// What could not be fixed: a listed directory behind a symlink, or
    /// an error. Any of these makes the run fail.
    pub failures: Vec<Failure>,
}

impl Plan {
    /// Runs the plan.
    pub fn run(&self) -> Report {
        let mut r = Report::default();
        for d in self.dirs {
            self.dir(d, &mut r);
        }
        r
    }

    fn dir(&self, d: &Dir, r: &mut Report) {
        let (rel, mode) = (Path::new(d.path), d.mode);
        let path = self.root.join(rel);
        let (uid, gid) = match d.owner {
            Owner::Host | Owner::Root => (0, 0),
            Owner::Daemons | Owner::Shared => (self.uid, self.gid),
        };
        let fd = match open_no_symlinks(None, &path, true) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                r.changes
                    .push(format!("mkdir {} ({uid}:{gid} {mode:04o})", path.display()));
                if self.dry_run {
                    return;
                }
                // Missing parents as a host has them (root's, 0755); the
                // directory itself gets its owner and mode below.
                if let Err(e) = crate::layout::make_dir(&path, 0o700) {
                    r.failures.push(Failure::io(&path, e));
                    return;
                }
                match open_no_symlinks(None, &path, true) {
                    Ok(fd) => {
                        self.fix(&fd, &path, (uid, gid, mode), &mut Report::default());
                        fd
                    }
                    Err(e) => {
                        r.failures.push(Failure::io(&path, e));
                        return;
                    }
                }
            }
            Err(e) => {
                r.failures.push(self.refusal(&path, e));
                return;
            }
        };
        match d.owner {
            // The real root's own directories are the host's business: a
            // host where the daemons cannot pass them is reported, not
            // changed.
            Owner::Host if self.root == Path::new("/") => passable(&fd, &path, r),
            Owner::Host | Owner::Root => self.fix(&fd, &path, (uid, gid, mode), r),
            Owner::Daemons => {
                self.fix(&fd, &path, (uid, gid, mode), r);
                self.walk(&fd, &path, rel, 0, r);
            }
            Owner::Shared => match fstat(&fd) {
                Ok(m) if (m.uid(), m.gid()) == (uid, gid) => {
                    self.fix(&fd, &path, (uid, gid, mode), r);
                }
                Ok(m) => r.left_alone.push(format!(
                    "{}: owned by {}:{}, not the daemons': another product's (libvirtd's?), left alone; virtd cannot listen there while it is",
                    path.display(),
                    m.uid(),
                    m.gid()
                )),
                Err(e) => r.failures.push(Failure::io(&path, e)),
            },
        }
    }

    fn refusal(&self, path: &Path, e: std::io::Error) -> Failure {
        let path = path.to_path_buf();
        if is_symlink(&path, &e) {
            Failure::Symlink { path }
        } else if e.raw_os_error() == Some(libc::ENOTDIR) {
            Failure::NotDirectory { path }
        } else {
            Failure::Io { path, source: e }
        }
    }

    /// Owner and mode of one listed directory: `(uid, gid, mode)`.
    fn fix(&self, fd: &OwnedFd, path: &Path, want: (u32, u32, u32), r: &mut Report) {
        let (uid, gid, m) = want;
        let meta = match fstat(fd) {
            Ok(m) => m,
            Err(e) => {
                r.failures.push(Failure::io(path, e));
                return;
            }
        };
        if (meta.uid(), meta.gid()) != (uid, gid) {
            r.changes.push(format!(
                "chown {}:{} -> {uid}:{gid} {}",
                meta.uid(),
                meta.gid(),
                path.display()
            ));
            if !self.dry_run
                && let Err(e) = chown_fd(fd.as_fd(), uid, gid)
            {
                r.failures.push(Failure::Chown {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
        if meta.mode() & 0o7777 != m {
            r.changes.push(format!(
                "chmod {:04o} -> {m:04o} {}",
                meta.mode() & 0o7777,
                path.display()
            ));
            // A directory fd is a real open file: fchmod works on it.
            if !self.dry_run
                && let Err(e) = chmod_fd(fd, m)
            {
                r.failures.push(Failure::Chmod {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
    }

    /// Everything beneath `dir`, except the listed directories (they get
    /// their own turn with their own mode).
    fn walk(&self, dir: &OwnedFd, path: &Path, rel: &Path, depth: usize, r: &mut Report) {
        if depth >= MAX_DEPTH {
            r.failures.push(Failure::TooDeep {
                path: path.to_path_buf(),
            });
            return;
        }
        let listing = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string());
        let entries = match std::fs::read_dir(&listing) {
            Ok(e) => e,
            Err(e) => {
                r.failures.push(Failure::io(path, e));
                return;
            }
        };
        let mut names: Vec<(std::ffi::OsString, bool, bool)> = Vec::new();
        for e in entries {
            match e {
                Ok(e) => {
                    let t = e.file_type().ok();
                    names.push((
                        e.file_name(),
                        t.is_some_and(|t| t.is_dir()),
                        t.is_some_and(|t| t.is_symlink()),
                    ));
                }
                Err(e) => r.failures.push(Failure::io(path, e)),
            }
        }
        names.sort();
        let mut vault = None;
        for (name, is_dir, is_link) in names {
            let child_rel = rel.join(&name);
            let child = path.join(&name);
            if self.dirs.iter().any(|d| Path::new(d.path) == child_rel) {
                continue;
            }
            if name.as_encoded_bytes().starts_with(VAULT_PREFIX.as_bytes()) {
                r.left_alone.push(format!(
                    "{}: an xvm-fixperms vault (an interrupted run's, or planted); left alone",
                    child.display()
                ));
                continue;
            }
            if is_link {
                r.left_alone
                    .push(format!("{}: a symlink; left alone", child.display()));
                continue;
            }
            match open_no_symlinks(Some(dir.as_fd()), Path::new(&name), is_dir) {
                Ok(fd) => {
                    let meta = match fstat(&fd) {
                        Ok(m) => m,
                        Err(e) => {
                            r.failures.push(Failure::io(&child, e));
                            continue;
                        }
                    };
                    // The kind of the file opened, not of the listing.
                    if let Some(kind) = unexpected_kind(&meta) {
                        r.left_alone.push(format!(
                            "{}: {kind}; left alone (only regular files and directories are changed)",
                            child.display()
                        ));
                        continue;
                    }
                    // Another name of this file may be outside the tree.
                    if meta.is_file() && meta.nlink() > 1 {
                        r.left_alone.push(format!(
                            "{}: {} hard links; left alone",
                            child.display(),
                            meta.nlink()
                        ));
                        continue;
                    }
                    let node = Node {
                        name: &name,
                        fd: &fd,
                        before: &meta,
                        path: &child,
                    };
                    self.fix_beneath(dir.as_fd(), &mut vault, &node, r);
                    if meta.is_dir() {
                        self.walk(&fd, &child, &child_rel, depth + 1, r);
                    }
                }
                // Swapped for a symlink since the listing: still left alone.
                Err(e) if is_symlink(&child, &e) => {
                    r.left_alone.push(self.refusal(&child, e).to_string());
                }
                // Removed since the listing: nothing to change.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => r.left_alone.push(format!(
                    "{}: removed while walking; left alone",
                    child.display()
                )),
                Err(e) => r.failures.push(self.refusal(&child, e)),
            }
        }
        if let Some(v) = vault {
            let at_path = path.join(&v.name);
            if let Err(e) = v.remove(dir.as_fd()) {
                r.failures.push(Failure::RemoveVault {
                    path: at_path,
                    source: e,
                });
            }
        }
    }

    /// The owner of `node`, beneath `dir`. A directory is changed on its fd (it has one name,
    /// and one opened beneath the tree without symlinks is in it); a
    /// regular file only while its name is held in the vault.
    fn fix_beneath(
        &self,
        dir: BorrowedFd<'_>,
        vault: &mut Option<Vault>,
        node: &Node<'_>,
        r: &mut Report,
    ) {
        let Node {
            name,
            fd,
            before,
            path,
        } = *node;
        if (before.uid(), before.gid()) == (self.uid, self.gid) {
            return;
        }
        let change = format!(
            "chown {}:{} -> {}:{} {}",
            before.uid(),
            before.gid(),
            self.uid,
            self.gid,
            path.display()
        );
        if self.dry_run {
            r.changes.push(change);
            return;
        }
        if before.is_dir() {
            match chown_fd(fd.as_fd(), self.uid, self.gid) {
                Ok(()) => r.changes.push(change),
                Err(e) => r.failures.push(Failure::Chown {
                    path: path.to_path_buf(),
                    source: e,
                }),
            }
            return;
        }
        let v = match vault {
            Some(v) => v,
            None => match Vault::make(dir) {
                Ok(v) => vault.insert(v),
                Err(e) => {
                    r.failures.push(Failure::NoVault {
                        path: path.to_path_buf(),
                        source: e,
                    });
                    return;
                }
            },
        };
        // 1. Take the name out of xvm's reach.
        if let Err(e) = std::fs::rename(at(dir, name), at(v.fd.as_fd(), OsStr::new(HELD))) {
            if e.raw_os_error() == Some(libc::ENOENT) {
                r.left_alone.push(format!(
                    "{}: removed while walking; left alone",
                    path.display()
                ));
            } else {
                r.failures.push(Failure::Hold {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
            return;
        }
        // 2. Check and change the file the held name names.
        let outcome = self.change_held(v, before);
        // 3. The name back, whatever happened (over a name xvm made
        //    meanwhile: the tree's file keeps its place).
        let held = at(v.fd.as_fd(), OsStr::new(HELD));
        let back = std::fs::rename(&held, at(dir, name)).and_then(|()| {
            // rename(2) does nothing when both names are links to one
            // file (xvm linked the same file there again): the tree has
            // its name back already, the held one goes.
            match std::fs::symlink_metadata(&held) {
                Ok(_) => std::fs::remove_file(&held),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                Err(e) => Err(e),
            }
        });
        if let Err(e) = back {
            r.failures.push(Failure::PutBack {
                path: path.to_path_buf(),
                held: path.with_file_name(&v.name).join(HELD),
                source: e,
            });
        }
        match outcome {
            Ok(()) => r.changes.push(change),
            Err(Held::LeftAlone(why)) => {
                r.left_alone
                    .push(format!("{}: {why}; left alone", path.display()));
            }
            Err(Held::Failed { step, source }) => r.failures.push(Failure::Held {
                path: path.to_path_buf(),
                step,
                source,
            }),
        }
    }

    /// Changes the owner of the file held in `v`, if it is still the
    /// regular file walked (`before`) and has no other name; checked again
    /// after the change, and undone if its link count moved.
    fn change_held(&self, v: &Vault, before: &Metadata) -> Result<(), Held> {
        let fd = open_no_symlinks(Some(v.fd.as_fd()), Path::new(HELD), false)
            .map_err(|e| Held::LeftAlone(format!("replaced while walking ({e})")))?;
        let failed = |step| move |source| Held::Failed { step, source };
        let m = fstat(&fd).map_err(failed("fstat"))?;
        if (m.dev(), m.ino()) != (before.dev(), before.ino()) || !m.is_file() {
            return Err(Held::LeftAlone("replaced while walking".into()));
        }
        // Its only name is the held one: nobody but root can reach it, so
        // no other name can appear in a place xvm may not write.
        if m.nlink() != 1 {
            return Err(Held::LeftAlone(format!("{} hard links", m.nlink())));
        }
        chown_fd(fd.as_fd(), self.uid, self.gid).map_err(failed("chown"))?;
        let after = fstat(&fd).map_err(failed("fstat after chown"))?;
        if after.nlink() == 1 {
            return Ok(());
        }
        // Linked meanwhile (only through an fd xvm held open): undo on the
        // same fd, owner then mode (chown clears the set-id bits).
        chown_fd(fd.as_fd(), m.uid(), m.gid())
            .and_then(|()| chmod_fd(&fd, m.mode() & 0o7777))
            .map_err(failed("linked while changed, and undoing failed"))?;
        Err(Held::LeftAlone(format!(
            "{} hard links after the change; change undone",
            after.nlink()
        )))
    }
}

/// Whether others (the daemons) may pass the host's directory at `fd`.
fn passable(fd: &OwnedFd, path: &Path, r: &mut Report) {
    match fstat(fd) {
        Ok(m) if m.mode() & 0o001 != 0 => {}
        Ok(m) => r.failures.push(Failure::Impassable {
            path: path.to_path_buf(),
            mode: m.mode() & 0o7777,
        }),
        Err(e) => r.failures.push(Failure::io(path, e)),
    }
}

/// A node met in a walk, open.
#[derive(Clone, Copy)]
struct Node<'a> {
    /// Its name beneath the walked directory.
    name: &'a OsStr,
    /// Open on it (O_PATH, or a directory read-only), never through a symlink.
    fd: &'a OwnedFd,
    /// fstat of `fd` when it was opened.
    before: &'a Metadata,
    /// Its path, for messages.
    path: &'a Path,
}

/// Why a held file was not changed.
enum Held {
    /// On purpose (reported, not a failure).
    LeftAlone(String),
    /// A failure: the step, and why.
    Failed {
        step: &'static str,
        source: std::io::Error,
    },
}

/// The name a file is held under in its [`Vault`].
const HELD: &str = "held";
/// The vault's name beneath a walked directory (with the pid after it).
const VAULT_PREFIX: &str = ".xvm-fixperms-vault.";

/// A directory of our own (owner us, mode 0700) made beneath a walked
/// one, where a file's name is held while its owner changes: xvm can
/// neither link nor unlink there. Same directory, so same filesystem
/// (rename works); removed when the directory's walk ends.
struct Vault {
    name: String,
    fd: OwnedFd,
}

impl Vault {
    fn make(dir: BorrowedFd<'_>) -> std::io::Result<Vault> {
        use std::os::unix::fs::DirBuilderExt;
        let me = std::fs::metadata("/proc/self")?.uid();
        let name = format!("{VAULT_PREFIX}{}", std::process::id());
        // A name planted there already: EEXIST, and no vault.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(at(dir, OsStr::new(&name)))?;
        let fd = open_no_symlinks(Some(dir), Path::new(&name), true)?;
        let m = fstat(&fd)?;
        // Swapped for someone else's between mkdir and open: refused.
        if !m.is_dir() || m.uid() != me || m.mode() & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{name} is not our own private directory"
            )));
        }
        Ok(Vault { name, fd })
    }

    fn remove(self, dir: BorrowedFd<'_>) -> std::io::Result<()> {
        std::fs::remove_dir(at(dir, OsStr::new(&self.name)))
    }
}

/// `name` beneath the directory open as `dir`, by its /proc/self/fd link
/// (which names the open directory, wherever it has been moved).
fn at(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name)
}

/// fstat of any fd (O_PATH too).
fn fstat(fd: &OwnedFd) -> std::io::Result<Metadata> {
    fd.try_clone().and_then(|c| File::from(c).metadata())
}

/// chmod of what `fd` refers to, O_PATH too (which takes no fchmod): by
/// its /proc/self/fd link, which names the open file, never a path.
fn chmod_fd(fd: &OwnedFd, mode: u32) -> std::io::Result<()> {
    let link = Path::new("/proc/self/fd").join(fd.as_raw_fd().to_string());
    std::fs::set_permissions(link, std::fs::Permissions::from_mode(mode))
}

/// The kind of a node xvm-fixperms does not change, named; `None` for a
/// regular file or a directory.
fn unexpected_kind(m: &Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() || t.is_dir() {
        None
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a fifo")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_symlink() {
        Some("a symlink")
    } else {
        Some("a node of unknown kind")
    }
}

/// Whether an open failed because of a symlink (ELOOP on the way; a final
/// symlink under O_NOFOLLOW|O_DIRECTORY gives ENOTDIR).
fn is_symlink(path: &Path, e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
        || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests;
