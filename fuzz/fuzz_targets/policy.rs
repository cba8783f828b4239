//! The privilege policy file: `privlib::policy::Policy::parse`, the text
//! parser under `Policy::load_system` (which only adds the file checks).
//!
//! The input is the file's text (bytes not UTF-8 are replaced). Group
//! names are looked up in this machine's account database, as the
//! daemons do. What must hold:
//! - an error is `FILE:LINE:COLUMN: why`, placed in the text;
//! - a policy that parses, written out again as TOML, parses to the same
//!   policy;
//! - it grants what it says and nothing more: a peer whose uid is listed
//!   holds the privilege by that uid; one in a listed group (uid not
//!   listed) by that group; one in neither holds nothing (a peer known
//!   only by uid has no capability that counts); a privilege with no
//!   table is held by no one.
#![no_main]

use std::fmt::Write as _;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use privlib::caps::cap_name;
use privlib::names::{Backing, PrivId};
use privlib::peer::Ucred;
use privlib::policy::{Policy, PolicyError, Why};
use xvm_fuzz::inside;

const FILE: &str = "privileges.toml";

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list<T>(items: impl Iterator<Item = T>, f: impl Fn(T) -> String) -> String {
    items.map(f).collect::<Vec<_>>().join(", ")
}

/// The policy written out as its file.
fn to_toml(p: &Policy) -> String {
    let mut t = String::new();
    let Policy::System(grants) = p else {
        return t;
    };
    for (id, g) in grants {
        let _ = writeln!(t, "[{}]", id.name());
        let _ = writeln!(
            t,
            "groups = [{}]",
            list(g.groups.iter(), |(n, _)| toml_str(n))
        );
        let _ = writeln!(t, "uids = [{}]", list(g.uids.iter(), u32::to_string));
        let _ = writeln!(
            t,
            "capabilities = [{}]",
            list(g.caps.iter(), |c| toml_str(&cap_name(c)))
        );
    }
    t
}

fn place_ok(text: &str, e: &PolicyError) {
    assert!(
        inside(text, e.line, e.col),
        "error outside the text: {e} (text {text:?})"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{FILE}:{}:{}: ", e.line, e.col)),
        "{shown}"
    );
}

fn a_uid_not_in(uids: &[u32]) -> u32 {
    (1_000_000..)
        .find(|u| !uids.contains(u))
        .unwrap_or(u32::MAX)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = match Policy::parse(&text, Path::new(FILE)) {
        Ok(p) => p,
        Err(e) => return place_ok(&text, &e),
    };
    let written = to_toml(&p);
    let again = Policy::parse(&written, Path::new("again.toml"))
        .unwrap_or_else(|e| panic!("the policy written out does not parse: {e}\n{written}"));
    assert_eq!(p, again, "written out as\n{written}");

    for id in PrivId::all().filter(|id| id.info().backing == Backing::Shim) {
        let Some(g) = p.grants(id) else {
            let anyone = Ucred::from_uid(0, 0, vec![0], "fuzz");
            assert_eq!(p.holds(&anyone, id), None, "{} has no table", id.name());
            continue;
        };
        let nobody_gid = a_uid_not_in(&g.groups.iter().map(|(_, gid)| *gid).collect::<Vec<_>>());
        for uid in &g.uids {
            let peer = Ucred::from_uid(*uid, nobody_gid, vec![], "fuzz");
            assert_eq!(p.holds(&peer, id), Some(Why::Uid(*uid)));
        }
        let stranger = a_uid_not_in(&g.uids);
        for (name, gid) in &g.groups {
            let peer = Ucred::from_uid(stranger, nobody_gid, vec![*gid], "fuzz");
            match p.holds(&peer, id) {
                Some(Why::Group(n)) if g.groups.iter().any(|(m, x)| *m == n && x == gid) => {}
                other => panic!("a member of {name} ({gid}) holds {}: {other:?}", id.name()),
            }
        }
        let peer = Ucred::from_uid(stranger, nobody_gid, vec![], "fuzz");
        assert_eq!(p.holds(&peer, id), None, "a stranger holds {}", id.name());
    }
});
