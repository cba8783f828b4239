//! `svccfg export --systemd`: each instance becomes a hardened unit.
//!
//! The manifest stays the one place the policy is written: user, group,
//! supplementary groups, and capabilities that come from `privileges` and
//! `limit_privileges` through privlib's table. Everything else a unit can
//! take away is taken away, except what the daemons need to do their job:
//! - no `PrivateUsers=`: SO_PEERCRED answers from inside a user namespace
//!   would map every peer to `nobody`, and the peer check is the gate;
//! - no `ProtectProc=invisible` for a daemon whose manifest sets
//!   `sandbox/peer-proc`: its peer check reads the peer's `/proc/PID` (it
//!   fails closed without it, so capability-backed grants would be lost).
//!
//! `sandbox/address-families` replaces the default `AF_UNIX` (`none` for a
//! program with no socket at all).
//!
//! Bare program names in `exec` are taken from `bindir`.
//!
//! The unit runs as root, so every line is checked as it is written: a
//! value that would not stay on its line (a control character, which the
//! manifest reader refuses already, or a final `\` that would join the
//! next line to it) fails the export; it is never written.

use std::fmt::Write as _;

use privlib::caps::{CAP_NAMES, CapMask};

use crate::manifest::{Exec, Grouping, Resolved};
use crate::props::{expand, split_command};

/// Where exported units find the programs (`--bindir`).
pub const DEFAULT_BINDIR: &str = "/usr/lib/xvm/bin";

/// The unit name of an instance: `xvm-store.service`.
pub fn unit_name(fmri: &crate::fmri::Fmri) -> String {
    format!("xvm-{}.service", fmri.short())
}

fn unit_of(dep: &str) -> Option<String> {
    let f = crate::fmri::Fmri::parse(dep).ok()?;
    let f = if f.instance.is_none() {
        crate::fmri::Fmri::instance(&f.service, "default")
    } else {
        f
    };
    Some(unit_name(&f))
}

fn cap_names(m: CapMask) -> String {
    CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| u8::try_from(*i).is_ok_and(|c| m.has(c)))
        .map(|(_, n)| n.to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command line with its program made absolute.
fn command(r: &Resolved, method: &str, text: &str, bindir: &str) -> Result<String, UnitError> {
    let expanded = expand(text, r, method).map_err(UnitError::Command)?;
    let mut words = split_command(&expanded).map_err(UnitError::Command)?;
    if !words[0].starts_with('/') {
        words[0] = format!("{bindir}/{}", words[0]);
    }
    Ok(words
        .iter()
        .map(|w| {
            if w.chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '\'' | '$' | '%' | ';'))
            {
                format!(
                    "\"{}\"",
                    w.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('$', "$$")
                        .replace('%', "%%")
                )
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// A unit being written, line by line.
struct Unit {
    fmri: String,
    text: String,
}

impl Unit {
    /// Adds `l`, or refuses it if it would not stay one line of the unit
    /// as systemd reads it: a value from the manifest must never start a
    /// directive of its own (the unit runs as root) nor join the next.
    fn line(&mut self, l: &str) -> Result<(), UnitError> {
        if let Err(why) = one_line(l) {
            let what = match l.split_once('=') {
                Some((key, _)) if !l.starts_with('#') => format!("{key}="),
                _ => "a comment".into(),
            };
            return Err(UnitError::Line {
                fmri: self.fmri.clone(),
                what,
                line: l.to_string(),
                why,
            });
        }
        self.text.push_str(l);
        self.text.push('\n');
        Ok(())
    }
}

/// Why `l` is not one line of a unit file. systemd ends a line at `\n`,
/// `\r` or NUL, and joins a line that ends in `\` to the next one (a value
/// could so swallow `CapabilityBoundingSet=`, say); other control
/// characters have no business in a unit either.
fn one_line(l: &str) -> Result<(), LineProblem> {
    if let Some(c) = l.chars().find(|c| c.is_control()) {
        return Err(LineProblem::Control(u32::from(c)));
    }
    if l.ends_with('\\') {
        return Err(LineProblem::Continuation);
    }
    Ok(())
}

/// Why a line would not stay one line of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// A control character (a newline starts a directive of its own).
    #[error("it holds the control character U+{0:04X}")]
    Control(u32),
    /// A trailing backslash joins the next line to it.
    #[error("it ends in \\, which joins the next line to it")]
    Continuation,
}

/// Why an instance could not be exported as a unit.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// It has no start method.
    #[error("{0}: no start method")]
    NoStart(String),
    /// Its start method runs no program.
    #[error("{0}: the start method runs no program")]
    NoProgram(String),
    /// Its privileges do not parse.
    #[error("{fmri}: {source}")]
    Privileges {
        /// The instance.
        fmri: String,
        /// The cause.
        #[source]
        source: privlib::SetError,
    },
    /// A method's command could not be made into a line.
    #[error("{0}")]
    Command(String),
    /// A value would not stay on its line.
    #[error("{fmri}: {what} would not stay on its line: {why} ({line:?})")]
    Line {
        /// The instance.
        fmri: String,
        /// The key (or "a comment").
        what: String,
        /// The line as it would have been written.
        line: String,
        /// What is wrong with it.
        #[source]
        why: LineProblem,
    },
}

fn prop_str<'a>(r: &'a Resolved, pg: &str, p: &str) -> Option<&'a str> {
    r.prop(pg, p)
        .and_then(|p| p.values.first())
        .map(String::as_str)
}

/// The unit for `r`, or why it cannot be one.
pub fn unit(r: &Resolved, source: &str, bindir: &str) -> Result<String, UnitError> {
    let r = &r.for_mode(true);
    let start = r
        .method("start")
        .ok_or_else(|| UnitError::NoStart(r.fmri.to_string()))?;
    let Exec::Command(start_cmd) = &start.exec else {
        return Err(UnitError::NoProgram(r.fmri.to_string()));
    };
    let transient = prop_str(r, "startd", "duration") == Some("transient");
    let ctx = r.method_context(start);
    let cred = ctx.credential.clone().unwrap_or_default();
    let last = privlib::last_cap();
    let set = |t: &Option<String>| -> Result<CapMask, UnitError> {
        match t {
            Some(t) => privlib::parse_set(t)
                .map(|s| s.caps(last))
                .map_err(|source| UnitError::Privileges {
                    fmri: r.fmri.to_string(),
                    source,
                }),
            None => Ok(CapMask::EMPTY),
        }
    };
    let privs = set(&cred.privileges)?;
    let limit = match &cred.limit_privileges {
        Some(_) => set(&cred.limit_privileges)?,
        None => privs,
    };
    let user = cred.user.clone().unwrap_or_else(|| "root".into());

    let mut u = Unit {
        fmri: r.fmri.to_string(),
        text: String::new(),
    };
    let w = &mut u;
    w.line(&format!(
        "# Generated by `svccfg export --systemd` from {source}; do not edit."
    ))?;
    w.line(&format!("# {}", r.fmri))?;
    w.line("[Unit]")?;
    w.line(&format!(
        "Description={} ({})",
        r.common_name.as_deref().unwrap_or(&r.fmri.service),
        r.fmri
    ))?;
    let mut deps: Vec<(Grouping, String)> = Vec::new();
    for d in r.dependencies.iter().filter(|d| d.kind == "service") {
        for f in &d.fmris {
            if let Some(n) = unit_of(f) {
                deps.push((d.grouping, n));
            }
        }
    }
    for (g, key) in [
        (Grouping::RequireAll, "Requires"),
        (Grouping::RequireAny, "Wants"),
        (Grouping::OptionalAll, "Wants"),
        (Grouping::ExcludeAll, "Conflicts"),
    ] {
        for (_, n) in deps.iter().filter(|(dg, _)| *dg == g) {
            w.line(&format!("{key}={n}"))?;
        }
    }
    for (g, n) in &deps {
        if *g != Grouping::ExcludeAll {
            w.line(&format!("After={n}"))?;
        }
    }
    let mut before: Vec<String> = r
        .dependents
        .iter()
        .filter_map(|d| unit_of(&d.fmri))
        .collect();
    before.dedup();
    for n in before {
        w.line(&format!("Before={n}"))?;
    }
    w.line("StartLimitIntervalSec=60")?;
    w.line("StartLimitBurst=3")?;
    w.line("")?;
    w.line("[Service]")?;
    if transient {
        w.line("Type=oneshot")?;
        w.line("RemainAfterExit=yes")?;
    } else {
        w.line("Type=simple")?;
        w.line("Restart=on-failure")?;
        w.line("RestartSec=1")?;
    }
    w.line(&format!(
        "ExecStart={}",
        command(r, "start", start_cmd, bindir)?
    ))?;
    if start.timeout_seconds > 0 {
        w.line(&format!("TimeoutStartSec={}", start.timeout_seconds))?;
    }
    if let Some(stop) = r.method("stop") {
        match &stop.exec {
            Exec::Command(c) => {
                w.line(&format!("ExecStop={}", command(r, "stop", c, bindir)?))?;
            }
            Exec::Kill(sig) => {
                w.line(&format!("KillSignal={}", signal_name(*sig)))?;
            }
            Exec::True => {}
        }
        if stop.timeout_seconds > 0 {
            w.line(&format!("TimeoutStopSec={}", stop.timeout_seconds))?;
        }
    }
    if let Some(refresh) = r.method("refresh")
        && let Exec::Command(c) = &refresh.exec
    {
        w.line(&format!("ExecReload={}", command(r, "refresh", c, bindir)?))?;
    }
    w.line(&format!("User={user}"))?;
    if let Some(g) = &cred.group {
        w.line(&format!("Group={g}"))?;
    }
    if let Some(g) = cred.supp_groups.as_ref().filter(|g| !g.is_empty()) {
        w.line(&format!("SupplementaryGroups={}", g.join(" ")))?;
    }
    for (k, v) in &ctx.environment {
        // Quoted, with systemd's C escapes and specifiers undone, so the
        // variable holds what the restarter would give it.
        let kv = format!("{k}={v}")
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%");
        w.line(&format!("Environment=\"{kv}\""))?;
    }
    if let Some(d) = &ctx.working_directory {
        w.line(&format!("WorkingDirectory={d}"))?;
    }
    w.line(&format!(
        "# Privileges: {}",
        cred.privileges.as_deref().unwrap_or("(none given)")
    ))?;
    w.line(&format!("CapabilityBoundingSet={}", cap_names(limit)))?;
    if user != "root" && user != "0" {
        w.line(&format!(
            "AmbientCapabilities={}",
            cap_names(privs.intersect(limit))
        ))?;
    }
    w.line("NoNewPrivileges=yes")?;
    w.line("SecureBits=noroot-locked no-setuid-fixup-locked")?;
    // File system.
    w.line("UMask=0077")?;
    w.line("ProtectSystem=strict")?;
    w.line("ProtectHome=yes")?;
    w.line("PrivateTmp=yes")?;
    w.line("PrivateMounts=yes")?;
    if prop_str(r, "sandbox", "peer-proc") != Some("true") {
        w.line("ProtectProc=invisible")?;
    }
    // Devices: none, or the few the manifest names (`sandbox/devices`,
    // "PATH MODE" pairs) besides the standard pseudo-devices.
    match prop_str(r, "sandbox", "devices") {
        None => {
            w.line("PrivateDevices=yes")?;
        }
        Some(list) => {
            let words: Vec<&str> = list.split_whitespace().collect();
            for pair in words.chunks(2) {
                w.line(&format!("DeviceAllow={}", pair.join(" ")))?;
            }
        }
    }
    w.line("DevicePolicy=closed")?;
    for (prop, key) in [
        ("runtime", "RuntimeDirectory"),
        ("state", "StateDirectory"),
        ("logs", "LogsDirectory"),
    ] {
        if let Some(v) = prop_str(r, "paths", prop) {
            w.line(&format!("{key}={v}"))?;
            w.line(&format!("{key}Mode=0755"))?;
        }
    }
    if prop_str(r, "paths", "runtime").is_some() {
        w.line("RuntimeDirectoryPreserve=restart")?;
    }
    if let Some(v) = prop_str(r, "paths", "rw") {
        w.line(&format!("ReadWritePaths={v}"))?;
    }
    // Kernel and process.
    for line in [
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProcSubset=pid",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "RemoveIPC=yes",
        "KeyringMode=private",
        "NotifyAccess=none",
    ] {
        w.line(line)?;
    }
    // A service that starts qemu lets it map W+X memory (TCG) and make
    // the user and mount namespaces of its private /dev.
    if prop_str(r, "sandbox", "wx-memory") != Some("true") {
        w.line("MemoryDenyWriteExecute=yes")?;
    }
    match prop_str(r, "sandbox", "namespaces") {
        Some(ns) => {
            w.line(&format!("RestrictNamespaces={ns}"))?;
        }
        None => {
            w.line("RestrictNamespaces=yes")?;
        }
    }
    // Network: local sockets only, unless the manifest says otherwise.
    match prop_str(r, "sandbox", "address-families") {
        Some(f) => {
            w.line(&format!("RestrictAddressFamilies={f}"))?;
            if !f.contains("AF_INET") {
                w.line("PrivateNetwork=yes")?;
            }
        }
        None => {
            w.line("RestrictAddressFamilies=AF_UNIX")?;
            w.line("PrivateNetwork=yes")?;
        }
    }
    w.line("IPAddressDeny=any")?;
    // System calls.
    w.line("SystemCallArchitectures=native")?;
    w.line("SystemCallFilter=@system-service")?;
    let mut deny = vec![
        "@privileged",
        "@resources",
        "@mount",
        "@obsolete",
        "@debug",
        "@cpu-emulation",
        "@clock",
        "@module",
        "@raw-io",
        "@reboot",
        "@swap",
    ];
    if privs.has(privlib::caps::num::CHOWN) || privs.has(privlib::caps::num::SETUID) {
        // chown(2), setuid(2) and setgroups(2) are in @privileged.
        deny.retain(|d| *d != "@privileged");
    }
    if prop_str(r, "sandbox", "namespaces").is_some_and(|n| n.contains("mnt")) {
        // The device model's private /dev is mounted by the child.
        deny.retain(|d| *d != "@mount");
    }
    w.line(&format!("SystemCallFilter=~{}", deny.join(" ")))?;
    // What privlib's init_daemon_priv and confinement use (capset can
    // only lower capabilities under no_new_privs and an empty bounding set).
    w.line("SystemCallFilter=capset seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self")?;
    w.line("SystemCallErrorNumber=EPERM")?;
    w.line("")?;
    w.line("[Install]")?;
    w.line("WantedBy=multi-user.target")?;
    Ok(u.text)
}

/// `sysusers.d` for the accounts the units name.
pub fn sysusers() -> &'static str {
    include_str!("../../manifests/sysusers.d/xvm.conf")
}

/// `tmpfiles.d`: the directories of DESIGN.md 4, owned by xvm.
pub fn tmpfiles() -> String {
    let mut t = String::from(
        "# Generated by `svccfg export --systemd`; do not edit.\n\
         # The directories the xVM daemons use, owned by xvm:xvm.\n",
    );
    for (path, mode) in crate::fixperms::DIRS {
        let _ = writeln!(t, "d /{path} {mode:04o} xvm xvm -");
    }
    t
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::{self, PropType, Property, PropertyGroup};

    fn store() -> Resolved {
        let text = include_str!("../../manifests/smf/xvm-store.xml");
        let b = manifest::parse(Path::new("xvm-store.xml"), text).expect("xvm-store.xml");
        b.instances().remove(0)
    }

    fn export(r: &Resolved) -> Result<String, String> {
        unit(r, "manifests/smf/xvm-store.xml", DEFAULT_BINDIR).map_err(|e| e.to_string())
    }

    fn set_prop(r: &mut Resolved, pg: &str, name: &str, value: &str) {
        let p = Property {
            name: name.into(),
            ty: PropType::Astring,
            values: vec![value.into()],
        };
        match r.property_groups.iter_mut().find(|g| g.name == pg) {
            Some(g) => {
                g.properties.retain(|q| q.name != name);
                g.properties.push(p);
            }
            None => r.property_groups.push(PropertyGroup {
                name: pg.into(),
                ty: "application".into(),
                properties: vec![p],
            }),
        }
    }

    fn cred(r: &mut Resolved) -> &mut manifest::Credential {
        r.context.credential.as_mut().expect("credential")
    }

    /// Values that would leave their line: each separator systemd ends a
    /// line at, other control characters, and a line continuation.
    const BAD: [&str; 7] = [
        "xvm\nExecStartPre=/bin/sh",
        "xvm\rExecStartPre=/bin/sh",
        "xvm\0ExecStartPre=/bin/sh",
        "xvm\u{1b}[2J",
        "xvm\u{7f}",
        "xvm\u{85}",
        "xvm\\",
    ];

    /// Puts a value somewhere into an instance.
    type Put = fn(&mut Resolved, &str);

    /// Each way a manifest value reaches the unit (the key of its line),
    /// with how to put a value there.
    fn cases() -> Vec<(&'static str, Put)> {
        vec![
            ("User=", |r, v| cred(r).user = Some(v.into())),
            ("Group=", |r, v| cred(r).group = Some(v.into())),
            ("SupplementaryGroups=", |r, v| {
                cred(r).supp_groups = Some(vec!["xvm".into(), v.into()]);
            }),
            ("WorkingDirectory=", |r, v| {
                r.context.working_directory = Some(format!("/{v}"));
            }),
            ("Description=", |r, v| r.common_name = Some(v.into())),
            ("ExecStart=", |r, v| {
                let m = r
                    .methods
                    .iter_mut()
                    .find(|m| m.name == "start")
                    .expect("start");
                m.exec = manifest::Exec::Command(format!("xenstored '{v}'"));
            }),
            ("ExecStart=", |r, v| {
                // Through a property the command line names.
                set_prop(r, "xenstored", "entry-nb", v);
            }),
            ("RestrictAddressFamilies=", |r, v| {
                set_prop(r, "sandbox", "address-families", &format!("AF_UNIX {v}"));
            }),
            ("RestrictNamespaces=", |r, v| {
                set_prop(r, "sandbox", "namespaces", v)
            }),
            ("RuntimeDirectory=", |r, v| {
                set_prop(r, "paths", "runtime", v)
            }),
            ("StateDirectory=", |r, v| set_prop(r, "paths", "state", v)),
            ("LogsDirectory=", |r, v| set_prop(r, "paths", "logs", v)),
            ("ReadWritePaths=", |r, v| set_prop(r, "paths", "rw", v)),
            ("DeviceAllow=", |r, v| {
                set_prop(r, "sandbox", "devices", &format!("/dev/{v} rw"));
            }),
        ]
    }

    /// The keys of `unit`'s lines.
    fn keys(unit: &str) -> std::collections::BTreeSet<&str> {
        unit.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once('=').map_or(l, |(k, _)| k))
            .collect()
    }

    #[test]
    fn the_shipped_store_manifest_exports() {
        let u = export(&store()).expect("unit");
        assert!(u.contains("\nUser=xvm\n"), "{u}");
    }

    #[test]
    fn a_value_that_would_leave_its_line_is_refused_not_written() {
        for (what, put) in cases() {
            let mut r = store();
            put(&mut r, "xvm");
            let base = export(&r).expect("a plain value");
            for v in BAD {
                let mut r = store();
                put(&mut r, v);
                let e = match export(&r) {
                    // What stays on its line may be written: a `\` inside
                    // a line or escaped in a quoted word, a newline that
                    // separates the words of a command line, the blanks
                    // that separate `sandbox/devices`.
                    Ok(u)
                        if v.chars().all(|c| {
                            !c.is_control()
                                || c == '\n'
                                || (what == "DeviceAllow=" && c.is_whitespace())
                        }) =>
                    {
                        assert!(u.lines().all(|l| one_line(l).is_ok()), "{what}: {u}");
                        assert_eq!(keys(&u), keys(&base), "{what} {v:?}: {u}");
                        continue;
                    }
                    Ok(u) => panic!("{what} {v:?}: exported\n{u}"),
                    Err(e) => e,
                };
                assert!(
                    e.starts_with("svc:/system/xvm/store:default: ")
                        && e.contains(&format!("{what} would not stay on its line")),
                    "{what} {v:?}: {e}"
                );
            }
        }
    }

    #[test]
    fn a_privilege_set_that_would_leave_its_comment_line_is_refused() {
        // privlib reads these sets (it trims blanks around each name); the
        // text, as written, goes into the `# Privileges:` comment.
        // (limit_privileges is written as capabilities only.)
        for sep in ["\n", "\r", "\t", "\u{b}", "\u{c}"] {
            let mut r = store();
            cred(&mut r).privileges = Some(format!("basic,!proc_info{sep},net_access"));
            match export(&r) {
                Err(e) => assert!(
                    e.contains("would not stay on its line") || e.contains("privilege"),
                    "{sep:?}: {e}"
                ),
                Ok(u) => panic!("{sep:?}: exported\n{u}"),
            }
        }
        let mut r = store();
        cred(&mut r).privileges = Some("basic,!proc_info\n,net_access".into());
        let e = export(&r).expect_err("privileges");
        assert!(e.contains("a comment would not stay on its line"), "{e}");
    }

    #[test]
    fn environment_values_are_quoted_for_systemd() {
        let mut r = store();
        r.context.environment = vec![
            ("A".into(), r#"x "y" \z 50%"#.into()),
            ("B".into(), "ends in \\".into()),
        ];
        let u = export(&r).expect("unit");
        assert!(
            u.contains("\nEnvironment=\"A=x \\\"y\\\" \\\\z 50%%\"\n"),
            "{u}"
        );
        assert!(u.contains("\nEnvironment=\"B=ends in \\\\\"\n"), "{u}");
        r.context.environment = vec![("A".into(), "x\ny".into())];
        let e = export(&r).expect_err("newline");
        assert!(e.contains("Environment= would not stay on its line"), "{e}");
    }

    #[test]
    fn a_tab_is_refused_as_well() {
        let mut r = store();
        cred(&mut r).user = Some("xvm\tx".into());
        assert!(export(&r).is_err());
    }
}
