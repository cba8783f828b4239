//! What a domain operation can fail with: [`DomainError`], what the
//! manager and the server return.
//!
//! Every variant keeps its typed cause: saved state and QMP
//! ([`DomainError::State`], [`DomainError::Qmp`]), a launch refused before
//! anything was made ([`DomainError::Prepare`]) or failing at a step
//! ([`DomainError::Run`]). It sits above the modules whose errors it
//! wraps (each converts into it with `From`); none of them returns it.
//! How each is answered on the wire: [`DomainError::kind`].

use std::path::PathBuf;

use crate::api::ErrorKind;
use crate::config::ConfigError;
use crate::domain::MAX_MANAGED;
use crate::launch::LaunchError;
use crate::vnc;

/// Why a domain could not be created, found, changed or ended.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No domain has that name or id.
    #[error("no domain {0}")]
    NoDomain(String),
    /// A domain of that name runs (or is starting or ending).
    #[error("a domain named {0} already runs")]
    NameTaken(String),
    /// A domain with that UUID runs.
    #[error("a domain with uuid {0} already runs")]
    UuidTaken(String),
    /// A UUID that is not one (a relocation peer's).
    #[error("{0:?} is not a uuid")]
    BadUuid(String),
    /// Every domid is taken, or still has a live process of its uid.
    #[error("no free domain id")]
    NoFreeId,
    /// The device-model uid range overflows.
    #[error("the device-model uid range overflows")]
    UidOverflow,
    /// The config does not parse (FILE:LINE:COLUMN: why).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No managed domain of that name.
    #[error("no managed domain {0} (xm new FILE first)")]
    NoManaged(String),
    /// A managed domain that runs cannot be deleted.
    #[error("{0} is running: destroy or shut it down first")]
    Running(String),
    /// The bound on managed domains.
    #[error("{MAX_MANAGED} managed domains are stored already: xm delete one first")]
    ManagedFull,
    /// A file over its bound.
    #[error("{}: larger than {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: usize,
    },
    /// A file or directory could not be made, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not one xend reads (not regular, not text).
    #[error(transparent)]
    File(privlib::bounded::FileError),
    /// Our own process could not be read in /proc.
    #[error("reading /proc/self: {0}")]
    Proc(#[source] privlib::procfs::ProcError),
    /// The domain's state could not be saved, or a UUID made.
    #[error(transparent)]
    State(#[from] crate::saved::StateError),
    /// A launch was refused before anything was made.
    #[error(transparent)]
    Prepare(#[from] crate::dm::prepare::PrepareError),
    /// A launch failed at a step (named in the error).
    #[error(transparent)]
    Run(#[from] crate::launch::RunError),
    /// A QMP command failed.
    #[error(transparent)]
    Qmp(#[from] crate::qmp::QmpError),
    /// A definition is no config (`domain.define`).
    #[error(transparent)]
    Definition(#[from] crate::definition::DefinitionError),
    /// `domain.define`: the name is defined with another UUID.
    #[error("domain {name} is already defined with uuid {uuid}")]
    DefinedAs {
        /// The name.
        name: String,
        /// Its UUID.
        uuid: String,
    },
    /// `domain.define`: the UUID is another defined domain's.
    #[error("uuid {uuid} is already defined as domain {name}")]
    UuidDefined {
        /// The UUID.
        uuid: String,
        /// The domain that has it.
        name: String,
    },
}

impl DomainError {
    /// How it is answered on the wire: one kind per variant, one
    /// exhaustive match.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DomainError::NoDomain(_) | DomainError::NoManaged(_) => ErrorKind::NoDomain,
            DomainError::NameTaken(_)
            | DomainError::UuidTaken(_)
            | DomainError::Running(_)
            | DomainError::DefinedAs { .. }
            | DomainError::UuidDefined { .. } => ErrorKind::Busy,
            DomainError::NoFreeId | DomainError::UidOverflow | DomainError::ManagedFull => {
                ErrorKind::Limit
            }
            DomainError::Config(_)
            | DomainError::TooLarge { .. }
            | DomainError::Definition(_)
            | DomainError::BadUuid(_) => ErrorKind::BadConfig,
            // A VNC address this xend may not open, or a display past the last
            // port: the config asks for it, so it is the config's fault.
            DomainError::Run(crate::launch::RunError::Vnc {
                source: vnc::VncError::NotLoopback { .. } | vnc::VncError::NoPort { .. },
                ..
            }) => ErrorKind::BadConfig,
            DomainError::Io { .. }
            | DomainError::File(_)
            | DomainError::Proc(_)
            | DomainError::State(_)
            | DomainError::Prepare(_)
            | DomainError::Run(_)
            | DomainError::Qmp(_) => ErrorKind::Failed,
        }
    }
}

impl From<LaunchError> for DomainError {
    fn from(e: LaunchError) -> DomainError {
        match e {
            LaunchError::Prepare(e) => DomainError::Prepare(e),
            LaunchError::Run(e) => DomainError::Run(e),
        }
    }
}

impl DomainError {
    /// An I/O error at `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DomainError {
        let path = path.into();
        move |source| DomainError::Io { path, source }
    }
}
