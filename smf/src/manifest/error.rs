//! Why a manifest cannot be used.

use std::num::ParseIntError;
use std::path::PathBuf;

use super::exec::ExecError;
use super::property::PropertyError;

/// A manifest that cannot be used. Whatever is wrong inside a file is
/// reported at its file, line and column: `FILE:LINE:COLUMN: why`.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// An element or attribute at fault.
    #[error("{}:{line}:{column}: {fault}", file.display())]
    At {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What is wrong.
        #[source]
        fault: Fault,
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

/// What is wrong at a place in a manifest: a typed cause where one lies
/// beneath (a number, a privilege set, a property value, an `exec`), so a
/// caller can tell one failure from another and walk to the cause.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// A rule of the manifest's shape broken (an element or attribute
    /// where it may not be, one missing, a value outside its choices),
    /// said in words: nothing lies beneath it.
    #[error("{0}")]
    Shape(String),
    /// An `exec` attribute that does not parse.
    #[error("{0}")]
    Exec(#[source] ExecError),
    /// A `timeout_seconds` that is not a number.
    #[error("timeout_seconds=\"{value}\": not a number of seconds ({source})")]
    Timeout {
        /// The attribute's value.
        value: String,
        /// Why it is not a number.
        #[source]
        source: ParseIntError,
    },
    /// A service `version` that is not a number.
    #[error("version=\"{value}\": not a number ({source})")]
    Version {
        /// The attribute's value.
        value: String,
        /// Why it is not a number.
        #[source]
        source: ParseIntError,
    },
    /// A credential's privilege set that does not parse.
    #[error("{attr}=\"{value}\": {source}")]
    Privileges {
        /// `privileges` or `limit_privileges`.
        attr: &'static str,
        /// The attribute's value.
        value: String,
        /// Why it is no set.
        #[source]
        source: privlib::SetError,
    },
    /// A property value not of the property's type.
    #[error("{property}: {source}")]
    Value {
        /// The property.
        property: String,
        /// What is wrong with the value.
        #[source]
        source: PropertyError,
    },
    /// One bundle defines a service twice.
    #[error("service {0} is defined twice")]
    Twice(String),
    /// Another manifest defines the service already.
    #[error("service {service} is already defined in {}", other.display())]
    AlreadyDefined {
        /// The service.
        service: String,
        /// The manifest that defines it first.
        other: PathBuf,
    },
}

impl From<String> for Fault {
    fn from(why: String) -> Fault {
        Fault::Shape(why)
    }
}

impl From<&str> for Fault {
    fn from(why: &str) -> Fault {
        Fault::Shape(why.to_string())
    }
}
