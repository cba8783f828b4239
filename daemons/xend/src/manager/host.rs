//! The host's size, for Domain-0's row as Xen's `xm list` shows it: all
//! of the host's memory and CPUs (on Linux the host is dom0).

use std::path::Path;

/// /proc/meminfo is a few kilobytes.
const MEMINFO_MAX: u64 = 64 * 1024;

/// The host's memory (MiB, 0 when /proc/meminfo cannot be read) and CPU
/// count (at least 1).
pub fn host_size() -> (u64, u64) {
    let mem_kib = privlib::bounded::read_to_string(Path::new("/proc/meminfo"), MEMINFO_MAX)
        .ok()
        .and_then(|m| mem_total_kib(&m))
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (mem_kib / 1024, u64::try_from(cpus).unwrap_or(u64::MAX))
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
    fn memtotal_is_read_and_the_host_has_a_size() {
        let m = "MemFree:  10 kB\nMemTotal:       16318756 kB\n";
        assert_eq!(mem_total_kib(m), Some(16_318_756));
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
        let (mem, cpus) = host_size();
        assert!(mem > 0 && cpus > 0, "{mem} MiB, {cpus} CPUs");
    }
}
