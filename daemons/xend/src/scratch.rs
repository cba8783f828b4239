//! A fresh directory for one unit test (canonical: no symlink on the way
//! to it, so the open-beneath checks see only what the test plants),
//! removed when dropped.

use std::path::{Path, PathBuf};

/// The directory.
#[derive(Debug)]
pub(crate) struct Scratch {
    root: PathBuf,
}

impl Scratch {
    /// `<tmp>/xend-<what>-<pid>`, empty.
    pub(crate) fn new(what: &str) -> Scratch {
        let root = std::env::temp_dir()
            .canonicalize()
            .expect("temp dir")
            .join(format!("xend-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("scratch dir");
        Scratch { root }
    }

    /// The directory itself.
    pub(crate) fn path(&self) -> &Path {
        &self.root
    }

    /// `rel` beneath it.
    pub(crate) fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
