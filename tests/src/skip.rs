//! The one way a test skips.
//!
//! A skip prints one line, `skipped <test>: <reason>`, straight to fd 2
//! (libtest captures the output of passing tests, and a skip must be
//! seen); `scripts/test` counts these lines and groups them by reason.
//! Under `XVM_REQUIRE_ROOT_TESTS=1` (as `.ci/run` sets) a skip of a kind
//! the CI machine must provide panics instead: root, the Debian programs
//! `scripts/deps` installs, and a `/dev/kvm` that opens read-write.

use std::io::Write as _;
use std::path::Path;

/// Why a test cannot run here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip<'a> {
    /// Not root, or root without the capabilities root tests use.
    Root,
    /// A program nobody here wrote, from a Debian package.
    Program {
        /// The program, looked up on the PATH.
        program: &'a str,
        /// The Debian package that has it (`scripts/deps` installs it).
        package: &'a str,
    },
    /// A file a Debian package ships.
    File {
        /// The file.
        path: &'a str,
        /// The package.
        package: &'a str,
    },
    /// No usable `/dev/kvm`; the text says what is wrong with it.
    Kvm(String),
    /// A capability root does not have here (not in this process's
    /// bounding set: a container's root often lacks CAP_SYS_RESOURCE), so
    /// nothing on this machine can be given what the test needs.
    Capability {
        /// Its number.
        cap: u8,
        /// Its name, and what the test needs it for.
        why: &'static str,
    },
}

impl Skip<'_> {
    /// The reason, as the skip line gives it after `: `.
    pub fn reason(&self) -> String {
        match self {
            Skip::Root => "needs root (XVM_REQUIRE_ROOT_TESTS=1 makes this a failure)".into(),
            Skip::Program { program, package } => {
                format!("needs {program} ({package}; scripts/deps installs it as root)")
            }
            Skip::File { path, package } => {
                format!("needs {path} ({package}; scripts/deps installs it as root)")
            }
            Skip::Kvm(why) => format!("needs a usable /dev/kvm ({why})"),
            Skip::Capability { why, .. } => {
                format!("needs a capability root lacks on this machine ({why})")
            }
        }
    }

    /// Whether `XVM_REQUIRE_ROOT_TESTS=1` makes this skip a failure: this
    /// machine could give the test what it needs. A `/dev/kvm` that is
    /// absent or does not open stays a skip; one that opens read-write
    /// leaves no excuse.
    pub fn is_failure_when_required(&self) -> bool {
        match self {
            Skip::Root | Skip::Program { .. } | Skip::File { .. } => true,
            Skip::Kvm(_) => kvm_opens(),
            // A failure where root has it: the machine could give it.
            Skip::Capability { cap, .. } => in_bounding_set(*cap),
        }
    }
}

fn required() -> bool {
    std::env::var("XVM_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1")
}

/// Skips `test` for `why`: prints the skip line, or panics when
/// `XVM_REQUIRE_ROOT_TESTS=1` forbids this kind of skip here.
pub fn skip(test: &str, why: &Skip<'_>) {
    assert!(
        !(required() && why.is_failure_when_required()),
        "{test}: {}, and XVM_REQUIRE_ROOT_TESTS=1 forbids skipping",
        why.reason()
    );
    let _ = writeln!(std::io::stderr(), "skipped {test}: {}", why.reason());
}

/// `true` when `test` may go on; otherwise skips it for `why` (see
/// [`skip`]) and gives `false`.
pub fn require(test: &str, ok: bool, why: &Skip<'_>) -> bool {
    if !ok {
        skip(test, why);
    }
    ok
}

/// `true` when this process is root with what root tests need.
pub fn require_root(test: &str) -> bool {
    require(test, privlib::testing::is_root(), &Skip::Root)
}

/// `true` when `program` is on the PATH.
pub fn require_program(test: &str, program: &str, package: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let found = std::env::split_paths(&path).any(|d| d.join(program).is_file());
    require(test, found, &Skip::Program { program, package })
}

/// `true` when `path` exists.
pub fn require_file(test: &str, path: &str, package: &str) -> bool {
    require(
        test,
        Path::new(path).exists(),
        &Skip::File { path, package },
    )
}

/// The KVM device's number (misc major 10, minor 232: KVM_MINOR).
const KVM_DEV: (u32, u32) = (10, 232);

/// What makes `/dev/kvm` unusable here, if anything: absent, not the KVM
/// device, or not opening read-write.
fn kvm_problem() -> Option<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = match std::fs::metadata("/dev/kvm") {
        Err(e) => return Some(format!("/dev/kvm: {e}")),
        Ok(m) => m,
    };
    let dev = (libc::major(m.rdev()), libc::minor(m.rdev()));
    if !m.file_type().is_char_device() || dev != KVM_DEV {
        return Some(format!("not the KVM device {}:{}", KVM_DEV.0, KVM_DEV.1));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .err()
        .map(|e| format!("it does not open read-write: {e}"))
}

/// Whether `cap` is in this process's bounding set (as `/proc` says).
fn in_bounding_set(cap: u8) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|b| b & (1u64 << cap) != 0)
}

fn kvm_opens() -> bool {
    kvm_problem().is_none()
}

/// `true` when `/dev/kvm` is the KVM device and this process opens it
/// read-write (a test then hands its device model a node of its own).
pub fn require_kvm(test: &str) -> bool {
    match kvm_problem() {
        None => true,
        Some(why) => {
            skip(test, &Skip::Kvm(why));
            false
        }
    }
}
