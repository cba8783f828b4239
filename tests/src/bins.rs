//! The workspace's built binaries.
//!
//! `CARGO_BIN_EXE_*` names only a crate's own binaries, so the fixture
//! finds the others where cargo puts every binary of the workspace: the
//! profile directory above the test executable's `deps/`.

use std::path::PathBuf;

use crate::error::Error;

/// The profile directory (`target/debug`, ...) the running test belongs to.
pub fn bindir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The built binary `name`, or an error saying how to build it.
pub fn bin(name: &str) -> Result<PathBuf, Error> {
    let path = bindir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::NotBuilt { path })
    }
}
