//! libvirt's error, as virtd sends it: a `remote_error` (the body of a
//! reply with status ERROR) with libvirt's own codes, so virsh prints the
//! message and a program tells "no such domain" from "read-only" by code.
//!
//! # Format
//! `remote_error` (`src/remote/remote_protocol.x`): `int code`, `int
//! domain`, `remote_string message`, `int level`, `remote_domain dom`
//! (absent), `remote_string str1, str2, str3` (absent), `int int1, int2`
//! (0), `remote_network net` (absent).

use crate::xdr::Enc;

/// libvirt's error codes (`virErrorNumber`) virtd sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// `VIR_ERR_INTERNAL_ERROR`.
    Internal,
    /// `VIR_ERR_NO_SUPPORT`: an unknown procedure, an unsupported flag.
    NoSupport,
    /// `VIR_ERR_INVALID_ARG`.
    InvalidArg,
    /// `VIR_ERR_OPERATION_FAILED`.
    OperationFailed,
    /// `VIR_ERR_XML_ERROR`.
    XmlError,
    /// `VIR_ERR_DOM_EXIST`.
    DomainExists,
    /// `VIR_ERR_OPERATION_DENIED`: libvirt's answer on a read-only
    /// connection.
    OperationDenied,
    /// `VIR_ERR_RPC`.
    Rpc,
    /// `VIR_ERR_NO_DOMAIN`.
    NoDomain,
    /// `VIR_ERR_OPERATION_INVALID`: not in this state.
    OperationInvalid,
    /// `VIR_ERR_XML_DETAIL`.
    XmlDetail,
    /// `VIR_ERR_CONFIG_UNSUPPORTED`.
    ConfigUnsupported,
    /// `VIR_ERR_OPERATION_TIMEOUT`.
    OperationTimeout,
    /// `VIR_ERR_ACCESS_DENIED`: the peer lacks the privilege.
    AccessDenied,
}

impl Code {
    /// Its number.
    pub fn number(self) -> i32 {
        match self {
            Code::Internal => 1,
            Code::NoSupport => 3,
            Code::InvalidArg => 8,
            Code::OperationFailed => 9,
            Code::XmlError => 27,
            Code::DomainExists => 28,
            Code::OperationDenied => 29,
            Code::XmlDetail => 35,
            Code::Rpc => 39,
            Code::NoDomain => 42,
            Code::OperationInvalid => 55,
            Code::ConfigUnsupported => 67,
            Code::OperationTimeout => 68,
            Code::AccessDenied => 88,
        }
    }
}

/// Where an error comes from (`virErrorDomain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// `VIR_FROM_XEN`: the hypervisor driver (xend).
    Xen,
    /// `VIR_FROM_RPC`: the protocol.
    Rpc,
    /// `VIR_FROM_REMOTE`: the remote driver.
    Remote,
    /// `VIR_FROM_DOMAIN`: domain XML.
    Domain,
    /// `VIR_FROM_STREAMS`: a stream.
    Streams,
    /// `VIR_FROM_ACCESS`: access control.
    Access,
}

impl From {
    /// Its number.
    pub fn number(self) -> i32 {
        match self {
            From::Xen => 1,
            From::Rpc => 7,
            From::Remote => 13,
            From::Domain => 20,
            From::Streams => 38,
            From::Access => 55,
        }
    }
}

/// `VIR_ERR_ERROR`: every error virtd sends is of this level.
const LEVEL_ERROR: i32 = 2;

/// A libvirt error, ready to send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct VirError {
    /// Its code.
    pub code: Code,
    /// Where it comes from.
    pub from: From,
    /// For a person: virsh prints it after "error: ".
    pub message: String,
}

impl VirError {
    /// An error of `code` from `from`.
    pub fn new(code: Code, from: From, message: impl Into<String>) -> VirError {
        VirError {
            code,
            from,
            message: message.into(),
        }
    }

    /// libvirt's answer to a procedure the server does not know.
    pub fn unknown_procedure(prog: u32, proc_: i32) -> VirError {
        VirError::new(
            Code::NoSupport,
            From::Rpc,
            format!(
                "unknown procedure: {proc_} (program {prog:#x}): this function is not supported by virtd"
            ),
        )
    }

    /// A state-changing call on a read-only connection or socket.
    pub fn read_only(what: &str) -> VirError {
        VirError::new(
            Code::OperationDenied,
            From::Remote,
            format!(
                "operation forbidden: {what}: read only access prevents it (this connection is read-only)"
            ),
        )
    }

    /// No domain of that name, id or UUID.
    pub fn no_domain(which: &str) -> VirError {
        VirError::new(
            Code::NoDomain,
            From::Xen,
            format!("Domain not found: no domain {which}"),
        )
    }

    /// Not in this state (start a running domain, ...).
    pub fn invalid(message: impl Into<String>) -> VirError {
        VirError::new(Code::OperationInvalid, From::Xen, message)
    }

    /// A bad argument (flags virtd does not take, ...).
    pub fn invalid_arg(message: impl Into<String>) -> VirError {
        VirError::new(Code::InvalidArg, From::Remote, message)
    }

    /// A domain XML refused, with its line and column.
    pub fn xml(message: impl Into<String>) -> VirError {
        VirError::new(Code::XmlError, From::Domain, message)
    }

    /// The call failed.
    pub fn failed(message: impl Into<String>) -> VirError {
        VirError::new(Code::OperationFailed, From::Xen, message)
    }

    /// The body is `remote_error` in XDR.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.i32(self.code.number())
            .i32(self.from.number())
            .opt_string(Some(&self.message))
            .i32(LEVEL_ERROR)
            .bool(false)
            .opt_string(None)
            .opt_string(None)
            .opt_string(None)
            .i32(0)
            .i32(0)
            .bool(false);
        e.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdr::Dec;

    #[test]
    fn an_error_encodes_as_remote_error() {
        let e = VirError::no_domain("web");
        let b = e.encode();
        let mut d = Dec::new(&b);
        assert_eq!(d.i32("code"), Ok(42));
        assert_eq!(d.i32("domain"), Ok(1));
        assert_eq!(
            d.opt_string("message", 1024),
            Ok(Some("Domain not found: no domain web"))
        );
        assert_eq!(d.i32("level"), Ok(2));
        assert_eq!(d.bool("dom"), Ok(false));
        for f in ["str1", "str2", "str3"] {
            assert_eq!(d.opt_string(f, 8), Ok(None));
        }
        assert_eq!((d.i32("int1"), d.i32("int2")), (Ok(0), Ok(0)));
        assert_eq!(d.bool("net"), Ok(false));
        assert_eq!(d.finish("remote_error"), Ok(()));
    }
}
