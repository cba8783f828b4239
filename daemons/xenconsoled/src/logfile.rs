//! A console log: appended to, optionally with a timestamp at the start
//! of each line, reopened on SIGHUP (after an outside rotation moved it),
//! and bounded as virtlogd bounds its logs: past `max_size` bytes the file
//! becomes `NAME.1`, `NAME.1` becomes `NAME.2`, ..., and `NAME.K` (K =
//! `backups`) is dropped, so the logs of one domain never hold more than
//! `max_size * (backups + 1)` bytes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The smallest `--log-max-size` taken: a timestamp and a line fit.
pub const MIN_MAX_SIZE: u64 = 4096;

/// How a log is bounded and stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Bytes a file may reach before it is rotated.
    pub max_size: u64,
    /// Rotated files kept.
    pub backups: u32,
    /// Whether each line starts with `[YYYY-MM-DD HH:MM:SS] ` (UTC).
    pub timestamp: bool,
}

/// One log file (`dir/name`), open for appending.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    limits: LogLimits,
    line_start: bool,
}

fn open(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o640)
        .open(path)?;
    // 0640 whatever the umask: the daemon's group may read its logs.
    file.set_permissions(std::fs::Permissions::from_mode(0o640))?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// `[YYYY-MM-DD HH:MM:SS] ` for `t`, in UTC.
pub fn stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "[{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}] ",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl LogFile {
    /// Opens (creating, mode 0640) `path` for appending.
    pub fn open(path: &Path, limits: LogLimits) -> io::Result<LogFile> {
        let (file, size) = open(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            limits: LogLimits {
                max_size: limits.max_size.max(MIN_MAX_SIZE),
                ..limits
            },
            line_start: true,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes and opens the file again by its name (SIGHUP): after an
    /// outside `mv`, a new file.
    pub fn reopen(&mut self) -> io::Result<()> {
        let (file, size) = open(&self.path)?;
        self.file = file;
        self.size = size;
        Ok(())
    }

    fn backup(&self, k: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{k}"));
        PathBuf::from(p)
    }

    /// `NAME.K-1` -> `NAME.K`, ..., `NAME` -> `NAME.1`, then a new `NAME`.
    /// With no backups, the file starts again empty.
    pub fn rotate(&mut self) -> io::Result<()> {
        let k = self.limits.backups;
        if k == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            for i in (1..k).rev() {
                std::fs::rename(self.backup(i), self.backup(i + 1)).or_else(ignore_missing)?;
            }
            std::fs::rename(&self.path, self.backup(1)).or_else(ignore_missing)?;
        }
        self.reopen()
    }

    /// Appends `data` (stamped at each line start when asked), rotating
    /// whenever the file would pass its maximum size.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.limits.timestamp && self.line_start {
                let s = stamp(SystemTime::now());
                self.room_for(s.len())?;
                self.put(s.as_bytes())?;
                self.line_start = false;
            }
            // This line (to its newline) or what is left.
            let line = if self.limits.timestamp {
                rest.iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |i| i + 1)
            } else {
                rest.len()
            };
            let room = self.room_for(1)?;
            let n = line.min(room);
            self.put(&rest[..n])?;
            if self.limits.timestamp && rest[n - 1] == b'\n' {
                self.line_start = true;
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Rotates first when fewer than `want` bytes fit; how many fit then.
    fn room_for(&mut self, want: usize) -> io::Result<usize> {
        let left = self.limits.max_size.saturating_sub(self.size);
        if left < u64::try_from(want).unwrap_or(u64::MAX) {
            self.rotate()?;
        }
        let left = self.limits.max_size.saturating_sub(self.size).max(1);
        Ok(usize::try_from(left).unwrap_or(usize::MAX))
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.file.write_all(b)?;
        self.size += u64::try_from(b.len()).unwrap_or(u64::MAX);
        Ok(())
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// A domain's log file name, `guest-NAME.log`: the name as the store has
/// it when it is a plain one (letters, digits, `.`, `_`, `-`, at most 64,
/// not starting with `.`), else the domid. The store's `name` is the
/// guest's to change, so it never chooses a path.
pub fn guest_log_name(name: &str, domid: u32) -> String {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        format!("guest-{name}.log")
    } else {
        format!("guest-{domid}.log")
    }
}

#[cfg(test)]
#[path = "logfile_tests.rs"]
mod tests;
