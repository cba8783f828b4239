//! Why a request was not served.

use privlib::Denied;

use super::limits::{ANSWER_TIMEOUT, MAX_LINE, READ_TIMEOUT};
use crate::fmri::FmriError;

/// Why a request was not served; the text is the `ERR` line's.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The line was empty.
    #[error("empty request")]
    Empty,
    /// The verb is not one of [`Verb`].
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
    /// The restarter refused (its reason).
    #[error("{0}")]
    Refused(String),
    /// The restarter's loop did not take the request (it is stopping).
    #[error("svc-startd is stopping")]
    Stopping,
    /// The restarter's loop did not answer in time.
    #[error("svc-startd did not answer within {} seconds", ANSWER_TIMEOUT.as_secs())]
    NoAnswer,
}
