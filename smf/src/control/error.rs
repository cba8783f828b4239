//! Why a request was not served.

use privlib::Denied;

use super::limits::{ANSWER_TIMEOUT, MAX_LINE, READ_TIMEOUT};
use crate::fmri::{Fmri, FmriError};
use crate::manifest::PropertyError;
use crate::props::PropsError;
use crate::restarter::instances::InstanceError;

/// The data lines of an answer.
pub type Lines = Vec<String>;

/// The answer to a request: its data lines, or why it was not served.
pub type Answer = Result<Lines, ControlError>;

/// Why a request was not served; the text is the `ERR` line's.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The line was empty.
    #[error("empty request")]
    Empty,
    /// The verb is not one of [`Verb`](crate::control::Verb).
    #[error("unknown verb {0}")]
    UnknownVerb(String),
    /// The peer did not end its line in time.
    #[error("request not complete within {} seconds", READ_TIMEOUT.as_secs())]
    Timeout,
    /// The peer closed before the newline.
    #[error("request not ended by a newline")]
    Unterminated,
    /// The line is longer than [`MAX_LINE`].
    #[error("request longer than {MAX_LINE} bytes")]
    TooLong,
    /// More after the newline.
    #[error("one request per connection")]
    MoreThanOne,
    /// Not UTF-8.
    #[error("request is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    /// Reading the request failed.
    #[error("reading the request: {0}")]
    Read(#[source] std::io::Error),
    /// The peer lacks the verb's privilege.
    #[error("{0}")]
    Denied(#[source] Denied),
    /// The arguments do not fit the verb.
    #[error("{0}")]
    Usage(&'static str),
    /// An FMRI that does not parse.
    #[error("{0}")]
    Fmri(#[source] FmriError),
    /// No instance by that name, or not in the state the verb needs.
    #[error("{0}")]
    Instance(#[source] InstanceError),
    /// `restart` of an instance already stopping.
    #[error("{0} is already stopping")]
    Stopping(Fmri),
    /// `restart` of an instance that is not online.
    #[error("{0} is not online")]
    NotOnline(Fmri),
    /// `getprop` of a property the instance does not have.
    #[error("{fmri}: no property {prop}")]
    NoProperty {
        /// The instance.
        fmri: Fmri,
        /// The property asked for.
        prop: String,
    },
    /// A property name or value that is not one.
    #[error("{0}")]
    Property(#[source] PropertyError),
    /// `setprop` with a type that does not exist.
    #[error("no property type \"{0}\"")]
    NoType(String),
    /// `setprop` with another type than the property has.
    #[error("{prop} is of type {has}, not {given}")]
    OtherType {
        /// The property.
        prop: String,
        /// Its type.
        has: &'static str,
        /// The type given.
        given: &'static str,
    },
    /// The override file could not be changed.
    #[error("{0}")]
    Overrides(#[source] PropsError),
    /// The restarter's loop did not take the request (it is stopping).
    #[error("svc-startd is stopping")]
    Shutdown,
    /// The restarter's loop did not answer in time.
    #[error("svc-startd did not answer within {} seconds", ANSWER_TIMEOUT.as_secs())]
    NoAnswer,
}
