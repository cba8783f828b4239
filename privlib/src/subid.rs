//! The device-model uid range must belong to nobody else.
//!
//! xend runs domain N's qemu as `base + N`, and xenstored serves a peer
//! running as that uid as domain N. `/etc/subuid` and `/etc/subgid` hand
//! users ranges of ids they may map into their own user namespaces
//! (Debian's `useradd` gives each user 65,536 from 100,000 up), so a user
//! whose range overlaps could run a process as a device model's uid:
//! act as that domain in the store, and trace or signal its qemu. The
//! daemons refuse to start on such an overlap ([`check_dm_range`]).

use std::io::Read;
use std::path::{Path, PathBuf};

/// The files that hand out subordinate ids.
pub const FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

/// Bytes read of each file at most.
const MAX_LEN: u64 = 4 << 20;

/// Why a device-model range cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DmRangeError {
    /// A user's subordinate range overlaps it.
    #[error(
        "the device-model uid range {base}-{last} overlaps {}:{line} ({owner}'s {start}-{end}): a user namespace of {owner}'s could act as a domain's device model; choose another --dm-uid-base (svccfg -s svc:/system/xvm/xend setprop xend/dm-uid-base, and the store's)",
        file.display()
    )]
    Overlap {
        /// The first uid of the range.
        base: u64,
        /// Its last uid.
        last: u64,
        /// The file.
        file: PathBuf,
        /// Its line (from 1).
        line: usize,
        /// The user (or uid) it names.
        owner: String,
        /// The subordinate range's first id.
        start: u64,
        /// Its last id.
        end: u64,
    },
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Refuses a device-model range `base .. base + count` that overlaps a
/// range in any of `files` (a missing file hands out nothing).
pub fn check_dm_range_in(files: &[&Path], base: u32, count: u32) -> Result<(), DmRangeError> {
    let lo = u64::from(base);
    let hi = lo + u64::from(count.max(1)) - 1;
    for file in files {
        let mut text = String::new();
        match std::fs::File::open(file) {
            Ok(f) => {
                f.take(MAX_LEN)
                    .read_to_string(&mut text)
                    .map_err(|source| DmRangeError::Read {
                        file: file.to_path_buf(),
                        source,
                    })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(DmRangeError::Read {
                    file: file.to_path_buf(),
                    source,
                });
            }
        }
        for (i, l) in text.lines().enumerate() {
            let mut f = l.trim().splitn(3, ':');
            let (Some(owner), Some(start), Some(n)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let (Ok(start), Ok(n)) = (start.trim().parse::<u64>(), n.trim().parse::<u64>()) else {
                continue;
            };
            if n == 0 {
                continue;
            }
            let end = start.saturating_add(n - 1);
            if start <= hi && lo <= end {
                return Err(DmRangeError::Overlap {
                    base: lo,
                    last: hi,
                    file: file.to_path_buf(),
                    line: i + 1,
                    owner: owner.to_string(),
                    start,
                    end,
                });
            }
        }
    }
    Ok(())
}

/// [`check_dm_range_in`] on `/etc/subuid` and `/etc/subgid`.
pub fn check_dm_range(base: u32, count: u32) -> Result<(), DmRangeError> {
    let files: Vec<&Path> = FILES.iter().map(Path::new).collect();
    check_dm_range_in(&files, base, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlapping_subordinate_range_is_refused_naming_it() {
        let dir = std::env::temp_dir().join(format!("xvm-subid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("subuid");
        // Debian's useradd: 65,536 each from 100,000.
        std::fs::write(&f, "alice:100000:65536\nbob:165536:65536\n# bad line\n").expect("write");
        let e = check_dm_range_in(&[&f], 200_000, 1000).expect_err("overlap");
        let msg = e.to_string();
        assert!(msg.contains("subuid:2 (bob's 165536-231071)"), "{msg}");
        assert!(msg.contains("200000-200999"), "{msg}");
        // Past every range, and a file that is not there: fine.
        check_dm_range_in(&[&f, &dir.join("none")], 300_000, 1000).expect("free");
        // The edges count.
        assert!(check_dm_range_in(&[&f], 231_071, 1).is_err());
        assert!(check_dm_range_in(&[&f], 99_000, 1000).is_ok());
        assert!(check_dm_range_in(&[&f], 99_000, 1001).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
