//! What xend reads about a process in /proc: a process's identity (start
//! time and real uid, to tell it from a later one given the same pid) and
//! the live processes of a uid. `privlib::procfs` reads only
//! /proc/PID/status; this is the one reader of /proc/PID/stat in xend.

use std::path::Path;

/// Why /proc/PID/stat could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcStatError {
    /// The file could not be read (the process is gone, or over the bound).
    #[error("pid {pid}: {source}")]
    Read {
        /// The process.
        pid: i32,
        /// The cause.
        #[source]
        source: privlib::bounded::FileError,
    },
    /// Too few fields after the command name.
    #[error("pid {pid}: unreadable stat")]
    Parse {
        /// The process.
        pid: i32,
    },
    /// The start time is not a number.
    #[error("pid {pid}: start time: {source}")]
    StartTime {
        /// The process.
        pid: i32,
        /// The cause.
        #[source]
        source: std::num::ParseIntError,
    },
    /// Its credentials (/proc/PID/status) could not be read.
    #[error("pid {pid}: {source}")]
    Cred {
        /// The process.
        pid: i32,
        /// The cause.
        #[source]
        source: privlib::procfs::ProcError,
    },
}

/// /proc/PID/stat is a line of a few hundred bytes (the command name is
/// at most 64 of them).
const STAT_MAX: u64 = 4096;

/// The fields of /proc/PID/stat after the command name, which may hold
/// anything: they follow its last `)`.
struct Stat {
    /// Field 3 (the state) on.
    fields: Vec<String>,
}

impl Stat {
    fn read(pid: i32) -> Result<Stat, ProcStatError> {
        let path = format!("/proc/{pid}/stat");
        let stat = privlib::bounded::read_to_string(Path::new(&path), STAT_MAX)
            .map_err(|source| ProcStatError::Read { pid, source })?;
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        Ok(Stat {
            fields: rest.split_whitespace().map(str::to_string).collect(),
        })
    }

    /// Field `n` (from 1, as proc(5) counts; `n` >= 3).
    fn field(&self, n: usize) -> Option<&str> {
        self.fields.get(n.checked_sub(3)?).map(String::as_str)
    }
}

/// A process's start time (clock ticks since boot, /proc/PID/stat field
/// 22) and real uid.
pub(crate) fn proc_identity(pid: i32) -> Result<(u64, u32), ProcStatError> {
    let stat = Stat::read(pid)?;
    let field = stat.field(22).ok_or(ProcStatError::Parse { pid })?;
    let start = field
        .parse()
        .map_err(|source| ProcStatError::StartTime { pid, source })?;
    let cred = privlib::procfs::read_cred(Path::new("/proc"), &pid.to_string())
        .map_err(|source| ProcStatError::Cred { pid, source })?;
    Ok((start, cred.uid[0]))
}

/// Whether `pid` is a zombie (it can do nothing any more).
fn zombie(pid: i32) -> bool {
    Stat::read(pid).is_ok_and(|s| s.field(3).is_some_and(|st| st.starts_with('Z')))
}

/// Every live process running as `uid` (from /proc; zombies left out).
pub(crate) fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|d| d.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            privlib::procfs::read_cred(Path::new("/proc"), &pid.to_string())
                .is_ok_and(|c| c.uid.contains(&uid))
                && !zombie(*pid)
        })
        .collect()
}
