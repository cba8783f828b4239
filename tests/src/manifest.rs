//! SMF manifests the tests write: a test service, run by svc-startd as
//! xvm:xvm with basic privileges, whose start method is `exec`.

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
pub fn command_as(prog: &std::path::Path, uid: Option<u32>) -> std::process::Command {
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
