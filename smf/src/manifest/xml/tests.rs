//! The reader's refusals, each at its file, line and column.

use std::path::Path;

use crate::manifest::{Bundle, ManifestError, parse};

const BASE: &str = r#"<?xml version="1.0"?>
<service_bundle type="manifest" name="t">
  <service name="system/xvm/t" type="service" version="1">
<create_default_instance enabled="true"/>
<dependency name="d" grouping="require_all" restart_on="none" type="service">
  <service_fmri value="svc:/system/xvm/fixperms:default"/>
</dependency>
<method_context working_directory="/var/lib/xvm">
  <method_credential user="xvm" group="xvm" supp_groups="xvm"
      privileges="basic,!proc_info" limit_privileges="basic"/>
  <method_environment>
    <envvar name="LANG" value="C"/>
  </method_environment>
</method_context>
<exec_method type="method" name="start" exec="prog --mode %{restarter/mode}" timeout_seconds="60"/>
<property_group name="sandbox" type="application">
  <propval name="address-families" type="astring" value="AF_UNIX"/>
  <property name="more" type="ustring">
    <ustring_list><value_node value="v"/></ustring_list>
  </property>
</property_group>
<template>
  <common_name><loctext xml:lang="C">a test</loctext></common_name>
</template>
  </service>
</service_bundle>
"#;

fn parse_text(text: &str) -> Result<Bundle, ManifestError> {
    parse(Path::new("t.xml"), text)
}

/// `text` with the first `from` made `to`, and the line and column of
/// the character `at` bytes into `to`.
fn changed(from: &str, to: &str, at: usize) -> (String, u32, u32) {
    assert!(BASE.contains(from), "{from}");
    let text = BASE.replacen(from, to, 1);
    let pos = text.find(to).expect("changed") + at;
    let line = text[..pos].matches('\n').count() + 1;
    let col = pos - text[..pos].rfind('\n').map_or(0, |n| n + 1) + 1;
    let n = |x: usize| u32::try_from(x).expect("a short text");
    (text, n(line), n(col))
}

#[test]
fn the_base_manifest_is_good() {
    let b = parse_text(BASE).expect("base");
    assert_eq!(b.instances().len(), 1);
}

#[test]
fn a_control_character_in_any_value_is_refused_at_its_attribute() {
    // (attribute as written, its name): each gets every character.
    let attrs = [
        (r#"user="xvm""#, "user"),
        (r#"group="xvm""#, "group"),
        (r#"supp_groups="xvm""#, "supp_groups"),
        (r#"privileges="basic,!proc_info""#, "privileges"),
        (r#"limit_privileges="basic""#, "limit_privileges"),
        (r#"working_directory="/var/lib/xvm""#, "working_directory"),
        (r#"exec="prog --mode %{restarter/mode}""#, "exec"),
        (r#"value="AF_UNIX""#, "value"),
        (r#"value="v""#, "value"),
        (r#"value="C""#, "value"),
        (r#"name="LANG""#, "name"),
        (r#"name="address-families""#, "name"),
        (r#"name="sandbox""#, "name"),
        (r#"name="d""#, "name"),
        (r#"value="svc:/system/xvm/fixperms:default""#, "value"),
        (r#"name="t""#, "name"),
    ];
    // Newline, CR, tab, ESC (C0, not even allowed in XML 1.0), DEL,
    // NEL and another C1.
    let chars = [
        "&#10;", "&#13;", "&#9;", "&#x1b;", "&#127;", "&#x85;", "&#x9b;",
    ];
    for (attr, name) in attrs {
        let (head, value) = attr.split_once('"').expect("quoted");
        let value = value.trim_end_matches('"');
        for c in chars {
            for to in [
                format!("{head}\"{value}{c}ExecStartPre=/bin/sh\""),
                format!("{head}\"{c}{value}\""),
                format!("{head}\"{value}{c}\""),
            ] {
                let (text, line, col) = changed(attr, &to, head.len() + 1);
                let e = parse_text(&text).expect_err(&to);
                if c == "&#x1b;" {
                    // roxmltree refuses it as XML already.
                    assert!(e.to_string().contains("not well-formed"), "{to}: {e}");
                    assert_eq!(e.position().expect("a position").0, line, "{to}: {e}");
                    continue;
                }
                assert_eq!(e.position().expect("a position"), (line, col), "{to}: {e}");
                assert!(e.to_string().contains(&format!(" {name}=\"")), "{to}: {e}");
                assert!(e.to_string().contains("control character"), "{to}: {e}");
                assert!(e.to_string().starts_with(&format!("t.xml:{line}:{col}: ")));
            }
        }
    }
}

#[test]
fn a_nul_is_refused_too() {
    for to in [r#"user="xvm&#0;""#, "user=\"xvm\0\""] {
        let (text, line, _) = changed(r#"user="xvm""#, to, 0);
        let e = parse_text(&text).expect_err(to);
        assert_eq!(e.position().expect("a position").0, line, "{e}");
    }
}

#[test]
fn literal_layout_in_a_value_is_folded_by_xml_and_accepted() {
    // A literal newline or tab in an attribute is a space to XML.
    let (text, _, _) = changed(
        r#"privileges="basic,!proc_info""#,
        "privileges=\"basic,\n\t!proc_info\"",
        0,
    );
    let b = parse_text(&text).expect("folded");
    let r = &b.instances()[0];
    let c = r.context.credential.as_ref().expect("credential");
    assert_eq!(c.privileges.as_deref(), Some("basic,  !proc_info"));
}

#[test]
fn a_control_character_in_the_common_name_is_refused() {
    let (text, line, col) = changed(
        "<loctext xml:lang=\"C\">a test",
        "<loctext xml:lang=\"C\">a&#127;test",
        0,
    );
    let e = parse_text(&text).expect_err("DEL");
    assert_eq!(e.position().expect("a position"), (line, col), "{e}");
    assert!(e.to_string().contains("U+007F"), "{e}");
    // Layout is folded: a newline in the text is a space.
    let (text, _, _) = changed("a test", "a&#10;&#13;test", 0);
    let b = parse_text(&text).expect("folded");
    assert_eq!(b.instances()[0].common_name.as_deref(), Some("a test"));
}

#[test]
fn a_service_name_is_checked_as_written() {
    let from = r#"<service name="system/xvm/t""#;
    let head = r#"<service name=""#.len();
    for bad in [
        "/system/xvm/t",
        "//system/xvm/t",
        "system/xvm/t/",
        "system//xvm/t",
        "/",
        "",
        "svc:/system/xvm/t",
        "system/xvm/t:default",
        "9system/xvm/t",
    ] {
        let (text, line, col) = changed(from, &format!(r#"<service name="{bad}""#), head);
        let e = parse_text(&text).expect_err(bad);
        assert_eq!(e.position().expect("a position"), (line, col), "{bad}: {e}");
        assert!(
            e.to_string()
                .contains(&format!("name=\"{bad}\" is not a service name")),
            "{e}"
        );
    }
}

#[test]
fn an_instance_name_is_checked_as_written() {
    let from = "<create_default_instance enabled=\"true\"/>";
    for bad in ["", "/a", "a/", "a/b", "a:b", "a b", "9"] {
        let to = format!(r#"<instance name="{bad}" enabled="true"/>"#);
        let (text, line, col) = changed(from, &to, r#"<instance name=""#.len());
        let e = parse_text(&text).expect_err(bad);
        assert_eq!(e.position().expect("a position"), (line, col), "{bad}: {e}");
        assert!(e.to_string().contains("is not an instance name"), "{e}");
    }
    let (text, _, _) = changed(from, r#"<instance name="test-2" enabled="false"/>"#, 0);
    let b = parse_text(&text).expect("good instance");
    assert_eq!(
        b.instances()[0].fmri.to_string(),
        "svc:/system/xvm/t:test-2"
    );
}

#[test]
fn a_service_defined_twice_is_found_however_it_was_written() {
    // "/system/xvm/t" used to pass as another spelling of the same one.
    let service = &BASE
        [BASE.find("  <service ").expect("service")..BASE.find("</service_bundle>").expect("end")];
    let slashed = service.replacen("name=\"system/xvm/t\"", "name=\"/system/xvm/t\"", 1);
    let text = BASE.replacen(
        "</service_bundle>",
        &format!("{slashed}</service_bundle>"),
        1,
    );
    let e = parse_text(&text).expect_err("slashed");
    assert!(e.to_string().contains("is not a service name"), "{e}");
    let text = BASE.replacen(
        "</service_bundle>",
        &format!("{service}</service_bundle>"),
        1,
    );
    let e = parse_text(&text).expect_err("twice");
    assert!(e.to_string().contains("defined twice"), "{e}");
}

#[test]
fn a_typed_cause_is_kept_beneath_the_position() {
    use std::error::Error as _;

    use crate::manifest::Fault;
    // (from, to, the message as svccfg validate prints it after the
    // position, and whether the fault is the one expected).
    type Check = fn(&Fault) -> bool;
    let cases: [(&str, &str, &str, Check); 4] = [
        (
            r#"timeout_seconds="60""#,
            r#"timeout_seconds="soon""#,
            "timeout_seconds=\"soon\": not a number of seconds (invalid digit found in string)",
            |f| matches!(f, Fault::Timeout { value, .. } if value == "soon"),
        ),
        (
            r#"version="1""#,
            r#"version="one""#,
            "version=\"one\": not a number (invalid digit found in string)",
            |f| matches!(f, Fault::Version { value, .. } if value == "one"),
        ),
        (
            r#"limit_privileges="basic""#,
            r#"limit_privileges="basic,no_such""#,
            "limit_privileges=\"basic,no_such\": ",
            |f| {
                matches!(
                    f,
                    Fault::Privileges {
                        attr: "limit_privileges",
                        ..
                    }
                )
            },
        ),
        (
            r#"exec="prog --mode %{restarter/mode}""#,
            r#"exec=":kill -NOPE""#,
            "",
            |f| matches!(f, Fault::Exec(_)),
        ),
    ];
    for (from, to, said, is) in cases {
        let (text, ..) = changed(from, to, 0);
        let e = parse_text(&text).expect_err(to);
        let ManifestError::At { fault, .. } = &e else {
            panic!("{to}: not at a position: {e:?}");
        };
        assert!(is(fault), "{to}: {fault:?}");
        assert!(e.to_string().contains(said), "{to}: {e}");
        // The chain reaches the cause, not only its words.
        let cause = e.source().and_then(|f| f.source());
        assert!(cause.is_some(), "{to}: no cause beneath {fault:?}");
    }
}

#[test]
fn a_property_value_of_the_wrong_type_keeps_its_cause() {
    use crate::manifest::{Fault, PropertyError};
    let (text, ..) = changed(
        r#"<propval name="address-families" type="astring" value="AF_UNIX"/>"#,
        r#"<propval name="port" type="count" value="many"/>"#,
        0,
    );
    let e = parse_text(&text).expect_err("count");
    assert!(
        matches!(&e, ManifestError::At { fault: Fault::Value { property, source: PropertyError::NotOfType { .. } }, .. } if property == "port"),
        "{e:?}"
    );
    assert!(e.to_string().contains(": port: "), "{e}");
}
