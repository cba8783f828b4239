//! Why a manifest cannot be used.

use std::path::PathBuf;

/// A manifest that cannot be used. Whatever is wrong inside a file is
/// reported at its file, line and column: `FILE:LINE:COLUMN: why`.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// An element or attribute at fault.
    #[error("{}:{line}:{column}: {why}", file.display())]
    At {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What is wrong.
        why: String,
    },
    /// Not well-formed XML.
    #[error("{}:{line}:{column}: not well-formed XML: {source}", file.display())]
    Xml {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// The XML parser's reason.
        #[source]
        source: roxmltree::Error,
    },
    /// The file could not be read (or is larger than [`MAX_MANIFEST`]).
    ///
    /// [`MAX_MANIFEST`]: crate::manifest::xml::MAX_MANIFEST
    #[error("{0}")]
    Read(#[source] privlib::bounded::FileError),
    /// The manifest directory could not be listed.
    #[error("{}: {source}", dir.display())]
    List {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ManifestError {
    /// Line and column of what is wrong inside the file, if it is there.
    pub fn position(&self) -> Option<(u32, u32)> {
        match self {
            ManifestError::At { line, column, .. } | ManifestError::Xml { line, column, .. } => {
                Some((*line, *column))
            }
            ManifestError::Read(_) | ManifestError::List { .. } => None,
        }
    }
}
