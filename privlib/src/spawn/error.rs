//! Why a spawn failed: the request, the privileges, a parent step, or a
//! named step in the child.

use std::ffi::OsString;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;

use crate::process::PrivError;
use crate::sys::fds::MAX_PASSED_FDS;
use crate::sys::{self, bpf};

/// Why a spawn failed; a failure in the child names the step.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The request itself is wrong; nothing was started.
    #[error("spawn {program}: {why}")]
    Invalid {
        /// The program.
        program: String,
        /// What is wrong.
        #[source]
        why: Invalid,
    },
    /// The credential asks for privileges the caller cannot give.
    #[error("spawn {program}: {source}")]
    Privileges {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: PrivError,
    },
    /// A step in the parent (pipe, fork, ...) failed.
    #[error("spawn {program}: {step}: {source}")]
    Setup {
        /// The program.
        program: String,
        /// The step.
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A step in the child failed; the program never ran.
    #[error("spawn {program}: child step \"{step}\" failed: {source}")]
    Child {
        /// The program.
        program: String,
        /// The step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

/// What is wrong with a spawn request (found before anything starts).
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// A string the kernel takes NUL-terminated holds a NUL byte.
    #[error("{0} holds a NUL byte")]
    Nul(&'static str),
    /// No program was named.
    #[error("no command given")]
    NoCommand,
    /// The program path names no executable file.
    #[error("not an executable file")]
    NotExecutable,
    /// No directory of PATH holds the program.
    #[error("not found in PATH")]
    NotInPath,
    /// An environment name that is empty or holds `=`.
    #[error("bad environment name {0:?}")]
    EnvName(OsString),
    /// More fds to pass than the child can move.
    #[error("more than {MAX_PASSED_FDS} fds to pass")]
    TooManyFds,
    /// A target fd that is negative or given twice.
    #[error("fd target {0} is negative or given twice")]
    FdTarget(RawFd),
    /// An fd to pass that is not open.
    #[error("fd {from} to pass as {to} is not open")]
    FdNotOpen {
        /// The caller's fd.
        from: RawFd,
        /// Its number in the child.
        to: RawFd,
    },
    /// No file_read and nothing allowed: not even the libraries would load.
    #[error(
        "file_read is not among the program's privileges and no fs_allow rule lets it \
         read anything, not even the libraries a dynamically linked program loads: \
         add fs_allow rules or keep file_read"
    )]
    NoFileRead,
    /// /dev/null, for the standard fds not passed, could not be opened.
    #[error("/dev/null: {0}")]
    DevNull(#[source] io::Error),
    /// More private /dev nodes than a private /dev holds.
    #[error("more than {} /dev nodes", sys::MAX_DEV_NODES)]
    TooManyNodes,
    /// A /dev node name that is empty, holds `/` or starts with a dot.
    #[error("bad /dev node name {0:?}")]
    NodeName(String),
    /// A /dev node that cannot be opened (or is a symlink).
    #[error("{}: {source}", .path.display())]
    Node {
        /// The node.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The seccomp rules do not fit one filter.
    #[error("seccomp filter: {0}")]
    Seccomp(#[source] bpf::RuleTooLong),
}
