//! The host's size, for Domain-0's row as Xen's `xm list` shows it: all
//! of the host's memory and CPUs (on Linux the host is dom0).

use std::path::Path;

/// /proc/meminfo is a few kilobytes.
const MEMINFO_MAX: u64 = 64 * 1024;
/// The online CPUs, as ranges: a short line even on large hosts.
const CPU_ONLINE_MAX: u64 = 4096;
/// More CPUs than any host has: a range past it is not believed.
const CPUS_MAX: u64 = 1 << 20;

/// The host's memory (MiB, 0 when /proc/meminfo cannot be read) and CPU
/// count (at least 1): the host's online CPUs, as Xen shows dom0's, not
/// those this process may run on (`available_parallelism` counts only
/// those, limited by affinity and cgroups), which it falls back to when
/// `/sys` cannot be read.
pub fn host_size() -> (u64, u64) {
    let mem_kib = privlib::bounded::read_to_string(Path::new("/proc/meminfo"), MEMINFO_MAX)
        .ok()
        .and_then(|m| mem_total_kib(&m))
        .unwrap_or(0);
    let cpus = privlib::bounded::read_to_string(
        Path::new("/sys/devices/system/cpu/online"),
        CPU_ONLINE_MAX,
    )
    .ok()
    .and_then(|l| count_cpus(&l))
    .unwrap_or_else(|| {
        let n = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        u64::try_from(n).unwrap_or(u64::MAX)
    });
    (mem_kib / 1024, cpus)
}

/// The CPUs in a cpu list as the kernel writes it (`0-3,8,10-11`); `None`
/// when it is not one (empty, a range backwards or past [`CPUS_MAX`]).
fn count_cpus(list: &str) -> Option<u64> {
    let mut n = 0u64;
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u64>().ok()?, hi.parse::<u64>().ok()?),
            None => {
                let c = part.parse::<u64>().ok()?;
                (c, c)
            }
        };
        if lo > hi || hi >= CPUS_MAX {
            return None;
        }
        n = n.checked_add(hi - lo + 1)?;
    }
    (n > 0).then_some(n)
}

/// `MemTotal:` of /proc/meminfo, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_cpu_ranges_are_counted() {
        assert_eq!(count_cpus("0\n"), Some(1));
        assert_eq!(count_cpus("0-3\n"), Some(4));
        assert_eq!(count_cpus("0-3,8\n"), Some(5));
        assert_eq!(count_cpus("0,2,4-7,10-11"), Some(8));
        for bad in ["", "\n", "3-1", "0-", "-1", "a", "0,,1", "0-1048576"] {
            assert_eq!(count_cpus(bad), None, "{bad:?}");
        }
        // This host's list reads, and is what dom0 shows.
        if let Ok(l) = std::fs::read_to_string("/sys/devices/system/cpu/online") {
            assert_eq!(host_size().1, count_cpus(&l).expect("the kernel's list"));
        }
    }

    #[test]
    fn memtotal_is_read_and_the_host_has_a_size() {
        let m = "MemFree:  10 kB\nMemTotal:       16318756 kB\n";
        assert_eq!(mem_total_kib(m), Some(16_318_756));
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
        let (mem, cpus) = host_size();
        assert!(mem > 0 && cpus > 0, "{mem} MiB, {cpus} CPUs");
    }
}
