//! What the `ppriv` tool prints and does, shaped like illumos ppriv(1).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitStatus;

use crate::caps::{CapMask, cap_name};
use crate::names::{PRIVILEGES, PrivId};
use crate::procfs::{self, ProcCred};
use crate::set::{HeldAnyway, PrivSet, SetSpec, Which};
use crate::spawn::{Spawn, SpawnError};

/// `ppriv -l [-v] [set...]`: privilege names in table order, with `-v`
/// each one's meaning and Linux backing; capabilities of the running kernel
/// that this build does not know are listed too.
pub fn list(only: Option<&PrivSet>, verbose: bool, last_cap: u8) -> String {
    let mut out = String::new();
    for p in PrivId::all().filter(|p| only.is_none_or(|s| s.has(*p))) {
        let info = p.info();
        let _ = writeln!(out, "{}", info.name);
        if verbose {
            let _ = writeln!(out, "\t{}", info.summary);
            let _ = writeln!(
                out,
                "\t{}{}",
                if info.basic { "basic; " } else { "" },
                info.backing_text()
            );
        }
    }
    let known = PRIVILEGES
        .iter()
        .fold(CapMask::EMPTY, |m, p| m.union(p.caps()));
    let extra = CapMask::upto(last_cap).minus(known);
    if only.is_none() {
        for cap in extra.iter() {
            let _ = writeln!(out, "{}", cap_name(cap));
            if verbose {
                let _ = writeln!(
                    out,
                    "\tcapability {cap} of the running kernel, unknown to this build\n\tonly the set \"all\" holds it"
                );
            }
        }
    }
    out
}

fn flags(c: &ProcCred) -> String {
    let mut f = Vec::new();
    if c.no_new_privs {
        f.push("NO_NEW_PRIVS");
    }
    match c.seccomp {
        1 => f.push("SECCOMP_STRICT"),
        2 => f.push("SECCOMP_FILTER"),
        _ => {}
    }
    if f.is_empty() {
        "<none>".to_string()
    } else {
        f.join("|")
    }
}

/// `ppriv [-v] PID`: the header, flags, ids and the E, I, P, L lines.
pub fn show(c: &ProcCred, cmdline: &str, verbose: bool) -> String {
    let sets = c.sets();
    let mut out = String::new();
    let args: String = cmdline.chars().take(70).collect();
    let _ = writeln!(
        out,
        "{}:\t{}",
        c.pid,
        if args.is_empty() { &c.name } else { &args }
    );
    let _ = writeln!(out, "flags = {}", flags(c));
    let groups: Vec<String> = c.groups.iter().map(u32::to_string).collect();
    let ids = |v: &[u32; 4]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    let _ = writeln!(
        out,
        "\tuid: {}  gid: {}  groups: {}",
        ids(&c.uid),
        ids(&c.gid),
        if groups.is_empty() {
            "none".to_string()
        } else {
            groups.join(",")
        }
    );
    for w in Which::ALL {
        let s = sets.get(w);
        let text = if verbose {
            s.to_literal()
        } else {
            s.to_string()
        };
        let _ = writeln!(out, "\t{}: {}", w.letter(), text);
    }
    if verbose {
        let _ = writeln!(
            out,
            "\tcaps: E={:#018x} I={:#018x} P={:#018x} L={:#018x} ambient={}",
            c.caps.effective.0, c.caps.inheritable.0, c.caps.permitted.0, c.bounding.0, c.ambient
        );
        if c.basic_unknown() {
            let _ = writeln!(
                out,
                "\tnote: a seccomp filter is installed; /proc cannot tell which basic privileges it removed"
            );
        }
    }
    out
}

/// `ppriv [-v] PID|self ...` for one process.
pub fn show_pid(proc_root: &Path, pid: &str, verbose: bool) -> Result<String, procfs::ProcError> {
    let c = procfs::read_cred(proc_root, pid)?;
    Ok(show(&c, &procfs::read_cmdline(proc_root, pid), verbose))
}

/// Why `ppriv -e` could not run the command.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Our own sets could not be read.
    #[error(transparent)]
    Sets(#[from] crate::process::PrivError),
    /// The command could not be started.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// Waiting for it failed.
    #[error("waiting for the command: {0}")]
    Wait(#[from] std::io::Error),
    /// The specifications ask for a set Linux cannot make: one without a
    /// privilege whose capabilities other members keep (`L-file_dac_read`
    /// leaves CAP_DAC_READ_SEARCH to `file_dac_search`). Run as asked, the
    /// command would hold what was taken out, so it is not run.
    #[error("cannot make that {} set: {held}", .set.letter())]
    HeldAnyway {
        /// The set (I or L).
        set: Which,
        /// What it would hold all the same.
        held: HeldAnyway,
    },
}

/// The sets `ppriv -e` runs a command with: `current` with the I and L
/// parts of `specs` applied, refused if a set it changed leaves out a
/// privilege whose capabilities it still holds.
pub fn exec_sets(
    mut current: crate::set::PrivSets,
    specs: &[SetSpec],
    last_cap: u8,
) -> Result<crate::set::PrivSets, ExecError> {
    let mut touched = Vec::new();
    for spec in specs {
        let mut s = spec.clone();
        s.sets
            .retain(|w| matches!(w, Which::Inheritable | Which::Limit));
        touched.extend(s.sets.iter().copied());
        s.apply(&mut current);
    }
    for set in [Which::Inheritable, Which::Limit] {
        if !touched.contains(&set) {
            continue;
        }
        if let Some(held) = current.get(set).held_anyway(last_cap).into_iter().next() {
            return Err(ExecError::HeldAnyway { set, held });
        }
    }
    Ok(current)
}

/// `ppriv -e -s SPEC... cmd args`: runs the command with the I and L parts
/// of the specifications applied (illumos ignores E and P there: the new
/// program gets E = P = I ∩ L by the exec rules). The command runs as a
/// child so that a removed `proc_exec` can let exactly its own exec through;
/// its environment, ids and fds are ours. Sets that Linux cannot make
/// (see [`ExecError::HeldAnyway`]) are refused before anything runs.
pub fn exec(specs: &[SetSpec], cmd: &[OsString]) -> Result<ExitStatus, ExecError> {
    let sets = exec_sets(crate::process::getppriv()?, specs, crate::last_cap())?;
    let (prog, rest) = cmd.split_first().ok_or_else(|| SpawnError::Invalid {
        program: String::new(),
        why: crate::spawn::Invalid::NoCommand,
    })?;
    let mut child = Spawn::new(prog)
        .args(rest)
        .envs(std::env::vars_os())
        .privileges(sets.inheritable)
        .limit(sets.limit)
        .no_new_privs(false)
        .lock_securebits(false)
        .spawn()?;
    Ok(child.wait()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_every_kernel_capability() {
        let text = list(None, true, 45);
        for cap in 0..=45u8 {
            assert!(text.contains(&cap_name(cap)), "{} missing", cap_name(cap));
        }
        assert!(text.contains("proc_info\n\t"));
        assert!(text.contains("not enforced on Linux"));
        assert!(list(None, false, 40).lines().all(|l| !l.starts_with('\t')));
    }

    #[test]
    fn list_expands_a_set() {
        let only = PrivSet::parse("basic", 40).expect("basic");
        assert_eq!(list(Some(&only), false, 40).lines().count(), 9);
    }

    #[test]
    fn exec_refuses_a_set_linux_cannot_make() {
        let all = PrivSet::all(40);
        let root = crate::set::PrivSets {
            effective: all,
            inheritable: PrivSet::none(),
            permitted: all,
            limit: all,
        };
        let spec = |t: &str| SetSpec::parse(t, 40).expect(t);
        let e = exec_sets(root, &[spec("L-file_dac_read")], 40).expect_err("shared");
        assert_eq!(
            e.to_string(),
            "cannot make that L set: file_dac_read cannot be left out while file_dac_search stays: on Linux both are cap_dac_read_search, which a set holds for all of them or for none (take out file_dac_read,file_dac_search together, or neither)"
        );
        let e = exec_sets(root, &[spec("I=basic,file_dac_search")], 40).expect_err("shared");
        assert!(e.to_string().starts_with("cannot make that I set: "), "{e}");
        // Both together, or in two specifications, is what was meant.
        let sets =
            exec_sets(root, &[spec("L-file_dac_read,file_dac_search")], 40).expect("both out");
        assert!(!sets.limit.caps(40).has(crate::caps::num::DAC_READ_SEARCH));
        exec_sets(
            root,
            &[spec("L-file_dac_read"), spec("L-file_dac_search")],
            40,
        )
        .expect("both out, in two steps");
        // E and P are not used by exec, so not refused for it either.
        exec_sets(root, &[spec("E-file_dac_read")], 40).expect("E is ignored");
    }

    #[test]
    fn show_prints_the_four_sets() {
        let c = procfs::read_cred(Path::new("/proc"), "self").expect("self");
        let text = show(&c, "x", false);
        for l in ["\tE: ", "\tI: ", "\tP: ", "\tL: ", "flags = ", "\tuid: "] {
            assert!(text.contains(l), "{l:?} missing in {text}");
        }
    }
}
