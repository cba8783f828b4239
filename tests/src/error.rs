//! The fixture's one error type: a failed check, a failed step with its
//! cause, or a wait that ran out.

use std::path::PathBuf;

/// Why a fixture step or a test's check failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A test's check did not hold; the text says what was seen.
    #[error("{0}")]
    Check(String),
    /// An I/O step on a path.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the step was doing.
        what: &'static str,
        /// The path it was working on.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Starting a program.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A wait ran past its deadline.
    #[error("timed out after {secs} s: {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The deadline, in seconds.
        secs: u64,
    },
    /// A daemon ended before it was ready.
    #[error("{name} exited ({status}) before it was ready; its log:\n{log}")]
    Exited {
        /// The daemon.
        name: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its stderr so far.
        log: String,
    },
    /// A binary of the workspace is not built.
    #[error(
        "{} is not built: run `cargo build --workspace --bins` (or `cargo test --workspace`) first",
        path.display()
    )]
    NotBuilt {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A step of `privlib::testing`.
    #[error(transparent)]
    Privlib(#[from] privlib::testing::TestingError),
}

impl Error {
    /// An [`Error::Io`] maker for `map_err`.
    pub fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}

/// Tests run inside `privlib::testing`'s forked children, whose verdict
/// is text.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

/// `Err(Error::Check(what))` unless `ok`.
pub fn check(ok: bool, what: impl Into<String>) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::Check(what.into()))
    }
}
