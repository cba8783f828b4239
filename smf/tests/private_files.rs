//! A user the gates refuse learns nothing from the files either: the
//! system-mode stack is started by svc-startd with the shipped manifests
//! (root, hermetic), made to write what it keeps (a private store node,
//! a managed domain's config), and then every file and directory it made
//! under XVM_ROOT is tried as bob, a local user with no privilege and no
//! group: he may open none of them and list none of them. Only the 0666
//! sockets are his to reach, through directories he may pass but not
//! list. The host's own directories (`run`, `var`, `var/lib`, ...) are
//! not the stack's and are left out.

use xvm_tests::daemon::Daemon;
use xvm_tests::stack::startd_system;
use xvm_tests::{bin, bindir, check};

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use privlib::testing::{as_user, fake_users, in_private_tmpfs, write_policy};
use xvm_tests::{require_program, require_root};

const XVM: u32 = 48_730;
const BOB: u32 = 48_731;
const SECRET: &str = "xvm-lp-secret-7f3a";

struct Startd(Daemon);

impl Drop for Startd {
    fn drop(&mut self) {
        self.0.terminate();
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let t = Instant::now();
    while !ok() {
        check(
            t.elapsed() < Duration::from_secs(30),
            format!("timed out: {what}"),
        )?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn run(prog: &Path, args: &[&str], env: &[(&str, &Path)]) -> Result<String, String> {
    let mut c = Command::new(prog);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().map_err(|e| format!("{}: {e}", prog.display()))?;
    check(
        o.status.success(),
        format!(
            "{} {args:?}: {}{}",
            prog.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The directories a host has whatever runs on it (and XVM_ROOT itself).
fn hosts_own(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    // /var/xen comes with Xen's own packages (root's, 0755); the stack's
    // directory there is var/xen/dump.
    matches!(
        &*s,
        "" | "run" | "var" | "var/lib" | "var/log" | "var/xen" | "etc"
    )
}

/// Every path below `root` with its metadata (not following links).
fn walk(root: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            let m = std::fs::symlink_metadata(&p).map_err(|e| e.to_string())?;
            if m.is_dir() {
                todo.push(p.clone());
            }
            out.push((p, m));
        }
    }
    Ok(out)
}

#[test]
fn a_refused_user_can_read_or_list_nothing_the_stack_made() {
    let test = "a_refused_user_can_read_or_list_nothing_the_stack_made";
    if !require_root(test) || !require_program(test, "xenstore-write", "xenstore-utils") {
        return;
    }
    let verdict = in_private_tmpfs("private-files", |base| {
        fake_users(base, &[("xvm", XVM), ("bob", BOB)], &[])?;
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let root = base.join("root");
        write_policy(
            &root,
            "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\nuids = [0]\n",
        )?;
        let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/smf");
        let log = base.join("startd.log");
        let cmd = startd_system(Command::new(bin("svc-startd")?), &manifests, &root);
        let _startd = Startd(Daemon::spawn("svc-startd", cmd, &log)?);
        let env = [("XVM_ROOT", root.as_path())];
        let svcs = bindir().join("svcs");
        let online = |fmri: &str| {
            run(&svcs, &["-a"], &env).is_ok_and(|o| {
                o.lines()
                    .any(|l| l.starts_with("online") && l.ends_with(fmri))
            })
        };
        let explain = || {
            format!(
                "{:?}\n{}",
                run(&svcs, &["-a"], &env),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        };
        wait_for("the store online", || {
            online("svc:/system/xvm/store:default")
        })
        .map_err(|e| format!("{e}: {}", explain()))?;
        wait_for("xend online", || online("svc:/system/xvm/xend:default"))
            .map_err(|e| format!("{e}: {}", explain()))?;
        let xs_sock = root.join("run/xenstored/socket");
        wait_for("xenstored's socket", || xs_sock.exists())?;
        let xend_sock = root.join("run/xend/xmlrpc.sock");
        wait_for("xend's socket", || xend_sock.exists())?;

        // What the stack keeps: a node only dom0 may read, a managed
        // domain's config.
        let xs_env = [("XENSTORED_PATH", xs_sock.as_path())];
        run(Path::new("xenstore-write"), &["/private", SECRET], &xs_env)?;
        run(Path::new("xenstore-chmod"), &["/private", "n0"], &xs_env)?;
        let cfg = base.join("private.cfg");
        std::fs::write(
            &cfg,
            format!("name = \"private\"\ntype = \"hvm\"\nmemory = 32\n# {SECRET}\n"),
        )
        .map_err(|e| e.to_string())?;
        run(
            &bindir().join("xm"),
            &["new", &cfg.display().to_string()],
            &env,
        )?;

        let made: Vec<(PathBuf, std::fs::Metadata)> = walk(&root)?
            .into_iter()
            .filter(|(p, _)| {
                let rel = p.strip_prefix(&root).unwrap_or(p);
                !hosts_own(rel) && !rel.starts_with("etc")
            })
            .collect();
        check(
            made.iter().any(|(p, _)| p.ends_with("tdb")),
            "the store's journal is not where it was looked for",
        )?;
        check(
            made.iter().any(|(p, _)| p.ends_with("private.cfg")),
            format!("xm new stored no config: {made:?}"),
        )?;
        // By mode: nothing is readable or writable by others, sockets aside;
        // a socket's directory may be passed (x) but not listed.
        let mut wrong = Vec::new();
        for (p, m) in &made {
            let mode = m.mode() & 0o7777;
            let ok = if m.file_type().is_socket_like() {
                mode & 0o777 == 0o666
            } else if m.is_dir() {
                mode & 0o006 == 0
            } else {
                mode & 0o007 == 0
            };
            if !ok {
                wrong.push(format!("{} {mode:o} {}:{}", p.display(), m.uid(), m.gid()));
            }
        }
        check(
            wrong.is_empty(),
            format!("open to other local users:\n{}", wrong.join("\n")),
        )?;
        // As bob, for real: no file opens, no directory lists.
        let paths: Vec<(PathBuf, bool)> = made
            .iter()
            .filter(|(_, m)| !m.file_type().is_socket_like())
            .map(|(p, m)| (p.clone(), m.is_dir()))
            .collect();
        Ok(as_user(BOB, &[], move || {
            let opened: Vec<String> = paths
                .iter()
                .filter(|(p, dir)| {
                    if *dir {
                        std::fs::read_dir(p).is_ok()
                    } else {
                        std::fs::File::open(p).is_ok()
                    }
                })
                .map(|(p, _)| p.display().to_string())
                .collect();
            Ok(check(
                opened.is_empty(),
                format!("bob opened or listed:\n{}", opened.join("\n")),
            )?)
        })
        .map_err(|e| e.to_string())?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

/// Sockets, by file type.
trait SocketLike {
    fn is_socket_like(&self) -> bool;
}

impl SocketLike for std::fs::FileType {
    fn is_socket_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_socket(self)
    }
}
