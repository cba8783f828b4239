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

/// A unit-test module (`tests.rs`, `*_tests.rs`: the tree's convention
/// for `#[cfg(test)]` files), which no release binary is built from.
fn is_test_module(p: &std::path::Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "tests.rs" || n.ends_with("_tests.rs"))
}

/// The newest modification time of a `.rs` or `Cargo.toml` file under
/// `dir` (recursively), unit-test modules left out.
fn newest_source(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for e in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let p = e.path();
        let t = if p.is_dir() {
            newest_source(&p)
        } else if is_test_module(&p) {
            None
        } else if p.extension().is_some_and(|x| x == "rs") || p.ends_with("Cargo.toml") {
            e.metadata().and_then(|m| m.modified()).ok()
        } else {
            None
        };
        newest = newest.max(t);
    }
    newest
}

/// The built binary `name` when it is newer than every source of the
/// workspace directories `sources` (relative to the workspace: the
/// binary's crate and what it links), else an error saying how to
/// rebuild. For a bench: `cargo bench -p xvm-tests` builds only this
/// crate, and a release binary of another crate may be stale.
pub fn fresh_bin(name: &str, sources: &[&str]) -> Result<PathBuf, Error> {
    let path = bin(name)?;
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map_err(Error::io("stat", &path))?;
    let ws = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for s in sources {
        if newest_source(&ws.join(s)).is_some_and(|t| t > built) {
            return Err(Error::Check(format!(
                "{} is older than {s}: run `cargo build --release --workspace --bins` first",
                path.display()
            )));
        }
    }
    Ok(path)
}
