//! The Linux test guest: Debian's kernel and a busybox initramfs, built
//! by `scripts/guest` from Debian's packages (fetched with apt, unpacked,
//! never installed) and cached in `target/xvm-guest/`.
//!
//! Booted by direct kernel boot (xl.cfg's `kernel`, `ramdisk` and
//! `cmdline` = [`LINUX_CMDLINE`]), it prints [`LINUX_BANNER`] on ttyS0
//! and the screen, then gives a root shell on ttyS0 with the prompt
//! [`LINUX_PROMPT`], respawned when it ends. With a network card it
//! configures eth0: `xvm.ip=ADDR/PREFIX xvm.gw=GW` on the command line,
//! else DHCP; either way it prints `xvm-guest: eth0 ...` on ttyS0.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::error::Error;
use crate::skip::{Skip, skip};

/// The guest's first line of its own on ttyS0 (and on the screen).
pub const LINUX_BANNER: &str = "XVM-LP LINUX GUEST UP";

/// The prompt of its root shell.
pub const LINUX_PROMPT: &str = "xvm-guest# ";

/// The kernel command line to boot it with: messages on the screen and
/// ttyS0 (the last console is `/dev/console`), and a reboot at once on a
/// panic (qemu then ends with the domain's `on_reboot`).
pub const LINUX_CMDLINE: &str = "console=tty0 console=ttyS0,115200 panic=-1";

/// The guest's two files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxGuest {
    /// The kernel (`vmlinuz`).
    pub kernel: PathBuf,
    /// Its initramfs (`initrd.gz`).
    pub initrd: PathBuf,
}

/// The guest, built by `scripts/guest` the first time a process asks
/// (then cached on disk: later runs only print the paths). Root is needed
/// only when nothing is cached and apt must update its lists; the error
/// then says so, with the script's words.
pub fn linux() -> Result<LinuxGuest, Error> {
    static GUEST: OnceLock<Result<LinuxGuest, Error>> = OnceLock::new();
    // Built once; a failure is kept, and each caller gets its text.
    match GUEST.get_or_init(build) {
        Ok(g) => Ok(g.clone()),
        Err(e) => Err(Error::Check(e.to_string())),
    }
}

/// The guest for `test`, or `None` after skipping it (one skip line,
/// after the reason on stderr): nothing cached and the packages not to
/// be had here.
pub fn require_linux_guest(test: &str) -> Option<LinuxGuest> {
    match linux() {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("{test}: the Linux test guest: {e}");
            skip(
                test,
                &Skip::File {
                    path: "target/xvm-guest/vmlinuz",
                    package: "linux-image-amd64 and busybox-static, by scripts/guest",
                },
            );
            None
        }
    }
}

/// Runs `scripts/NAME` (beside this crate) with the cache beside the
/// binaries under test (the target directory above their profile
/// directory) and stdin closed; its path and stdout, or an error with its
/// stderr when it fails.
pub(crate) fn run_script(name: &str) -> Result<(PathBuf, String), Error> {
    let program = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join(name);
    let mut cmd = Command::new(&program);
    if let Some(target) = crate::bins::bindir().parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Check(format!(
            "{} failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok((program, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn build() -> Result<LinuxGuest, Error> {
    let (program, stdout) = run_script("guest")?;
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                Error::Check(format!(
                    "{} printed no {key}FILE that exists: {stdout:?}",
                    program.display()
                ))
            })
    };
    Ok(LinuxGuest {
        kernel: field("kernel=")?,
        initrd: field("initrd=")?,
    })
}
