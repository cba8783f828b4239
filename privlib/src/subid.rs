//! The device-model uid range must belong to nobody else.
//!
//! xend runs domain N's qemu as `base + N`, and xenstored serves a peer
//! running as that uid as domain N. `/etc/subuid` and `/etc/subgid` hand
//! users ranges of ids they may map into their own user namespaces
//! (Debian's `useradd` gives each user 65,536 from 100,000 up), so a user
//! whose range overlaps could run a process as a device model's uid:
//! act as that domain in the store, and trace or signal its qemu. The
//! daemons refuse to start on such an overlap ([`check_dm_range`]).

use std::path::{Path, PathBuf};

use crate::bounded::{self, FileError};

/// The files that hand out subordinate ids.
pub const FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

/// The largest file checked. Debian's `useradd` writes about 20 bytes a
/// user, so this is some 200,000 users; a larger file is refused whole,
/// never cut short: a range past the cut would go unchecked.
pub const MAX_LEN: u64 = 4 << 20;

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
    /// A file could not be read whole (it is larger than [`MAX_LEN`], not
    /// a regular file, not text, or unreadable): its ranges are unknown, so
    /// the range cannot be shown free.
    #[error("{source}: cannot check the device-model uid range against it")]
    Read {
        /// Why, naming the file.
        #[source]
        source: FileError,
    },
}

/// Refuses a device-model range `base .. base + count` that overlaps a
/// range in any of `files` (a missing file hands out nothing).
pub fn check_dm_range_in(files: &[&Path], base: u32, count: u32) -> Result<(), DmRangeError> {
    let lo = u64::from(base);
    let hi = lo + u64::from(count.max(1)) - 1;
    for file in files {
        let text = match bounded::read_to_string(file, MAX_LEN) {
            Ok(text) => text,
            // A missing file hands out nothing.
            Err(FileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(source) => return Err(DmRangeError::Read { source }),
        };
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

    #[test]
    fn an_oversized_file_is_refused_naming_it_not_cut_short() {
        let dir = std::env::temp_dir().join(format!("xvm-subid-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("subuid");
        // Free ranges up to the bound, then one that overlaps past it: a
        // reader that stopped at the bound would call the range free.
        let filler = "nobody:1:1\n";
        let mut text = filler.repeat(usize::try_from(MAX_LEN).expect("fits") / filler.len());
        text.push_str("mallory:200000:1000\n");
        assert!(text.len() as u64 > MAX_LEN);
        std::fs::write(&f, &text).expect("write");
        let e = check_dm_range_in(&[&f], 200_000, 10).expect_err("refused");
        assert!(
            matches!(
                &e,
                DmRangeError::Read {
                    source: FileError::TooLarge { max: MAX_LEN, .. }
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains(&f.display().to_string()), "{msg}");
        // Even a range the file's readable part leaves free is refused.
        assert!(check_dm_range_in(&[&f], 900_000, 10).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
