//! The manifest reader: XML in, a [`Bundle`] or a [`ManifestError`] at
//! the file, line and column at fault out.
//!
//! - [`reader`]: positions and the checks every element shares;
//! - `service`: bundle, service, instance and their shared parts,
//!   dependencies;
//! - `method`: exec methods, method contexts and credentials;
//! - `property`: property groups, values, stability and templates.

use std::path::{Path, PathBuf};

use roxmltree::{Document, ParsingOptions};

use super::error::{Fault, ManifestError};
use super::model::Bundle;
use reader::Reader;

mod method;
mod property;
pub mod reader;
mod service;
#[cfg(test)]
mod tests;

/// Parses manifest `text`, read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<Bundle, ManifestError> {
    let opts = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|source| {
        let p = source.pos();
        ManifestError::Xml {
            file: file.to_path_buf(),
            line: p.row,
            column: p.col,
            source,
        }
    })?;
    Reader { file, doc: &doc }.bundle()
}

/// The largest manifest read: the shipped ones are a few KiB; a bigger
/// file is a mistake (or a FIFO, or `/dev/zero`), refused before it is
/// held in memory.
pub const MAX_MANIFEST: u64 = 1 << 20;

/// Reads (at most [`MAX_MANIFEST`] bytes) and parses the manifest at `path`.
pub fn load(path: &Path) -> Result<Bundle, ManifestError> {
    let text = privlib::bounded::read_to_string(path, MAX_MANIFEST).map_err(ManifestError::Read)?;
    parse(path, &text)
}

/// Every `*.xml` manifest under `dir` (one level), sorted by file name;
/// also checks that no FMRI is defined twice.
pub fn load_dir(dir: &Path) -> Result<Vec<Bundle>, ManifestError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| ManifestError::List {
            dir: dir.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut out: Vec<Bundle> = Vec::new();
    for f in files {
        let b = load(&f)?;
        for s in &b.services {
            if let Some(o) = out
                .iter()
                .find(|o| o.services.iter().any(|x| x.name == s.name))
            {
                return Err(ManifestError::At {
                    file: f.clone(),
                    line: 1,
                    column: 1,
                    fault: Fault::AlreadyDefined {
                        service: s.name.clone(),
                        other: o.file.clone(),
                    },
                });
            }
        }
        out.push(b);
    }
    Ok(out)
}
