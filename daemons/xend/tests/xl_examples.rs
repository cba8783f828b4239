//! The example configs Debian's xen-utils-common ships: the HVM one
//! parses (reporting what it does not support), the PV ones are refused
//! with the reason.

use std::path::Path;

use xvm_tests::skip::require_file;

#[test]
fn debians_examples_parse_or_are_refused_with_the_reason() {
    let test = "debians_examples_parse_or_are_refused_with_the_reason";
    if !require_file(test, "/etc/xen/xlexample.hvm", "xen-utils-common") {
        return;
    }
    let c = xend::config::load(Path::new("/etc/xen/xlexample.hvm")).expect("xlexample.hvm parses");
    assert_eq!(
        (c.name.as_str(), c.memory_mib, c.vcpus),
        ("example.hvm", 128, 2)
    );
    assert_eq!(c.disks.len(), 1);
    assert_eq!(c.disks[0].vdev, "xvda");
    let unsupported: Vec<&str> = c.unsupported.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        unsupported.contains(&"vif") && unsupported.contains(&"sdl"),
        "{unsupported:?}"
    );
    for pv in ["/etc/xen/xlexample.pvlinux", "/etc/xen/xlexample.pvhlinux"] {
        if Path::new(pv).exists() {
            let e = xend::config::load(Path::new(pv)).expect_err(pv).to_string();
            assert!(e.starts_with(pv) && e.contains("not supported here"), "{e}");
        }
    }
}
