//! The tree's own shape, as the project's rules state it, checked on every
//! test run so a change that breaks one fails here rather than in review:
//!
//! - no source file over 600 lines but privlib's privilege table;
//! - no import cycle between a crate's top-level modules (`crate::x`
//!   references outside comments and test modules);
//! - no library function returning `Result<_, String>` (a binary's entry
//!   file may print a string).
//!
//! The checks read the sources as text; they are deliberately simple, and
//! say the file and line of what they find.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates' source roots, from the workspace root.
const CRATES: [&str; 7] = [
    "privlib/src",
    "smf/src",
    "daemons/xenstored/src",
    "daemons/xend/src",
    "daemons/relocd/src",
    "clients/xm/src",
    "tests/src",
];

/// The one file allowed past the bound: a table, one privilege a row.
const LONG_OK: [&str; 1] = ["privlib/src/names.rs"];

const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let root = workspace();
    let mut out = Vec::new();
    for c in CRATES {
        rust_files(&root.join(c), &mut out);
        // The crate's tests and benches are source too (for the size rule).
        let krate = root
            .join(c)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for extra in ["tests", "benches"] {
            if !c.starts_with("tests/") {
                rust_files(&krate.join(extra), &mut out);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(workspace())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn no_source_file_passes_600_lines_but_the_privilege_table() {
    let mut long = Vec::new();
    for f in all_sources() {
        let text = std::fs::read_to_string(&f).expect("readable source");
        let n = text.lines().count();
        if n > MAX_LINES && !LONG_OK.contains(&rel(&f).as_str()) {
            long.push(format!("{}: {n} lines", rel(&f)));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The code of a file without comment lines and without what follows its
/// first `#[cfg(test)]` (test modules sit at the end of a file here).
fn code(text: &str) -> Vec<(usize, &str)> {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// The top-level module a file of crate `src` belongs to (`None`: the
/// crate root, or a binary).
fn top_module(src: &Path, f: &Path) -> Option<String> {
    let rel = f.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (!matches!(name.as_str(), "lib" | "main" | "bin")).then_some(name)
}

/// The top-level modules `line` names through `crate::`.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|m| m == start) {
        let mut c = path[i..].to_vec();
        c.push(start.to_string());
        return Some(c);
    }
    if done.contains(start) {
        return None;
    }
    path.push(start.to_string());
    for next in graph.get(start).into_iter().flatten() {
        if let Some(c) = cycle_from(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(start.to_string());
    None
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = workspace();
    let mut found = Vec::new();
    for c in CRATES {
        let src = root.join(c);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files.iter().filter(|f| !rel(f).contains("_tests")) {
            let Some(module) = top_module(&src, f) else {
                continue;
            };
            let text = std::fs::read_to_string(f).expect("readable source");
            let edges = graph.entry(module.clone()).or_default();
            for (_, line) in code(&text) {
                for m in crate_refs(line) {
                    if m != module && m != "self" {
                        edges.insert(m);
                    }
                }
            }
        }
        let mut done = BTreeSet::new();
        let modules: Vec<String> = graph.keys().cloned().collect();
        for m in modules {
            if let Some(cycle) = cycle_from(&graph, &m, &mut Vec::new(), &mut done) {
                found.push(format!("{c}: {}", cycle.join(" -> ")));
                break;
            }
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// The error type of each `Result<T, E>` on `line`.
fn result_error_types(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("Result<") {
        rest = &rest[i + "Result<".len()..];
        let (mut depth, mut comma, mut end) = (0usize, None, None);
        for (j, ch) in rest.char_indices() {
            match ch {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' if depth == 0 => {
                    end = Some(j);
                    break;
                }
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 && comma.is_none() => comma = Some(j),
                _ => {}
            }
        }
        if let (Some(c), Some(e)) = (comma, end) {
            out.push(rest[c + 1..e].trim().to_string());
        }
    }
    out
}

#[test]
fn no_library_code_returns_a_string_for_an_error() {
    let root = workspace();
    let mut found = Vec::new();
    for c in CRATES {
        let mut files = Vec::new();
        rust_files(&root.join(c), &mut files);
        for f in files {
            let r = rel(&f);
            // A binary's entry file prints its one line.
            if r.ends_with("/main.rs") || r.contains("/bin/") || r.contains("_tests") {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("readable source");
            for (n, line) in code(&text) {
                if result_error_types(line).iter().any(|e| e == "String") {
                    found.push(format!("{r}:{n}: {}", line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "Result<_, String> in library code (use a thiserror enum with the cause):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The parsers above, on lines that must and must not match: a check
    // that can never fire is no check.
    assert_eq!(
        result_error_types("fn f() -> Result<(), String> {"),
        ["String"]
    );
    assert_eq!(
        result_error_types("fn f() -> Result<Vec<String>, ClientError>"),
        ["ClientError"]
    );
    assert_eq!(
        result_error_types("Result<HashMap<String, u32>, String>"),
        ["String"]
    );
    assert_eq!(crate_refs("use crate::{a, b::c};"), ["a", "b"]);
    assert_eq!(
        crate_refs("let x = crate::dm::kill(crate::uuid::random());"),
        ["dm", "uuid"]
    );
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    let c = cycle_from(&g, "a", &mut Vec::new(), &mut BTreeSet::new());
    assert_eq!(c, Some(vec!["a".into(), "b".into(), "a".into()]));
}
