//! Starting the real daemon for tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running xenstored.
pub struct Running {
    pub child: Child,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Running {
    pub fn socket(&self) -> PathBuf {
        self.dir.join("socket")
    }

    pub fn socket_ro(&self) -> PathBuf {
        self.dir.join("socket_ro")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the daemon still runs.
    pub fn child_alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `xenstored -N` with `args` and `envs`, its run directory `dir`;
/// waits until it serves.
pub fn start(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Result<Running, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let log = dir.with_extension("log");
    let err = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xenstored"));
    cmd.arg("-N")
        .args(args)
        .env("XENSTORED_RUNDIR", dir)
        .stdin(Stdio::null())
        .stderr(err);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut r = Running {
        child,
        dir: dir.to_path_buf(),
        log,
    };
    let t = Instant::now();
    while !r.log_text().contains("xenstored serving") {
        if let Ok(Some(st)) = r.child.try_wait() {
            return Err(format!("xenstored exited ({st}): {}", r.log_text()));
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err(format!("xenstored did not start: {}", r.log_text()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(r)
}

/// Runs a xenstore-utils command against `socket`.
pub fn xs(socket: &Path, cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .env("XENSTORED_PATH", socket)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// Whether Debian's xenstore-utils are installed; if not, skips (or fails
/// under XVM_REQUIRE_ROOT_TESTS=1, where scripts/deps must have installed them).
pub fn have_xenstore_utils(test: &str) -> bool {
    privlib::testing::have_program("xenstore-read", "xenstore-utils", test)
}

pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xvm-xs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
