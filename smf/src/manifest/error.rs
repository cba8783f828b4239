//! Why a manifest cannot be used.

use std::path::PathBuf;

/// A manifest that cannot be used: `FILE:LINE:COLUMN: why`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {why}", file.display())]
pub struct ManifestError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub why: String,
}
