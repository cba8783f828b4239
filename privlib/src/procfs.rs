//! Reading any process's credentials and privilege sets from `/proc`.
//!
//! The `/proc` root is passed in (`Path::new("/proc")` normally), so tests
//! and hermetic runs can point elsewhere.

use std::path::{Path, PathBuf};

use crate::bounded;
use crate::caps::CapMask;
use crate::process::{default_soft, fully_privileged, sets_from};
use crate::set::PrivSets;
use crate::sys::CapState;

/// /proc status files are a few KiB; the bound keeps a strange file from
/// making us allocate without limit.
const MAX_PROC_FILE: u64 = 1 << 20;

/// What `/proc/PID/status` says about a process's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcCred {
    /// The pid (`Pid:`; as given when the file has none).
    pub pid: String,
    /// `Name:`.
    pub name: String,
    /// Real, effective, saved, filesystem uid.
    pub uid: [u32; 4],
    /// Real, effective, saved, filesystem gid.
    pub gid: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// CapInh, CapPrm, CapEff.
    pub caps: CapState,
    /// CapBnd.
    pub bounding: CapMask,
    /// CapAmb.
    pub ambient: CapMask,
    /// NoNewPrivs.
    pub no_new_privs: bool,
    /// Seccomp mode (0 none, 1 strict, 2 filter).
    pub seccomp: u8,
    /// Threads.
    pub threads: u32,
}

/// Why `/proc` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// No such process, or not readable.
    #[error(transparent)]
    Read(bounded::FileError),
    /// A line that does not parse.
    #[error("{path}: bad {field} line")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
    },
}

fn ids4(v: &str) -> Option<[u32; 4]> {
    let mut it = v.split_whitespace().map(|x| x.parse::<u32>().ok());
    Some([it.next()??, it.next()??, it.next()??, it.next()??])
}

fn hex(v: &str) -> Option<CapMask> {
    u64::from_str_radix(v.trim(), 16).ok().map(CapMask)
}

/// Parses the text of a `status` file.
pub fn parse_status(pid: &str, path: &Path, text: &str) -> Result<ProcCred, ProcError> {
    let bad = |field| ProcError::Parse {
        path: path.to_path_buf(),
        field,
    };
    let mut c = ProcCred {
        pid: pid.to_string(),
        ..ProcCred::default()
    };
    let mut seen = 0u32;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Name" => c.name = v.to_string(),
            "Pid" => c.pid = v.to_string(),
            "Uid" => c.uid = ids4(v).ok_or_else(|| bad("Uid"))?,
            "Gid" => c.gid = ids4(v).ok_or_else(|| bad("Gid"))?,
            "Groups" => {
                c.groups = v
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("Groups"))?;
            }
            "CapInh" => c.caps.inheritable = hex(v).ok_or_else(|| bad("CapInh"))?,
            "CapPrm" => c.caps.permitted = hex(v).ok_or_else(|| bad("CapPrm"))?,
            "CapEff" => c.caps.effective = hex(v).ok_or_else(|| bad("CapEff"))?,
            "CapBnd" => c.bounding = hex(v).ok_or_else(|| bad("CapBnd"))?,
            "CapAmb" => c.ambient = hex(v).ok_or_else(|| bad("CapAmb"))?,
            "NoNewPrivs" => c.no_new_privs = v == "1",
            "Seccomp" => c.seccomp = v.parse().map_err(|_| bad("Seccomp"))?,
            "Threads" => c.threads = v.parse().map_err(|_| bad("Threads"))?,
            _ => continue,
        }
        seen += 1;
    }
    if seen < 7 {
        return Err(bad("Uid/Gid/Cap*"));
    }
    Ok(c)
}

/// Reads `<proc_root>/<pid>/status` (`pid` may be `self`).
pub fn read_cred(proc_root: &Path, pid: &str) -> Result<ProcCred, ProcError> {
    let path = proc_root.join(pid).join("status");
    let text = bounded::read_to_string(&path, MAX_PROC_FILE).map_err(ProcError::Read)?;
    parse_status(pid, &path, &text)
}

/// The command line of a process, space-separated (empty for a kernel thread).
pub fn read_cmdline(proc_root: &Path, pid: &str) -> String {
    bounded::read_to_string(&proc_root.join(pid).join("cmdline"), MAX_PROC_FILE)
        .map(|s| {
            s.split('\0')
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

impl ProcCred {
    /// The privilege sets as far as the kernel's record shows them. Basic
    /// privileges cannot be read back from a seccomp filter or a Landlock
    /// domain: they are shown as held, and [`ProcCred::basic_unknown`] says
    /// when that may not be so.
    pub fn sets(&self) -> PrivSets {
        let full = fully_privileged(self.uid[1], self.caps.permitted);
        sets_from(&self.caps, self.bounding, &default_soft(full))
    }

    /// Whether a seccomp filter or no_new_privs may have taken basic
    /// privileges away that `/proc` cannot show.
    pub fn basic_unknown(&self) -> bool {
        self.seccomp != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::num;

    const STATUS: &str = "Name:\tgrep\nUmask:\t0022\nState:\tR (running)\nTgid:\t42\nPid:\t42\n\
Uid:\t0\t0\t0\t0\nGid:\t60\t60\t60\t60\nGroups:\t60 36 \nThreads:\t1\n\
CapInh:\t0000000000000000\nCapPrm:\t0000000000000001\nCapEff:\t0000000000000001\n\
CapBnd:\t0000000000000001\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";

    #[test]
    fn reads_the_status_fields() {
        let c = parse_status("42", Path::new("/proc/42/status"), STATUS).expect("parses");
        assert_eq!(c.name, "grep");
        assert_eq!(c.gid, [60; 4]);
        assert_eq!(c.groups, [60, 36]);
        assert_eq!(c.caps.effective, CapMask::of(&[num::CHOWN]));
        assert!(c.no_new_privs);
        assert_eq!(c.seccomp, 2);
        let sets = c.sets();
        assert!(sets.limit.to_string().contains("file_chown"));
        assert!(c.basic_unknown());
    }

    #[test]
    fn a_damaged_status_names_the_field() {
        let broken = STATUS.replace("CapEff:\t0000000000000001", "CapEff:\tzz");
        let e = parse_status("42", Path::new("/proc/42/status"), &broken).expect_err("fails");
        assert!(e.to_string().contains("CapEff"), "{e}");
    }

    #[test]
    fn reads_this_process() {
        let c = read_cred(Path::new("/proc"), "self").expect("own status");
        // SAFETY-free check: our real uid as the kernel reports it.
        assert_eq!(
            c.uid[0],
            std::fs::metadata("/proc/self")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap_or(c.uid[0])
        );
    }
}
