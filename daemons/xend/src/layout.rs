//! Where xend keeps things ([`Layout`]), and making sure it can.
//!
//! System mode (`XVM_ROOT` prefixing every path): the run directory
//! `run/xend` (0711), managed configs `var/lib/xend/domains` and images
//! `var/lib/xend/storage`, beneath `var/lib/xend`; these three are
//! xvm:xvm 0700, as `xvm-fixperms` and tmpfiles.d lay them out. Images
//! may also be beneath `var/lib/xen/images`, where Xen keeps them (the
//! administrator's, root's; xend never makes or changes it).
//!
//! The choice: xend creates its own directories when they are missing
//! and it can, that is, when started as root, before it drops to xvm
//! ([`Layout::prepare`]); a missing parent (`var`, `var/lib` in a fresh
//! `XVM_ROOT`) is made 0755 root, as a host has it, and an existing parent
//! is never changed: the host's tree is the administrator's and
//! fixperms', not xend's. Started as xvm (a service manager did the drop)
//! it cannot create anything beneath root's `var/lib`, so it only checks.
//! Either way, after the drop [`Layout::check`] proves each directory is
//! reachable and xend's own, and otherwise stops xend with the path, what
//! it is (owner, mode) and what it needs: a `Permission denied` at the
//! first `xm new` told the administrator nothing.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use privlib::mode::{ModeError, env_path, session_data, session_run};
use privlib::os::accounts::User;

/// xend's directories and the store's socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `<run>/xend`: the socket, each domain's run directory.
    pub run: PathBuf,
    /// Where disk images must be.
    pub image_dirs: Vec<PathBuf>,
    /// xenstored's socket.
    pub xenstore: PathBuf,
    /// Managed domains' configs.
    pub managed: PathBuf,
    /// The directories xend keeps state in, parents first
    /// (`var/lib/xend`, `domains`, `storage`), each made 0700.
    pub state: Vec<StateDir>,
}

/// A directory xend keeps state in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    /// Its path.
    pub path: PathBuf,
    /// xend writes in it (managed configs), so it must be xend's own;
    /// otherwise xend's or root's will do.
    pub writes: bool,
}

fn state_dir(path: PathBuf, writes: bool) -> StateDir {
    StateDir { path, writes }
}

/// Why xend's directories are not usable.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Session mode has no run or data directory.
    #[error(transparent)]
    Session(#[from] ModeError),
    /// A directory could not be made, owned or given its mode.
    #[error("{step} {}: {source}", path.display())]
    Make {
        /// What was done.
        step: &'static str,
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A directory is missing and xend (not root) cannot make it.
    #[error(
        "{}: missing, and xend (uid {uid}) cannot create it: create it owned by uid {uid}, \
         mode 0700 (xvm-fixperms does)",
        path.display()
    )]
    Missing {
        /// The directory.
        path: PathBuf,
        /// xend's uid.
        uid: u32,
    },
    /// A parent on the way does not let xend through.
    #[error(
        "{}: not reachable by xend (uid {uid}): {} is mode {mode:04o} owned by {owner}:{group}; \
         it needs search permission for uid {uid} (0755)",
        path.display(),
        blocker.display()
    )]
    Unreachable {
        /// The directory.
        path: PathBuf,
        /// The parent that stops xend.
        blocker: PathBuf,
        /// Its mode.
        mode: u32,
        /// Its owner.
        owner: u32,
        /// Its group.
        group: u32,
        /// xend's uid.
        uid: u32,
    },
    /// A directory of xend's is someone else's, or open to others.
    #[error(
        "{}: owned by {owner}, mode {mode:04o}: it needs owner uid {uid}, and no write for \
         group or others (0700)",
        path.display()
    )]
    NotOurs {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its mode.
        mode: u32,
        /// xend's uid.
        uid: u32,
    },
}

impl Layout {
    /// System mode's layout beneath `root` (`$XVM_ROOT` or `/`).
    pub fn system(root: &Path) -> Layout {
        let lib = root.join("var/lib/xend");
        Layout {
            run: root.join("run/xend"),
            // xend's own storage, and where Xen's tools and Debian's
            // guides keep images (root's, mode 0600: the foreign-images
            // feature opens them, and changes nothing about them).
            image_dirs: vec![lib.join("storage"), root.join("var/lib/xen/images")],
            xenstore: env_path("XENSTORED_PATH")
                .unwrap_or_else(|| root.join("run/xenstored/socket")),
            managed: lib.join("domains"),
            state: vec![
                state_dir(lib.clone(), false),
                state_dir(lib.join("domains"), true),
                state_dir(lib.join("storage"), false),
            ],
        }
    }

    /// Session mode's layout: the user's run and data directories.
    pub fn session() -> Result<Layout, LayoutError> {
        let rt = session_run()?;
        let data = session_data()?;
        Ok(Layout {
            run: rt.join("xend"),
            image_dirs: vec![data.join("images")],
            xenstore: env_path("XENSTORED_PATH").unwrap_or_else(|| rt.join("xenstored/socket")),
            managed: data.join("domains"),
            state: vec![state_dir(data.join("domains"), true)],
        })
    }

    /// Before the privilege drop: the run directory made 0711 (the 0666
    /// socket reachable, the names in it not listed) and the state
    /// directories 0700, each given to `owner` (system mode) when xend
    /// made it or it is the run directory. Missing parents are made 0755;
    /// existing ones are left as they are. A state directory xend cannot
    /// create is left to [`Layout::check`] to report.
    pub fn prepare(&self, owner: Option<&User>) -> Result<(), LayoutError> {
        make(&self.run, 0o711)?;
        chmod(&self.run, 0o711)?;
        if let Some(u) = owner {
            chown(&self.run, u)?;
        }
        for StateDir { path: dir, .. } in &self.state {
            if dir.exists() {
                continue;
            }
            if let Some(parent) = dir.parent() {
                // Permission denied here is for check to explain.
                if make(parent, 0o755).is_err() {
                    continue;
                }
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => continue,
                Err(source) => {
                    return Err(LayoutError::Make {
                        step: "mkdir",
                        path: dir.clone(),
                        source,
                    });
                }
            }
            chmod(dir, 0o700)?;
            if let Some(u) = owner {
                chown(dir, u)?;
            }
        }
        Ok(())
    }

    /// After the privilege drop, as `uid`: each state directory exists,
    /// is reachable, is `uid`'s (or, when xend only reads it, root's),
    /// and is not writable by group or others.
    pub fn check(&self, uid: u32) -> Result<(), LayoutError> {
        for d in &self.state {
            check_dir(&d.path, d.writes, uid)?;
        }
        Ok(())
    }
}

fn check_dir(dir: &Path, writes: bool, uid: u32) -> Result<(), LayoutError> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(blocked(dir, uid));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LayoutError::Missing {
                path: dir.to_path_buf(),
                uid,
            });
        }
        Err(source) => {
            return Err(LayoutError::Make {
                step: "stat",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let owner_ok = meta.uid() == uid || (!writes && meta.uid() == 0);
    if !meta.is_dir() || !owner_ok || meta.mode() & 0o022 != 0 {
        return Err(LayoutError::NotOurs {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            mode: meta.mode() & 0o7777,
            uid,
        });
    }
    Ok(())
}

/// The first parent of `dir` that `uid` cannot search, as an error (the
/// closest one when each can be read but the path still is refused).
fn blocked(dir: &Path, uid: u32) -> LayoutError {
    let mut blocker = dir.parent().unwrap_or(dir).to_path_buf();
    let mut seen = (0, 0, 0);
    for p in dir
        .ancestors()
        .skip(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let Ok(m) = std::fs::metadata(p) else {
            break;
        };
        let searchable = if m.uid() == uid {
            m.mode() & 0o100 != 0
        } else {
            // Group membership aside: the state directories need the
            // others' bit or xend's own ownership.
            m.mode() & 0o001 != 0
        };
        blocker = p.to_path_buf();
        seen = (m.mode() & 0o7777, m.uid(), m.gid());
        if !searchable {
            break;
        }
    }
    LayoutError::Unreachable {
        path: dir.to_path_buf(),
        blocker,
        mode: seen.0,
        owner: seen.1,
        group: seen.2,
        uid,
    }
}

fn make(dir: &Path, mode: u32) -> Result<(), LayoutError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|source| LayoutError::Make {
            step: "mkdir",
            path: dir.to_path_buf(),
            source,
        })
}

fn chmod(dir: &Path, mode: u32) -> Result<(), LayoutError> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        LayoutError::Make {
            step: "chmod",
            path: dir.to_path_buf(),
            source,
        }
    })
}

fn chown(dir: &Path, u: &User) -> Result<(), LayoutError> {
    std::os::unix::fs::chown(dir, Some(u.uid), Some(u.gid)).map_err(|source| LayoutError::Make {
        step: "chown",
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    /// A fresh scratch directory (removed when dropped) and the root
    /// beneath it that the layout is made in (not made yet).
    fn tmp(name: &str) -> (Scratch, PathBuf) {
        let s = Scratch::new(&format!("layout-{name}"));
        let root = s.join("root");
        (s, root)
    }

    fn me() -> u32 {
        std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
    }

    #[test]
    fn prepare_makes_what_is_missing_and_check_accepts_it() {
        let (_scratch, root) = tmp("fresh");
        let l = Layout::system(&root);
        l.prepare(None).expect("prepared");
        l.check(me()).expect("checked");
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.mode() & 0o7777).ok();
        assert_eq!(mode(&root.join("var/lib")), Some(0o755));
        assert_eq!(mode(&l.managed), Some(0o700));
        assert_eq!(mode(&l.run), Some(0o711));
    }

    #[test]
    fn check_names_the_path_and_what_it_needs() {
        let (_scratch, root) = tmp("bad");
        let l = Layout::system(&root);
        let e = l.check(me()).expect_err("nothing there").to_string();
        assert!(e.contains("var/lib/xend: missing"), "{e}");
        assert!(e.contains("mode 0700"), "{e}");
        l.prepare(None).expect("prepared");
        chmod(&l.managed, 0o777).expect("opened up");
        let e = l.check(me()).expect_err("open to all").to_string();
        assert!(e.contains("domains: owned by"), "{e}");
        assert!(e.contains("mode 0777"), "{e}");
        let e = l
            .check(me().wrapping_add(1))
            .expect_err("not ours")
            .to_string();
        assert!(e.contains("it needs owner uid"), "{e}");
    }

    /// The case of issue 11: `var/lib` left 0700 root by the restarter.
    /// xend, as its account, is told which parent stops it and what it
    /// needs, not a bare "Permission denied" at the first `xm new`.
    #[test]
    fn a_parent_xend_cannot_search_is_named_with_its_mode_and_owner() {
        if !xvm_tests::require_root("a_parent_xend_cannot_search_is_named_with_its_mode_and_owner")
        {
            return;
        }
        const XVM: u32 = 48_870;
        let (_scratch, root) = tmp("unreachable");
        let l = Layout::system(&root);
        let account = User {
            name: "xvm".into(),
            uid: XVM,
            gid: XVM,
        };
        l.prepare(Some(&account)).expect("prepared as root");
        chmod(&root, 0o755).expect("root reachable");
        chmod(&root.join("var"), 0o755).expect("var reachable");
        chmod(&root.join("var/lib"), 0o700).expect("var/lib as the restarter left it");
        let lib = root.join("var/lib").display().to_string();
        let verdict = privlib::testing::as_user(XVM, &[], move || match l.check(XVM) {
            Ok(()) => Err("var/lib 0700 root was not refused".into()),
            Err(e) => {
                let e = e.to_string();
                let want = format!("{lib} is mode 0700 owned by 0:0; it needs search permission");
                if e.contains("not reachable by xend (uid 48870)") && e.contains(&want) {
                    Ok(())
                } else {
                    Err(format!("{e} (wanted {want})").into())
                }
            }
        });
        verdict.expect("refused by name");
    }
}
