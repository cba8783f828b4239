//! SMF manifests the tests write: a test service, run by svc-startd as
//! xvm:xvm with basic privileges, whose start method is `exec`; and
//! the shipped manifests as a hermetic svc-startd runs them.

use std::path::{Path, PathBuf};

use crate::stack::startd_system;
use crate::{Daemon, Error, Hermetic, bin};

/// The manifest of `site/test/NAME` (bundle `test-NAME`): enabled, started
/// with `exec` as a child the restarter watches (`duration = child`),
/// stopped by a kill.
pub fn child_service(name: &str, exec: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<service_bundle type="manifest" name="test-{name}">
  <service name="site/test/{name}" type="service" version="1">
    <create_default_instance enabled="true"/>
    <method_context>
      <method_credential user="xvm" group="xvm" privileges="basic"/>
    </method_context>
    <exec_method type="method" name="start" exec="{exec}" timeout_seconds="10"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="10"/>
    <property_group name="startd" type="framework">
      <propval name="duration" type="astring" value="child"/>
    </property_group>
  </service>
</service_bundle>
"#
    )
}

/// A command running `prog` as `uid` (and gid `uid`, no supplementary
/// groups) through util-linux `setpriv`, or as the caller for `None`.
pub fn command_as(prog: &Path, uid: Option<u32>) -> std::process::Command {
    match uid {
        Some(u) => {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                &format!("--reuid={u}"),
                &format!("--regid={u}"),
                "--clear-groups",
            ])
            .arg(prog);
            c
        }
        None => std::process::Command::new(prog),
    }
}

/// The shipped manifests (`manifests/smf`), copied into `dir`/manifests
/// with xend's `dm-uid-base` set to `dm_base`; that directory.
pub fn shipped_manifests(dir: &Path, dm_base: u32) -> Result<PathBuf, Error> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/smf");
    let ours = dir.join("manifests");
    std::fs::create_dir_all(&ours).map_err(Error::io("create", &ours))?;
    for e in std::fs::read_dir(&shipped).map_err(Error::io("list", &shipped))? {
        let p = e.map_err(Error::io("list", &shipped))?.path();
        let text = std::fs::read_to_string(&p).map_err(Error::io("read", &p))?;
        let text = text.replace(
            "name=\"dm-uid-base\" type=\"count\" value=\"200000\"",
            &format!("name=\"dm-uid-base\" type=\"count\" value=\"{dm_base}\""),
        );
        let to = ours.join(p.file_name().unwrap_or_default());
        std::fs::write(&to, text).map_err(Error::io("write", &to))?;
    }
    Ok(ours)
}

/// svc-startd, stopped with SIGTERM (so it stops its services) when
/// dropped.
pub struct Startd(pub Daemon);

impl Drop for Startd {
    fn drop(&mut self) {
        self.0.terminate();
    }
}

impl Startd {
    /// `svc-startd --system` in `tree` over `manifests`
    /// ([`crate::stack::startd_system`]), its log in the tree's base as
    /// startd.log, reaped at the tree's end.
    pub fn spawn(tree: &Hermetic, manifests: &Path) -> Result<Startd, Error> {
        let cmd = startd_system(tree.command(&bin("svc-startd")?), manifests, tree.root());
        let startd = Startd(Daemon::spawn(
            "svc-startd",
            cmd,
            &tree.base().join("startd.log"),
        )?);
        tree.reap_at_end(startd.0.pid());
        Ok(startd)
    }
}
