//! The policy file as the daemons and `xvm-policy` read it: the shipped
//! default's split of the two privileges, the "root's alone" rule on the
//! path as the kernel resolves it, and the bounds on what is read.

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use privlib::Policy;
use privlib::policy::MAX_POLICY_LEN;
use privlib::testing::{fake_users, in_private_tmpfs, write_policy};
use xvm_tests::require_root;
use xvm_tests::{check, scratch, serial};

const ALICE: u32 = 48_110; // in xvm-manage
const BOB: u32 = 48_111; // in no group
const XVM: u32 = 60;
const XVM_MANAGE: u32 = 48_210;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shipped_policy() -> String {
    std::fs::read_to_string(repo().join("manifests/privileges.toml")).expect("shipped policy")
}

/// Runs `xvm-policy` with `args` (and `XVM_ROOT=root` if given); gives up
/// after 10 s, so a read that blocks fails the test instead of hanging it.
fn xvm_policy(args: &[&str], root: Option<&Path>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xvm-policy"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match root {
        Some(r) => cmd.env("XVM_ROOT", r),
        None => cmd.env_remove("XVM_ROOT"),
    };
    let mut child = cmd.spawn().expect("run xvm-policy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, String::new(), format!("xvm-policy {args:?} hung"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_policy_gives_the_management_group_virt_manage_alone() {
    if !require_root("the_shipped_policy_gives_the_management_group_virt_manage_alone") {
        return;
    }
    let _g = serial();
    let verdict = in_private_tmpfs("policy-shipped", |dir| {
        // As sysusers.d/xvm.conf makes them: the xvm account with its group,
        // the management group; alice is a VM administrator, bob nobody.
        fake_users(
            dir,
            &[("xvm", XVM), ("alice", ALICE), ("bob", BOB)],
            &[("xvm-manage", XVM_MANAGE, &["alice"])],
        )?;
        write_policy(dir, &shipped_policy())?;
        let who = |user: &str| {
            let (code, out, err) = xvm_policy(&["who", user], Some(dir));
            check(code == Some(0), format!("who {user}: {err}"))?;
            Ok::<String, String>(out)
        };
        let alice = who("alice")?;
        check(
            alice.contains("virt_manage: yes, by group xvm-manage")
                && alice.contains("xvm_control: no"),
            format!("a member of xvm-manage holds virt_manage and nothing more:\n{alice}"),
        )?;
        let xvm = who("xvm")?;
        check(
            xvm.contains("xvm_control: yes, by group xvm"),
            format!("the daemons' account holds xvm_control:\n{xvm}"),
        )?;
        let root = who("root")?;
        check(
            root.contains("xvm_control: yes, by uid 0")
                && root.contains("virt_manage: yes, by uid 0"),
            format!("root holds both:\n{root}"),
        )?;
        let bob = who("bob")?;
        check(
            bob.contains("xvm_control: no") && bob.contains("virt_manage: no"),
            format!("anyone else holds neither:\n{bob}"),
        )?;
        // The daemons load it the same way (system mode, root's alone).
        let (code, out, err) = xvm_policy(&["check"], Some(dir));
        Ok(check(
            code == Some(0) && out.is_empty(),
            format!("check of the installed copy: {err}"),
        )?)
    });
    verdict.expect("shipped policy");
}

/// Every group the shipped policy names is one that the shipped sysusers.d
/// file creates, and the management group is neither xvm nor granted
/// `xvm_control`: otherwise a fresh install's daemons refuse the policy,
/// or the split is gone.
#[test]
fn the_shipped_groups_are_created_by_sysusers_and_kept_apart() {
    let sysusers =
        std::fs::read_to_string(repo().join("manifests/sysusers.d/xvm.conf")).expect("sysusers.d");
    let generated = std::fs::read_to_string(repo().join("manifests/systemd/xvm.sysusers.conf"))
        .expect("generated copy");
    assert_eq!(
        sysusers, generated,
        "manifests/systemd/xvm.sysusers.conf is stale"
    );
    let created: Vec<&str> = sysusers
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("g")).then(|| w.next()).flatten()
        })
        .collect();
    let policy: toml::Table = toml::from_str(&shipped_policy()).expect("toml");
    let groups = |p: &str| -> Vec<String> {
        policy[p]["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g.as_str().expect("name").to_string())
            .collect()
    };
    let control = groups("xvm_control");
    let manage = groups("virt_manage");
    for g in control.iter().chain(&manage) {
        assert!(
            created.contains(&g.as_str()),
            "group {g} is not in sysusers.d: {created:?}"
        );
    }
    assert_eq!(control, ["xvm"]);
    assert_eq!(manage, ["xvm-manage"]);
}

/// A root-owned scratch tree: `base/open` is mode 0777 (anyone may rename
/// what is in it), `base/safe` 0755; each holds `sub/privileges.toml`.
fn tree(name: &str) -> PathBuf {
    let base = scratch(name).expect("scratch dir");
    for (d, mode) in [("open", 0o777), ("safe", 0o755)] {
        let sub = base.join(d).join("sub");
        std::fs::create_dir_all(&sub).expect("dir");
        std::fs::set_permissions(base.join(d), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        std::fs::write(sub.join("privileges.toml"), "[xvm_control]\nuids = [0]\n").expect("write");
    }
    std::fs::create_dir(base.join("etc")).expect("etc");
    base
}

#[test]
fn a_symlinked_ancestor_is_judged_where_it_leads() {
    if !require_root("a_symlinked_ancestor_is_judged_where_it_leads") {
        return;
    }
    let base = tree("policy-symlink");
    let open = base.join("open");
    // etc/xvm -> open/sub: every directory of the written path is root's
    // and 0755 (the link's target, open/sub, too), but whoever may write
    // `open` can rename `sub` and put a policy of theirs in its place.
    symlink(open.join("sub"), base.join("etc/xvm")).expect("symlink");
    let e = Policy::load_system(&base.join("etc/xvm/privileges.toml"))
        .expect_err("through a world-writable directory");
    assert!(
        e.to_string().contains(&format!(
            "{} is writable by someone other than root (owner uid 0, mode 0777)",
            open.display()
        )),
        "{e}"
    );
    // The same through a relative link, and through xvm-policy check.
    symlink("../open/sub", base.join("etc/rel")).expect("symlink");
    let f = base.join("etc/rel/privileges.toml");
    let (code, _, err) = xvm_policy(&["check", &f.to_string_lossy()], None);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{} is writable", open.display())),
        "{err}"
    );
    // The control: a link into a directory only root may write is fine.
    symlink(base.join("safe/sub"), base.join("etc/ok")).expect("symlink");
    Policy::load_system(&base.join("etc/ok/privileges.toml")).expect("root's alone");
    symlink("../safe/./sub/../sub", base.join("etc/okrel")).expect("symlink");
    let (code, _, err) = xvm_policy(
        &[
            "check",
            &base.join("etc/okrel/privileges.toml").to_string_lossy(),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    // The file itself may not be a link, wherever it leads.
    symlink(
        base.join("safe/sub/privileges.toml"),
        base.join("etc/link.toml"),
    )
    .expect("symlink");
    let e = Policy::load_system(&base.join("etc/link.toml")).expect_err("file is a link");
    assert!(
        e.to_string()
            .contains("is a symbolic link, not a regular file"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn check_applies_the_daemons_rules_to_any_file() {
    if !require_root("check_applies_the_daemons_rules_to_any_file") {
        return;
    }
    let base = tree("policy-check-rules");
    let f = base.join("safe/sub/privileges.toml");
    let (code, _, err) = xvm_policy(&["check", &f.to_string_lossy()], None);
    assert_eq!(code, Some(0), "{err}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let (code, _, err) = xvm_policy(&["check", &f.to_string_lossy()], None);
    assert_eq!(code, Some(1), "a file anyone may write is no system policy");
    assert!(
        err.contains(&format!(
            "{}:1:1: {} is writable by someone other than root",
            f.display(),
            f.display()
        )),
        "{err}"
    );
    // In a directory of its own that is world-writable, even sticky (as
    // /tmp is, which is allowed further up).
    let sticky = base.join("safe/sticky");
    std::fs::create_dir(&sticky).expect("dir");
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let g = sticky.join("privileges.toml");
    std::fs::write(&g, "[xvm_control]\nuids = [0]\n").expect("write");
    let (code, _, err) = xvm_policy(&["check", &g.to_string_lossy()], None);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{} is writable", sticky.display())) && err.contains("mode 1777"),
        "{err}"
    );
    // A session file is the user's own: ownership is not asked.
    let (code, _, err) = xvm_policy(&["check", "--session", &f.to_string_lossy()], None);
    assert_eq!(code, Some(0), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn check_refuses_devices_and_fifos_without_waiting() {
    let dir = scratch("policy-fifo").expect("scratch dir");
    let fifo = dir.join("fifo.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let fifo = fifo.to_string_lossy().into_owned();
    for args in [
        vec!["check", "/dev/zero"],
        vec!["check", "--session", "/dev/zero"],
        vec!["check", "--session", &fifo],
        vec!["who", "root", "--file", "/dev/zero"],
    ] {
        let (code, _, err) = xvm_policy(&args, None);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(
            err.contains(", not a regular file; refusing the policy"),
            "{args:?}: {err}"
        );
    }
    let (_, _, err) = xvm_policy(&["check", "/dev/zero"], None);
    assert_eq!(
        err,
        "xvm-policy: /dev/zero:1:1: /dev/zero is a character device, not a regular file; refusing the policy\n"
    );
    let (_, _, err) = xvm_policy(&["check", "--session", &fifo], None);
    assert!(err.contains("is a FIFO"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A valid policy padded with comments to `len` bytes.
fn padded(len: u64) -> String {
    let mut text = String::from("[xvm_control]\nuids = [0]\n");
    let len = usize::try_from(len).expect("len");
    while text.len() < len {
        let line = "# padding padding padding padding padding padding padding pad\n";
        text.push_str(&line[..line.len().min(len - text.len())]);
    }
    text
}

#[test]
fn an_oversized_policy_is_refused() {
    let dir = scratch("policy-size").expect("scratch dir");
    let big = dir.join("big.toml");
    std::fs::write(&big, padded(MAX_POLICY_LEN + 1)).expect("write");
    let fits = dir.join("fits.toml");
    std::fs::write(&fits, padded(MAX_POLICY_LEN)).expect("write");
    let (code, _, err) = xvm_policy(&["check", "--session", &big.to_string_lossy()], None);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("the file holds 65537 bytes, more than the 65536 a policy file may hold"),
        "{err}"
    );
    let (code, _, err) = xvm_policy(&["check", "--session", &fits.to_string_lossy()], None);
    assert_eq!(code, Some(0), "exactly the bound is fine: {err}");
    if require_root("an_oversized_policy_is_refused (system mode)") {
        let e = Policy::load_system(&big).expect_err("too large");
        assert!(e.to_string().contains("more than the 65536"), "{e}");
        Policy::load_system(&fits).expect("exactly the bound");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_privilege_named_twice_is_refused_by_check() {
    let dir = scratch("policy-dup").expect("scratch dir");
    let f = dir.join("dup.toml");
    std::fs::write(
        &f,
        "[xvm_control]\nuids = [0]\n\n[priv_xvm_control]\nuids = [1000]\n",
    )
    .expect("write");
    let (code, _, err) = xvm_policy(&["check", "--session", &f.to_string_lossy()], None);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}:4:2: \"priv_xvm_control\" names xvm_control again (first as \"xvm_control\" at line 1, column 2)",
            f.display()
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
