//! SMF service manifests: `smf::manifest::parse`, then each instance as
//! the restarter resolves it and as `svccfg export --systemd` writes it.
//!
//! The input is the manifest's text (bytes not UTF-8 are replaced). What
//! must hold:
//! - an error is `FILE:LINE:COLUMN: why`, placed in the text;
//! - every instance's FMRI prints as one that parses back to it;
//! - no value of an instance holds a control character (the reader
//!   refuses them in every attribute and in the common name);
//! - every command a method runs reads back as the same command, and
//!   every property value is a value of its type;
//! - an exported unit is made only of the lines the exporter writes:
//!   comments, the three sections, and its own keys, one `ExecStart=` and
//!   one `User=`; no line holds a control character (systemd ends lines
//!   at CR and NUL too) or ends in `\` (which joins the next line to it).
//!   A value from the manifest never starts a line of its own, nor
//!   swallows the next (a newline in one would add a directive to a
//!   root-run unit).
//!
//! The seeds `known-*.xml` are inputs that once broke these (a newline in
//! `user`, a service name with a leading `/`); they must stay refused.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use smf::fmri::Fmri;
use smf::manifest::{self, Exec};
use smf::systemd;
use xvm_fuzz::inside;

const FILE: &str = "service.xml";

/// Every key `systemd::unit` writes.
const KEYS: &[&str] = &[
    "Description",
    "Requires",
    "Wants",
    "Conflicts",
    "After",
    "Before",
    "StartLimitIntervalSec",
    "StartLimitBurst",
    "Type",
    "RemainAfterExit",
    "Restart",
    "RestartSec",
    "ExecStart",
    "TimeoutStartSec",
    "ExecStop",
    "KillSignal",
    "TimeoutStopSec",
    "ExecReload",
    "User",
    "Group",
    "SupplementaryGroups",
    "Environment",
    "WorkingDirectory",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "NoNewPrivileges",
    "SecureBits",
    "UMask",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateMounts",
    "ProtectProc",
    "PrivateDevices",
    "DeviceAllow",
    "DevicePolicy",
    "RuntimeDirectory",
    "RuntimeDirectoryMode",
    "StateDirectory",
    "StateDirectoryMode",
    "LogsDirectory",
    "LogsDirectoryMode",
    "RuntimeDirectoryPreserve",
    "ReadWritePaths",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProcSubset",
    "LockPersonality",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RemoveIPC",
    "KeyringMode",
    "NotifyAccess",
    "MemoryDenyWriteExecute",
    "RestrictNamespaces",
    "RestrictAddressFamilies",
    "PrivateNetwork",
    "IPAddressDeny",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "WantedBy",
];

/// Whether the `Debug` text of a value shows a control character: an
/// escape `\n`, `\r`, `\t`, `\0`, or `\u{..}` of one (`\\` is a
/// backslash; `\u{..}` also shows other unprintable characters, which
/// are allowed).
fn debug_shows_control(dbg: &str) -> bool {
    let mut it = dbg.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            continue;
        }
        match it.next() {
            Some('n' | 'r' | 't' | '0') => return true,
            Some('u') => {
                let hex: String = it.by_ref().skip(1).take_while(|&h| h != '}').collect();
                if u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .is_some_and(char::is_control)
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// What is wrong with an exported unit, if anything: a line that is not
/// one line, one the exporter does not write, or sections and keys out of
/// place.
fn unit_flaw(unit: &str) -> Option<String> {
    let mut sections = Vec::new();
    let (mut exec_start, mut user) = (0, 0);
    // Not `lines()`, which would drop a CR before a newline.
    for line in unit.split('\n') {
        if line.chars().any(char::is_control) || line.ends_with('\\') {
            return Some(format!("a line that is not one line: {line:?}"));
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if matches!(line, "[Unit]" | "[Service]" | "[Install]") {
            sections.push(line);
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if !KEYS.contains(&key) {
            return Some(format!("a line the exporter does not write: {line:?}"));
        }
        exec_start += usize::from(key == "ExecStart");
        user += usize::from(key == "User");
    }
    if sections != ["[Unit]", "[Service]", "[Install]"] {
        return Some(format!("sections {sections:?}"));
    }
    if (exec_start, user) != (1, 1) {
        return Some(format!("{exec_start} ExecStart= and {user} User= lines"));
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let bundle = match manifest::parse(Path::new(FILE), &text) {
        Ok(b) => b,
        Err(e) => {
            // Text parsed in memory is never a read or listing failure:
            // every error has a place in it.
            let Some((line, column)) = e.position() else {
                panic!("an error without a place: {e}");
            };
            let (line, column) = (line as usize, column as usize);
            assert!(
                inside(&text, line, column),
                "error outside the text: {e} (text {text:?})"
            );
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("{FILE}:{line}:{column}: ")),
                "{shown}"
            );
            return;
        }
    };
    for r in bundle.instances() {
        let printed = r.fmri.to_string();
        assert_eq!(Fmri::parse(&printed).as_ref(), Ok(&r.fmri), "{printed}");
        let dbg = format!("{r:?}");
        assert!(!debug_shows_control(&dbg), "a control character in {dbg}");
        for m in &r.methods {
            if let Exec::Command(c) = &m.exec {
                assert_eq!(manifest::parse_exec(c), Ok(m.exec.clone()), "{c:?}");
            }
        }
        for pg in &r.property_groups {
            for p in &pg.properties {
                for v in &p.values {
                    assert!(p.ty.check(v).is_ok(), "{}/{} = {v:?}", pg.name, p.name);
                }
            }
        }
        if let Ok(unit) = systemd::unit(&r, FILE, systemd::DEFAULT_BINDIR)
            && let Some(why) = unit_flaw(&unit)
        {
            panic!("{why}\n{unit}");
        }
    }
});
