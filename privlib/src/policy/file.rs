//! Reading a policy file as a daemon must: bounded in size, a regular file
//! only, and in system mode one that nobody but root could have written.
//!
//! "Nobody but root" is decided on the path as the kernel resolves it, not
//! as it is written: a symlink `/etc/xvm -> /srv/open/xvm` puts `/srv/open`
//! among the directories that decide who could swap the file, though the
//! written path never names it. So the walk opens one component at a time
//! beneath the directory before it (openat2, no symlink followed, O_PATH),
//! checks what it opened with fstat, and follows a symlink itself, walking
//! its target the same way. The file is read from the descriptor whose
//! owner and type were checked, so nothing can be swapped in between.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};

use super::Problem;
use crate::bounded::{self, FileError};
use crate::sys::openat::{open_beneath, open_no_symlinks};

/// The most bytes a policy file may hold. The shipped one is under 3 KiB.
pub const MAX_POLICY_LEN: u64 = 64 * 1024;

/// As Linux's own resolution does (`MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Refuses what is not a regular file of at most [`MAX_POLICY_LEN`] bytes.
fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), Problem> {
    if !meta.file_type().is_file() {
        return Err(Problem::NotRegular {
            path: path.to_path_buf(),
            kind: crate::os::fs::kind(meta.file_type()),
        });
    }
    if meta.len() > MAX_POLICY_LEN {
        return Err(Problem::TooLarge {
            size: meta.len(),
            max: MAX_POLICY_LEN,
        });
    }
    Ok(())
}

/// Refuses a node owned by anyone but root, or writable by group or others.
/// A root-owned sticky directory (`/tmp`) is allowed above the file's own
/// directory: there nobody can rename or remove an entry they do not own.
fn check_root_only(path: &Path, meta: &std::fs::Metadata, sticky_ok: bool) -> Result<(), Problem> {
    let mode = meta.mode();
    let sticky_root_dir = sticky_ok && meta.is_dir() && mode & 0o1000 != 0;
    if meta.uid() != 0 || (mode & 0o022 != 0 && !sticky_root_dir) {
        return Err(Problem::Writable {
            path: path.to_path_buf(),
            uid: meta.uid(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Reads at most [`MAX_POLICY_LEN`] bytes of text from the opened, checked
/// file `f` (the one at `path`).
fn read_text(f: File, path: &Path) -> Result<String, Problem> {
    let bytes = bounded::read_opened(f, path, MAX_POLICY_LEN).map_err(|e| match e {
        // fstat said it fits: it grew since.
        FileError::TooLarge { max, .. } => Problem::Grew { max },
        e => Problem::Read(e),
    })?;
    String::from_utf8(bytes).map_err(|e| Problem::NotUtf8(e.utf8_error()))
}

/// Reads a policy file of the invoking user's own (session mode): a
/// regular file, bounded; opened non-blocking, so a FIFO cannot hang us.
pub(super) fn read_bounded(file: &Path) -> Result<String, Problem> {
    let open_err = |source| Problem::Open {
        path: file.to_path_buf(),
        source,
    };
    let f = bounded::open_nonblocking(file).map_err(|e| match e {
        FileError::Io { source, .. } => open_err(source),
        e => Problem::Read(e),
    })?;
    let meta = f.metadata().map_err(open_err)?;
    check_regular(file, &meta)?;
    read_text(f, file)
}

/// `path` made absolute against the working directory.
fn absolute(path: &Path) -> Result<PathBuf, Problem> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|source| Problem::Open {
        path: PathBuf::from("."),
        source,
    })?;
    Ok(cwd.join(path))
}

/// Reads a system-mode policy file: every directory the kernel passes
/// through to reach it, symlink targets included, and the file itself,
/// must be root's and writable by root alone; the file is a regular file
/// of at most [`MAX_POLICY_LEN`] bytes, and not itself a symlink.
pub(super) fn read_root_only(file: &Path) -> Result<String, Problem> {
    let mut todo = components_relative(&absolute(file)?);
    let root_path = PathBuf::from("/");
    let open_at = |dir: Option<&File>, name: &Path, shown: &Path| {
        open_no_symlinks(dir.map(File::as_fd), name, false)
            .map(File::from)
            .map_err(|source| Problem::Open {
                path: shown.to_path_buf(),
                source,
            })
    };
    let stat = |f: &File, shown: &Path| {
        f.metadata().map_err(|source| Problem::Open {
            path: shown.to_path_buf(),
            source,
        })
    };
    let root = open_at(None, &root_path, &root_path)?;
    check_root_only(&root_path, &stat(&root, &root_path)?, true)?;
    // The directories resolved so far, each open (O_PATH) and checked; the
    // last is where the next component is looked up.
    let mut dirs: Vec<(File, PathBuf)> = vec![(root, root_path)];
    let mut links = 0usize;
    while let Some(name) = todo.pop_front() {
        let Some((dir, dir_path)) = dirs.last() else {
            break;
        };
        if name == ".." {
            // The stack holds real directories only, so its previous entry
            // is the physical parent; "/.." is "/".
            if dirs.len() > 1 {
                dirs.pop();
            }
            continue;
        }
        let here = dir_path.join(&name);
        let node = open_at(Some(dir), Path::new(&name), &here)?;
        let meta = stat(&node, &here)?;
        let last = todo.is_empty();
        if meta.file_type().is_symlink() {
            if last {
                return Err(Problem::NotRegular {
                    path: here,
                    kind: "a symbolic link",
                });
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Problem::SymlinkLoop { path: here });
            }
            // readlinkat(dir, name) without unsafe: the directory's fd link
            // in /proc names the very directory that was checked.
            let via = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(&name);
            let target = std::fs::read_link(&via).map_err(|source| Problem::Open {
                path: here.clone(),
                source,
            })?;
            if target.is_absolute() {
                dirs.truncate(1);
            }
            let mut rest = components_relative(&target);
            rest.append(&mut todo);
            todo = rest;
            continue;
        }
        if last {
            check_regular(&here, &meta)?;
            check_root_only(&here, &meta, false)?;
            // The directory holding the file must be root's alone, sticky
            // or not: there anyone could otherwise replace it.
            check_root_only(dir_path, &stat(dir, dir_path)?, false)?;
            let f = open_beneath(dir.as_fd(), Path::new(&name), false)
                .map(File::from)
                .map_err(|source| Problem::Open {
                    path: here.clone(),
                    source,
                })?;
            let now = stat(&f, &here)?;
            if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
                return Err(Problem::Moved { path: here });
            }
            return read_text(f, &here);
        }
        if !meta.is_dir() {
            return Err(Problem::Open {
                path: here,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        check_root_only(&here, &meta, true)?;
        dirs.push((node, here));
    }
    // Only "/" or a path ending in ".." gets here.
    Err(Problem::NotRegular {
        path: file.to_path_buf(),
        kind: "a directory",
    })
}

/// The components of a path (a symlink's target, perhaps relative) to walk.
fn components_relative(target: &Path) -> VecDeque<OsString> {
    target
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}
