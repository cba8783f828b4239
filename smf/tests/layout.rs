//! `svc-startd --system` under a fresh `XVM_ROOT` lays out the tree as a
//! host has it (root, hermetic: own /etc/passwd and /etc/group, own tmpfs):
//! the host's directories root's and 0755, svc-startd's own root's at
//! their modes, the daemons' (through the shipped xvm-fixperms manifest)
//! xvm's at the modes of DESIGN.md 4; and xvm, as a process of that uid,
//! reaches `var/lib/xend/domains` and writes there, while svc-startd's
//! state stays closed to it. `var/lib` is planted 0700 first, as a umask
//! 077 once left it: it is made right.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xvm_tests::check;

use privlib::testing::{as_user, fake_users, in_private_tmpfs, write_policy};
use xvm_tests::require_root;

const XVM: u32 = 48_750;

/// The restarter, killed when the test ends (its one service, fixperms,
/// is transient: nothing of it is left running).
struct Startd(std::process::Child);

impl Drop for Startd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bindir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_svc-startd"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Owner, group and mode of `p` (not following a symlink).
fn stat(p: &Path) -> Result<(u32, u32, u32), String> {
    let m = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    check(m.is_dir(), format!("{}: not a directory", p.display()))?;
    Ok((m.uid(), m.gid(), m.mode() & 0o7777))
}

#[test]
fn system_mode_lays_out_the_tree_as_a_host_has_it() {
    let test = "system_mode_lays_out_the_tree_as_a_host_has_it";
    if !require_root(test) {
        return;
    }
    let verdict = in_private_tmpfs("layout", |base| {
        fake_users(base, &[("xvm", XVM)], &[]).map_err(|e| e.to_string())?;
        let e = |e: std::io::Error| e.to_string();
        // The hermetic base stands for what is above XVM_ROOT on a host:
        // passable, as `/` is.
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).map_err(e)?;
        let root = base.join("root");
        write_policy(
            &root,
            "[xvm_control]\ngroups = [\"xvm\"]\nuids = [0]\n\n[virt_manage]\nuids = [0]\n",
        )
        .map_err(|e| e.to_string())?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).map_err(e)?;
        // What the issue found: a host directory left closed by a umask.
        std::fs::create_dir_all(root.join("var/lib")).map_err(e)?;
        std::fs::set_permissions(root.join("var/lib"), std::fs::Permissions::from_mode(0o700))
            .map_err(e)?;
        // Only the fixperms service: the layout, no daemon.
        let manifests = base.join("manifests");
        std::fs::create_dir(&manifests).map_err(e)?;
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/smf");
        std::fs::copy(
            shipped.join("xvm-fixperms.xml"),
            manifests.join("xvm-fixperms.xml"),
        )
        .map_err(e)?;
        let log = base.join("startd.log");
        let _startd = Startd(
            Command::new(bindir().join("svc-startd"))
                .arg("--system")
                .arg("--manifests")
                .arg(&manifests)
                .arg("--bindir")
                .arg(bindir())
                .env("XVM_ROOT", &root)
                .stdin(Stdio::null())
                .stderr(std::fs::File::create(&log).map_err(e)?)
                .spawn()
                .map_err(|e| format!("svc-startd: {e}"))?,
        );

        let t = Instant::now();
        loop {
            let o = Command::new(bindir().join("svcs"))
                .arg("-a")
                .env("XVM_ROOT", &root)
                .output()
                .map_err(e)?;
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            if out
                .lines()
                .any(|l| l.starts_with("online") && l.ends_with("svc:/system/xvm/fixperms:default"))
            {
                break;
            }
            check(
                t.elapsed() < Duration::from_secs(30),
                format!(
                    "fixperms never came online: {out}{}\n{}",
                    String::from_utf8_lossy(&o.stderr),
                    std::fs::read_to_string(&log).unwrap_or_default()
                ),
            )?;
            std::thread::sleep(Duration::from_millis(50));
        }

        let want: [(&str, u32, u32); 18] = [
            // The host's.
            ("run", 0, 0o755),
            ("var", 0, 0o755),
            ("var/lib", 0, 0o755),
            ("var/log", 0, 0o755),
            ("var/xen", 0, 0o755),
            // svc-startd's.
            ("run/xvm", 0, 0o711),
            ("run/xvm/svc-startd", 0, 0o711),
            ("var/lib/xvm", 0, 0o711),
            ("var/lib/xvm/smf", 0, 0o700),
            ("var/log/xvm", 0, 0o750),
            // The daemons' (DESIGN.md 4).
            ("run/xenstored", XVM, 0o711),
            ("run/xend", XVM, 0o711),
            ("run/xend/boot", XVM, 0o700),
            ("var/lib/xend", XVM, 0o700),
            ("var/lib/xend/domains", XVM, 0o700),
            ("var/lib/xend/storage", XVM, 0o700),
            ("var/log/xen", XVM, 0o750),
            ("var/xen/dump", XVM, 0o700),
        ];
        let mut wrong = Vec::new();
        for (rel, id, mode) in want {
            let got = stat(&root.join(rel))?;
            if got != (id, id, mode) {
                wrong.push(format!(
                    "{rel}: {}:{} {:04o}, not {id}:{id} {mode:04o}",
                    got.0, got.1, got.2
                ));
            }
        }
        check(
            wrong.is_empty(),
            format!(
                "laid out otherwise than a host has it:\n{}\n{}",
                wrong.join("\n"),
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        )?;

        // As xvm, for real: through every parent to its configs, and
        // nowhere it has no business.
        let domains = root.join("var/lib/xend/domains");
        let smf_state = root.join("var/lib/xvm/smf");
        Ok(as_user(XVM, &[XVM], move || {
            std::fs::read_dir(&domains)
                .map_err(|e| format!("xvm lists {}: {e}", domains.display()))?;
            std::fs::write(domains.join("probe.cfg"), "name = \"probe\"\n")
                .map_err(|e| format!("xvm writes in {}: {e}", domains.display()))?;
            Ok(check(
                std::fs::read_dir(&smf_state).is_err(),
                format!("xvm lists svc-startd's {}", smf_state.display()),
            )?)
        })
        .map_err(|e| e.to_string())?)
    });
    if let Err(e) = verdict {
        panic!("{e}");
    }
}
