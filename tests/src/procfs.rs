//! What `/proc` says about a process: the proof, for the invariants, that
//! a daemon or device model runs with what it was configured to keep.

use std::path::Path;

use crate::error::{Error, check};

/// The value of `Key:` in a `/proc/PID/status` text, trimmed ("" when
/// absent).
pub fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map_or("", str::trim)
}

/// The value of `key` in `/proc/pid/status`.
pub fn status_field(pid: i32, key: &str) -> Result<String, Error> {
    let p = format!("/proc/{pid}/status");
    let s = std::fs::read_to_string(&p).map_err(Error::io("read", &p))?;
    let v = field(&s, key);
    check(!v.is_empty(), format!("{p}: no {key}"))?;
    Ok(v.to_string())
}

/// A capability set of `pid` (`CapEff`, `CapPrm`, ...) as a mask.
pub fn caps(pid: i32, set: &str) -> Result<u64, Error> {
    let v = status_field(pid, set)?;
    u64::from_str_radix(&v, 16).map_err(|_| Error::Check(format!("pid {pid} {set}: {v:?}")))
}

/// Whether `pid` runs (is neither gone nor a zombie).
pub fn runs(pid: i32) -> bool {
    status_field(pid, "State").is_ok_and(|s| !s.starts_with('Z'))
}

/// Whether every uid of `pid` (real, effective, saved, fs) is `uid`.
pub fn runs_as(pid: i32, uid: u32) -> Result<bool, Error> {
    let want = uid.to_string();
    Ok(status_field(pid, "Uid")?
        .split_whitespace()
        .all(|u| u == want))
}

/// The live processes whose real uid is `uid`.
pub fn processes_of(uid: u32) -> Vec<i32> {
    let want = uid.to_string();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
                .filter(|p| {
                    status_field(*p, "Uid")
                        .is_ok_and(|u| u.split_whitespace().next() == Some(&want))
                        && runs(*p)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one live process running as `uid`.
pub fn process_of(uid: u32) -> Result<i32, Error> {
    processes_of(uid)
        .first()
        .copied()
        .ok_or_else(|| Error::Check(format!("no process runs as uid {uid}")))
}

/// Checks from /proc that `pid` is a device model with no privilege: uid
/// and gid `id`, every capability set empty, no_new_privs, seccomp, its
/// own mount namespace, and a /dev of null, urandom, zero (and kvm).
pub fn check_unprivileged_qemu(pid: i32, id: u32) -> Result<(), Error> {
    let id_s = id.to_string();
    for k in ["Uid", "Gid"] {
        let v = status_field(pid, k)?;
        check(
            v.split_whitespace().all(|u| u == id_s),
            format!("qemu {k}: {v}, want {id}"),
        )?;
    }
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        check(
            caps(pid, k)? == 0,
            format!("qemu {k}: {:#x}", caps(pid, k)?),
        )?;
    }
    check(
        status_field(pid, "NoNewPrivs")? == "1" && status_field(pid, "Seccomp")? == "2",
        "qemu lacks no_new_privs or seccomp",
    )?;
    let ns = |p: &str| std::fs::read_link(p).map_err(Error::io("readlink", p));
    check(
        ns("/proc/self/ns/mnt")? != ns(&format!("/proc/{pid}/ns/mnt"))?,
        "qemu shares our mount namespace",
    )?;
    let mut dev = dev_nodes(pid)?;
    dev.retain(|n| n != "kvm");
    check(
        dev == ["null", "urandom", "zero"],
        format!("qemu's /dev: {dev:?}"),
    )
}

/// The names in `pid`'s /dev, sorted.
pub fn dev_nodes(pid: i32) -> Result<Vec<String>, Error> {
    let d = format!("/proc/{pid}/root/dev");
    let mut names: Vec<String> = std::fs::read_dir(Path::new(&d))
        .map_err(Error::io("list", &d))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// A device model's command line (`/proc/PID/cmdline`, after the
/// program) with its passed fds replaced by paths, for the same qemu
/// started another way (the benchmarks' baselines): QMP and serial as
/// sockets in `dir`, the kernel and initrd of a direct boot as `kernel`
/// and `initrd`.
pub fn qemu_args_with_paths(
    pid: i32,
    dir: &std::path::Path,
    kernel: &std::path::Path,
    initrd: &std::path::Path,
) -> Result<Vec<String>, Error> {
    let p = format!("/proc/{pid}/cmdline");
    let raw = std::fs::read(&p).map_err(Error::io("read", &p))?;
    let sock = |id: &str, name: &str| {
        format!(
            "socket,id={id},path={},server=on,wait=off",
            dir.join(name).display()
        )
    };
    let out: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .map(|a| {
            if a.starts_with("socket,id=qmp,fd=") {
                sock("qmp", "qmp")
            } else if a.starts_with("socket,id=ser0,fd=") {
                sock("ser0", "serial")
            } else if a == "/proc/self/fd/69" {
                kernel.display().to_string()
            } else if a == "/proc/self/fd/70" {
                initrd.display().to_string()
            } else {
                a
            }
        })
        .collect();
    check(
        out.iter().any(|a| *a == kernel.display().to_string()),
        format!("qemu {pid} boots no kernel by fd: {out:?}"),
    )?;
    Ok(out)
}
