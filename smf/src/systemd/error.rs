//! Why an instance could not be exported as a unit.

/// Why a line would not stay one line of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// A control character (a newline starts a directive of its own).
    #[error("it holds the control character U+{0:04X}")]
    Control(u32),
    /// A trailing backslash joins the next line to it.
    #[error("it ends in \\, which joins the next line to it")]
    Continuation,
}

/// Why an instance could not be exported as a unit.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// It has no start method.
    #[error("{0}: no start method")]
    NoStart(String),
    /// Its start method runs no program.
    #[error("{0}: the start method runs no program")]
    NoProgram(String),
    /// Its privileges do not parse.
    #[error("{fmri}: {source}")]
    Privileges {
        /// The instance.
        fmri: String,
        /// The cause.
        #[source]
        source: privlib::SetError,
    },
    /// A feature's resource limit is not one the export knows.
    #[error(
        "{fmri}: feature_rlimits/{feature}: {word:?} is not NAME=VALUE with NAME memlock, nofile, nproc or core and VALUE infinity, a number or SOFT:HARD"
    )]
    Rlimit {
        /// The instance.
        fmri: String,
        /// The feature.
        feature: String,
        /// The word.
        word: String,
    },
    /// A method's command could not be made into a line.
    #[error("{0}")]
    Command(#[source] crate::manifest::ExecError),
    /// A value would not stay on its line.
    #[error("{fmri}: {what} would not stay on its line: {why} ({line:?})")]
    Line {
        /// The instance.
        fmri: String,
        /// The key (or "a comment").
        what: String,
        /// The line as it would have been written.
        line: String,
        /// What is wrong with it.
        #[source]
        why: LineProblem,
    },
}
