//! Shared by the device-model tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub use xend::testguest::BANNER;

/// The test guest's disk.
pub fn boot_sector() -> Vec<u8> {
    xend::testguest::image()
}

fn field(pid: i32, key: &str) -> Result<String, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    s.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

/// Checks from /proc that `pid` is a device model with no privilege: uid
/// and gid `id`, every capability set empty, no_new_privs, seccomp, its
/// own mount namespace, and a /dev of null, urandom, zero (and kvm).
pub fn check_unprivileged_qemu(pid: i32, id: u32) -> Result<(), String> {
    let e = |e: std::io::Error| e.to_string();
    let id_s = id.to_string();
    for k in ["Uid", "Gid"] {
        let v = field(pid, k)?;
        if !v.split_whitespace().all(|u| u == id_s) {
            return Err(format!("qemu {k}: {v}, want {id}"));
        }
    }
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = field(pid, k)?;
        if !v.trim_start_matches('0').is_empty() {
            return Err(format!("qemu {k}: {v}"));
        }
    }
    if field(pid, "NoNewPrivs")? != "1" || field(pid, "Seccomp")? != "2" {
        return Err("qemu lacks no_new_privs or seccomp".into());
    }
    let ours = std::fs::read_link("/proc/self/ns/mnt").map_err(e)?;
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).map_err(e)?;
    if ours == theirs {
        return Err("qemu shares our mount namespace".into());
    }
    let mut dev: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root/dev"))
        .map_err(e)?
        .filter_map(Result::ok)
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    dev.sort();
    dev.retain(|n| n != "kvm");
    if dev != ["null", "urandom", "zero"] {
        return Err(format!("qemu's /dev: {dev:?}"));
    }
    Ok(())
}
