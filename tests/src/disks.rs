//! The fixtures of the disk tests: images as administrators keep them
//! (root's, mode 0600, in a root-only `/var/lib/xen/images` of the
//! hermetic tree), qcow2 overlays made by the real `qemu-img`, a loop
//! device, what a file's owner, mode and mtime are, and a bare QMP
//! exchange with a device model (to ask it to open a path itself).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::hermetic::set_mode;
use crate::{Error, check};

/// Where images are, beneath an `XVM_ROOT` (as Debian's xen keeps them).
pub const IMAGES: &str = "var/lib/xen/images";

/// The root-only image directory of the tree at `root`: made root's,
/// mode 0700 (xvm may not even look inside).
pub fn image_dir(root: &Path) -> Result<PathBuf, Error> {
    let d = root.join(IMAGES);
    std::fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
    set_mode(&d, 0o700)?;
    Ok(d)
}

/// `bytes` written to `dir/name`, root's, mode 0600.
pub fn root_image(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(Error::io("write", &p))?;
    set_mode(&p, 0o600)?;
    Ok(p)
}

/// Runs `program` with `args`; an error with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<String, Error> {
    let o = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: program.into(),
            source,
        })?;
    check(
        o.status.success(),
        format!(
            "{program} {args:?}: {}{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
    )?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A qcow2 overlay `dir/name` on `backing` (named relative to `dir`) of
/// format `backing_format`, made by qemu-img, root's, mode 0600.
pub fn qcow2_overlay(
    dir: &Path,
    name: &str,
    backing: &str,
    backing_format: &str,
) -> Result<PathBuf, Error> {
    let p = dir.join(name);
    let out = Command::new("qemu-img")
        .current_dir(dir)
        .args(["create", "-q", "-f", "qcow2", "-b", backing, "-F"])
        .arg(backing_format)
        .arg(&p)
        .output()
        .map_err(|source| Error::Spawn {
            program: "qemu-img".into(),
            source,
        })?;
    check(
        out.status.success(),
        format!(
            "qemu-img create {}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    set_mode(&p, 0o600)?;
    Ok(p)
}

/// What must not change about a file handed to a device model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// The file.
    pub path: PathBuf,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Type and mode bits.
    pub mode: u32,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
}

/// The state of each of `paths` now.
pub fn states(paths: &[&Path]) -> Result<Vec<FileState>, Error> {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).map_err(Error::io("stat", p))?;
            Ok(FileState {
                path: p.to_path_buf(),
                uid: m.uid(),
                gid: m.gid(),
                mode: m.mode(),
                mtime: (m.mtime(), m.mtime_nsec()),
            })
        })
        .collect()
}

/// A loop device on a file, detached when dropped.
#[derive(Debug)]
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub dev: PathBuf,
}

impl LoopDevice {
    /// `losetup -f --show file`.
    pub fn attach(file: &Path) -> Result<LoopDevice, Error> {
        let f = file.display().to_string();
        let out = run("losetup", &["-f", "--show", &f])?;
        Ok(LoopDevice {
            dev: PathBuf::from(out.trim()),
        })
    }

    /// A block node `dir/name` of this device, root's, mode 0600 (an
    /// administrator's link to an LVM volume or a disk, in the image
    /// directory).
    pub fn node_in(&self, dir: &Path, name: &str) -> Result<PathBuf, Error> {
        let m = std::fs::metadata(&self.dev).map_err(Error::io("stat", &self.dev))?;
        let (major, minor) = (
            libc::major(m.rdev()).to_string(),
            libc::minor(m.rdev()).to_string(),
        );
        let p = dir.join(name);
        let s = p.display().to_string();
        run("mknod", &["-m", "0600", &s, "b", &major, &minor])?;
        Ok(p)
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// `s` as a JSON string (quotes and backslashes escaped; control bytes
/// as \u escapes).
pub fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if u32::from(c) < 0x20 => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Connects to the QMP socket `sock`, negotiates, sends each of
/// `commands` (JSON text) and gives each answer line (`{"return": ...}`
/// or `{"error": ...}`; events are skipped).
pub fn qmp(sock: &Path, commands: &[String]) -> Result<Vec<String>, Error> {
    let s = UnixStream::connect(sock).map_err(Error::io("connect", sock))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(Error::io("timeout", sock))?;
    let mut w = s.try_clone().map_err(Error::io("clone", sock))?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).map_err(Error::io("read", sock))?;
    check(line.contains("\"QMP\""), format!("no QMP greeting: {line}"))?;
    let mut answers = Vec::new();
    let all = std::iter::once("{\"execute\":\"qmp_capabilities\"}".to_string())
        .chain(commands.iter().cloned());
    for (i, c) in all.enumerate() {
        w.write_all(format!("{c}\n").as_bytes())
            .map_err(Error::io("write", sock))?;
        loop {
            line.clear();
            let n = r.read_line(&mut line).map_err(Error::io("read", sock))?;
            check(n > 0, format!("QMP closed before answering {c}"))?;
            if line.contains("\"return\"") || line.contains("\"error\"") {
                break;
            }
        }
        if i > 0 {
            answers.push(line.trim().to_string());
        }
    }
    Ok(answers)
}
