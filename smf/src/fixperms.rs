//! xvm-fixperms: makes an existing installation right. The directories of
//! DESIGN.md 4 (under `XVM_ROOT`) are made when missing and owned by
//! xvm:xvm with their modes; what is inside them is owned by xvm:xvm too.
//!
//! Every node is opened with openat2(RESOLVE_NO_SYMLINKS), beneath its
//! parent's fd, so a symlink anywhere (planted to redirect a chown to
//! `/etc/shadow`, say) is never followed: it is reported and left alone.
//! Idempotent: a second run changes and prints nothing.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use privlib::sys::sock::{chown_fd, open_no_symlinks};

/// The directories, relative to the root, with their modes: run
/// directories searchable (their sockets are the gate), the rest private.
pub const DIRS: [(&str, u32); 8] = [
    ("run/xenstored", 0o755),
    ("run/xend", 0o755),
    ("run/xend/boot", 0o700),
    ("var/lib/xend", 0o700),
    ("var/lib/xend/domains", 0o700),
    ("var/lib/xend/storage", 0o700),
    ("var/log/xen", 0o750),
    ("var/xen/dump", 0o700),
];

/// Session mode: under `$XDG_RUNTIME_DIR/xvm`, the user's own, private.
pub const SESSION_DIRS: [(&str, u32); 2] = [("", 0o700), ("xenstored", 0o700)];

/// Nesting beyond which a tree is not walked (and the run fails).
const MAX_DEPTH: usize = 64;

/// What to do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The root (`XVM_ROOT`, or `/`).
    pub root: PathBuf,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// Print, change nothing.
    pub dry_run: bool,
    /// The directories and their modes ([`DIRS`] or [`SESSION_DIRS`]).
    pub dirs: &'static [(&'static str, u32)],
}

/// The outcome: changes made (or that would be), nodes left alone on
/// purpose, and failures.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per change.
    pub changes: Vec<String>,
    /// Nodes inside the tree not touched on purpose: a symlink, or a file
    /// with other hard links (its other names may be outside the tree).
    pub left_alone: Vec<String>,
    /// What could not be fixed: a listed directory behind a symlink, or
    /// an error. Any of these makes the run fail.
    pub failures: Vec<String>,
}

impl Plan {
    /// Runs the plan.
    pub fn run(&self) -> Report {
        let mut r = Report::default();
        for (rel, mode) in self.dirs {
            self.dir(Path::new(rel), *mode, &mut r);
        }
        r
    }

    fn dir(&self, rel: &Path, mode: u32, r: &mut Report) {
        let path = self.root.join(rel);
        let fd = match open_no_symlinks(None, &path, true) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                r.changes.push(format!(
                    "mkdir {} ({}:{} {mode:04o})",
                    path.display(),
                    self.uid,
                    self.gid
                ));
                if self.dry_run {
                    return;
                }
                if let Err(e) = std::fs::create_dir_all(&path) {
                    r.failures.push(format!("{}: {e}", path.display()));
                    return;
                }
                match open_no_symlinks(None, &path, true) {
                    Ok(fd) => {
                        self.fix(&fd, &path, Some(mode), &mut Report::default());
                        fd
                    }
                    Err(e) => {
                        r.failures.push(format!("{}: {e}", path.display()));
                        return;
                    }
                }
            }
            Err(e) => {
                r.failures.push(self.refusal(&path, &e));
                return;
            }
        };
        self.fix(&fd, &path, Some(mode), r);
        self.walk(&fd, &path, rel, 0, r);
    }

    fn refusal(&self, path: &Path, e: &std::io::Error) -> String {
        if is_symlink(path, e) {
            format!("{}: a symlink on the way; left alone", path.display())
        } else if e.raw_os_error() == Some(libc::ENOTDIR) {
            format!("{}: not a directory; left alone", path.display())
        } else {
            format!("{}: {e}", path.display())
        }
    }

    /// Owner (and, for the listed directories, mode) of one node.
    fn fix(&self, fd: &OwnedFd, path: &Path, mode: Option<u32>, r: &mut Report) {
        let meta = match fd.try_clone().and_then(|c| File::from(c).metadata()) {
            Ok(m) => m,
            Err(e) => {
                r.failures.push(format!("{}: {e}", path.display()));
                return;
            }
        };
        if (meta.uid(), meta.gid()) != (self.uid, self.gid) {
            r.changes.push(format!(
                "chown {}:{} -> {}:{} {}",
                meta.uid(),
                meta.gid(),
                self.uid,
                self.gid,
                path.display()
            ));
            if !self.dry_run
                && let Err(e) = chown_fd(fd.as_fd(), self.uid, self.gid)
            {
                r.failures.push(format!("chown {}: {e}", path.display()));
            }
        }
        if let Some(m) = mode
            && meta.mode() & 0o7777 != m
        {
            r.changes.push(format!(
                "chmod {:04o} -> {m:04o} {}",
                meta.mode() & 0o7777,
                path.display()
            ));
            if !self.dry_run {
                // A directory fd is a real open file: fchmod works on it.
                let f = match fd.try_clone() {
                    Ok(c) => File::from(c),
                    Err(e) => {
                        r.failures.push(format!("chmod {}: {e}", path.display()));
                        return;
                    }
                };
                if let Err(e) = f.set_permissions(std::fs::Permissions::from_mode(m)) {
                    r.failures.push(format!("chmod {}: {e}", path.display()));
                }
            }
        }
    }

    /// Everything beneath `dir`, except the listed directories (they get
    /// their own turn with their own mode).
    fn walk(&self, dir: &OwnedFd, path: &Path, rel: &Path, depth: usize, r: &mut Report) {
        if depth >= MAX_DEPTH {
            r.failures
                .push(format!("{}: nested too deep; not walked", path.display()));
            return;
        }
        let listing =
            Path::new("/proc/self/fd").join(std::os::fd::AsRawFd::as_raw_fd(dir).to_string());
        let entries = match std::fs::read_dir(&listing) {
            Ok(e) => e,
            Err(e) => {
                r.failures.push(format!("{}: {e}", path.display()));
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
                Err(e) => r.failures.push(format!("{}: {e}", path.display())),
            }
        }
        names.sort();
        for (name, is_dir, is_link) in names {
            let child_rel = rel.join(&name);
            let child = path.join(&name);
            if self.dirs.iter().any(|(d, _)| Path::new(d) == child_rel) {
                continue;
            }
            if is_link {
                r.left_alone
                    .push(format!("{}: a symlink; left alone", child.display()));
                continue;
            }
            match open_no_symlinks(Some(dir.as_fd()), Path::new(&name), is_dir) {
                Ok(fd) => {
                    // Another name of this file may be outside the tree.
                    let links = fd
                        .try_clone()
                        .and_then(|c| File::from(c).metadata())
                        .map_or(1, |m| m.nlink());
                    if !is_dir && links > 1 {
                        r.left_alone.push(format!(
                            "{}: {links} hard links; left alone",
                            child.display()
                        ));
                        continue;
                    }
                    self.fix(&fd, &child, None, r);
                    if is_dir {
                        self.walk(&fd, &child, &child_rel, depth + 1, r);
                    }
                }
                // Swapped for a symlink since the listing: still left alone.
                Err(e) if is_symlink(&child, &e) => r.left_alone.push(self.refusal(&child, &e)),
                Err(e) => r.failures.push(self.refusal(&child, &e)),
            }
        }
    }
}

/// Whether an open failed because of a symlink (ELOOP on the way; a final
/// symlink under O_NOFOLLOW|O_DIRECTORY gives ENOTDIR).
fn is_symlink(path: &Path, e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
        || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}
