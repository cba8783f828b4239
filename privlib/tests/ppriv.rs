//! The `ppriv` tool, run as a user would.

use std::process::Command;

use xvm_tests::procfs::field;
use xvm_tests::require_root;
use xvm_tests::serial;

fn ppriv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ppriv"))
        .args(args)
        .output()
        .expect("run ppriv");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn all_sets_basic_leaves_no_capability() {
    if !require_root("all_sets_basic_leaves_no_capability") {
        return;
    }
    let _g = serial();
    let (code, out, err) = ppriv(&["-e", "-s", "A=basic", "grep", "Cap", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(&out, k), "0000000000000000", "{k} in {out}");
    }
}

#[test]
fn limit_set_with_file_chown_is_cap_chown_alone() {
    if !require_root("limit_set_with_file_chown_is_cap_chown_alone") {
        return;
    }
    let _g = serial();
    let (code, out, err) = ppriv(&[
        "-e",
        "-s",
        "L=basic,file_chown",
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "CapBnd"), "0000000000000001");
}

#[test]
fn without_proc_fork_the_shell_cannot_fork() {
    let _g = serial();
    let (code, out, err) = ppriv(&[
        "-e",
        "-s",
        "A=basic,!proc_fork",
        "sh",
        "-c",
        "/bin/true && echo forked",
    ]);
    assert!(!out.contains("forked"), "forked anyway: {out}");
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("fork"), "sh says why: {err}");
    // The control: with proc_fork it forks.
    let (_, out, _) = ppriv(&[
        "-e",
        "-s",
        "A=basic",
        "sh",
        "-c",
        "/bin/true && echo forked",
    ]);
    assert_eq!(out, "forked\n");
}

#[test]
fn list_verbose_names_every_kernel_capability() {
    let (code, out, _) = ppriv(&["-l", "-v"]);
    assert_eq!(code, 0);
    let last: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("cap_last_cap")
        .trim()
        .parse()
        .expect("number");
    for cap in 0..=last {
        let name = privlib::caps::cap_name(cap);
        assert!(out.contains(&name), "{name} not in ppriv -l -v");
    }
    assert!(out.contains("xvm_control\n\t") && out.contains("shim:"));
    assert!(
        out.contains("not enforced on Linux"),
        "honest about what Linux lacks"
    );
    let (_, plain, _) = ppriv(&["-l"]);
    assert_eq!(
        plain.lines().count(),
        privlib::names::PRIVILEGES.len() + usize::from(last.saturating_sub(40))
    );
}

#[test]
fn self_prints_the_four_sets_by_name() {
    let (code, out, _) = ppriv(&["self"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains(":\t") && lines[1].starts_with("flags = "),
        "{out}"
    );
    assert!(lines[2].starts_with("\tuid: "), "{out}");
    for (i, l) in ["E", "I", "P", "L"].iter().enumerate() {
        assert!(lines[3 + i].starts_with(&format!("\t{l}: ")), "{out}");
    }
    assert!(lines[4].contains("basic"), "I holds the basic set: {out}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let (code, _, err) = ppriv(&["-e", "-s", "A=basic,file_chwon", "true"]);
    assert_eq!(code, 3);
    assert!(err.contains("file_chwon"), "{err}");
    let (code, _, err) = ppriv(&["-e", "-s", "Q=basic", "true"]);
    assert_eq!(code, 3);
    assert!(err.contains("bad privilege specification"), "{err}");
    let (code, _, err) = ppriv(&["999999999"]);
    assert_eq!(code, 1);
    assert!(err.contains("999999999"), "{err}");
    let (code, _, err) = ppriv(&["-e", "/nonexistent/cmd"]);
    assert_eq!(code, 255);
    assert!(err.contains("/nonexistent/cmd"), "{err}");
}

#[test]
fn a_privilege_sharing_its_capability_cannot_be_taken_out_alone() {
    // file_dac_read and file_dac_search are both CAP_DAC_READ_SEARCH:
    // taking out one would leave the capability, and the command would
    // hold what it was told it lacks. So nothing runs.
    let (code, out, err) = ppriv(&["-e", "-s", "L-file_dac_read", "sh", "-c", "echo ran"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty(), "the command ran: {out}");
    assert_eq!(
        err,
        "ppriv: cannot make that L set: file_dac_read cannot be left out while file_dac_search stays: on Linux both are cap_dac_read_search, which a set holds for all of them or for none (take out file_dac_read,file_dac_search together, or neither)\n"
    );
    let (code, _, err) = ppriv(&["-e", "-s", "I=basic,file_dac_search", "true"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("file_dac_read") && err.contains("file_dac_search"),
        "{err}"
    );
    // ppriv -l -v says so beforehand.
    let (_, list, _) = ppriv(&["-l", "-v"]);
    assert!(
        list.contains(
            "capability: cap_dac_read_search; a set holding it holds file_dac_search too"
        ),
        "{list}"
    );
    if !require_root("a_privilege_sharing_its_capability_cannot_be_taken_out_alone (as root)") {
        return;
    }
    let _g = serial();
    // Both together is what Linux can do: the capability is gone.
    let (code, out, err) = ppriv(&[
        "-e",
        "-s",
        "L-file_dac_read,file_dac_search",
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert_eq!(code, 0, "{err}");
    let bnd = u64::from_str_radix(field(&out, "CapBnd"), 16).expect("hex");
    assert_eq!(
        bnd & (1 << 2),
        0,
        "CAP_DAC_READ_SEARCH still bounded: {out}"
    );
    assert_ne!(bnd & 1, 0, "CAP_CHOWN stays: {out}");
}
