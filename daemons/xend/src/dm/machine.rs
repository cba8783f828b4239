//! The machine qemu emulates for a domain's config: the board and its
//! accelerator, memory, vcpus and the boot order.

use crate::config::DomainConfig;

/// The machine's part of qemu's command line for `c`, with KVM or TCG.
pub fn args(c: &DomainConfig, kvm: bool) -> Vec<String> {
    let accel = if kvm { "kvm" } else { "tcg" };
    vec![
        "-machine".into(),
        format!("pc,accel={accel}"),
        "-m".into(),
        c.memory_mib.to_string(),
        "-smp".into(),
        c.vcpus.to_string(),
        "-boot".into(),
        format!("order={}", c.boot),
    ]
}
