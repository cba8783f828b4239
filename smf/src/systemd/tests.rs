//! The export's output, and its refusals.

use std::path::Path;

use super::lines::one_line;
use super::*;
use crate::manifest::{self, PropType, Property, PropertyGroup, Resolved};

fn store() -> Resolved {
    let text = include_str!("../../../manifests/smf/xvm-store.xml");
    let b = manifest::parse(Path::new("xvm-store.xml"), text).expect("xvm-store.xml");
    b.instances().remove(0)
}

fn export(r: &Resolved) -> Result<String, UnitError> {
    unit(r, "manifests/smf/xvm-store.xml", DEFAULT_BINDIR)
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
        ("IPAddressAllow=", |r, v| {
            set_prop(r, "sandbox", "ip-allow", v)
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
                e.to_string().starts_with("svc:/system/xvm/store:default: ")
                    && e.to_string()
                        .contains(&format!("{what} would not stay on its line")),
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
                e.to_string().contains("would not stay on its line")
                    || e.to_string().contains("privilege"),
                "{sep:?}: {e}"
            ),
            Ok(u) => panic!("{sep:?}: exported\n{u}"),
        }
    }
    let mut r = store();
    cred(&mut r).privileges = Some("basic,!proc_info\n,net_access".into());
    let e = export(&r).expect_err("privileges");
    assert!(
        e.to_string()
            .contains("a comment would not stay on its line"),
        "{e}"
    );
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
    assert!(
        e.to_string()
            .contains("Environment= would not stay on its line"),
        "{e}"
    );
}

#[test]
fn a_tab_is_refused_as_well() {
    let mut r = store();
    cred(&mut r).user = Some("xvm\tx".into());
    assert!(export(&r).is_err());
}

fn xend() -> Resolved {
    let text = include_str!("../../../manifests/smf/xvm-xend.xml");
    let b = manifest::parse(Path::new("xvm-xend.xml"), text).expect("xvm-xend.xml");
    b.instances().remove(0)
}

fn line<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .collect()
}

#[test]
fn the_unit_gets_the_capabilities_and_devices_of_the_features_that_are_on_only() {
    let r = xend();
    let u = unit(&r, "x.xml", DEFAULT_BINDIR).expect("unit");
    let bounding = line(&u, "CapabilityBoundingSet");
    assert_eq!(
        bounding,
        ["CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_ADMIN"]
    );
    assert_eq!(line(&u, "AmbientCapabilities"), bounding);
    assert!(line(&u, "DeviceAllow").contains(&"/dev/net/tun rw"), "{u}");
    assert!(u.contains("# Feature networking: on (sys_net_config; /dev/net/tun rw)\n"));
    assert!(u.contains("# Feature device-model-privileges: off (proc_lock_memory)\n"));
    assert!(u.contains("# Feature relocation: off (none)\n"), "{u}");
    assert!(
        line(&u, "ExecStart")[0].ends_with(
            "--feature-networking true --feature-foreign-images true --feature-device-model-privileges false --feature-relocation false"
        ),
        "{u}"
    );

    // Networking off, device-model privileges on.
    let mut r = xend();
    let g = r
        .property_groups
        .iter_mut()
        .find(|g| g.name == "features")
        .expect("features");
    for p in &mut g.properties {
        match p.name.as_str() {
            "networking" => p.values = vec!["false".into()],
            "device-model-privileges" => p.values = vec!["true".into()],
            _ => {}
        }
    }
    let u = unit(&r, "x.xml", DEFAULT_BINDIR).expect("unit");
    assert_eq!(
        line(&u, "CapabilityBoundingSet"),
        ["CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_IPC_LOCK"]
    );
    assert!(!line(&u, "DeviceAllow").contains(&"/dev/net/tun rw"), "{u}");
    assert!(u.contains("--feature-networking false"), "{u}");
    // Its resource limit too: device models that lock their guests'
    // memory need xend's hard limit high enough.
    assert_eq!(line(&u, "LimitMEMLOCK"), ["infinity"], "{u}");
}

#[test]
fn a_feature_that_is_off_gives_no_resource_limit_and_a_bad_one_is_refused() {
    let u = unit(&xend(), "x.xml", DEFAULT_BINDIR).expect("unit");
    assert!(line(&u, "LimitMEMLOCK").is_empty(), "{u}");
    for (word, want) in [
        ("memlock=infinity", Some("LimitMEMLOCK=infinity")),
        ("nofile=1024:4096", Some("LimitNOFILE=1024:4096")),
        ("memlock=1G", None),
        ("memlock=", None),
        ("stack=infinity", None),
        ("memlock", None),
        ("memlock=1:", None),
        ("memlock=infinity\nUser=root", None),
    ] {
        match (super::unit::rlimit_line("svc:/x:default", "f", word), want) {
            (Ok(l), Some(w)) => assert_eq!(l, w),
            (Err(e), None) => assert!(e.to_string().contains("feature_rlimits/f"), "{e}"),
            (r, w) => panic!("{word:?}: {r:?}, want {w:?}"),
        }
    }
}

#[test]
fn a_service_without_features_keeps_its_credential_as_it_is() {
    let u = export(&store()).expect("unit");
    assert!(!u.contains("# Feature "), "{u}");
    let mut r = store();
    cred(&mut r).privileges = Some("basic,proc_setid".into());
    cred(&mut r).limit_privileges = Some("basic,proc_setid".into());
    let u = export(&r).expect("unit");
    assert_eq!(
        line(&u, "CapabilityBoundingSet"),
        ["CAP_SETGID CAP_SETUID CAP_SETPCAP"]
    );
}
