//! The remote program's procedures: each decodes its arguments from the
//! call's body, acts, and encodes its result ([`Reply`]).
//!
//! - [`types`]: the structures several procedures share
//!   (`remote_nonnull_domain`);
//! - [`connect`]: the connection and the host (`CONNECT_*`, `NODE_*`,
//!   `AUTH_LIST`);
//! - [`domain`]: looking domains up and reading them;
//! - [`lifecycle`]: defining, starting, ending, pausing domains;
//!   autostart; the console.

pub mod connect;
pub mod domain;
pub mod lifecycle;
pub mod types;

use crate::error::VirError;
use crate::procs::Proc;
use crate::session::Session;
use crate::xdr::Dec;

/// What a procedure answers.
#[derive(Debug)]
pub enum Reply {
    /// A reply with this body (the procedure's `_ret`, or nothing).
    Body(Vec<u8>),
    /// `DOMAIN_OPEN_CONSOLE`: an empty reply, then a stream bridged to
    /// this console pty (opened, locked, checked) until either end stops.
    Console(lifecycle::ConsolePty),
}

/// Runs procedure `p` with the call's `body`. The caller has checked the
/// connection is open (or `p` opens it) and is writable for `p`.
pub fn call(s: &mut Session, p: Proc, body: &[u8]) -> Result<Reply, VirError> {
    // A call that changes anything never acts on, and leaves no, listing
    // of before it (Session::recent_list).
    if !p.changes_state() {
        return dispatch(s, p, body);
    }
    s.forget_list();
    let r = dispatch(s, p, body);
    s.forget_list();
    r
}

fn dispatch(s: &mut Session, p: Proc, body: &[u8]) -> Result<Reply, VirError> {
    let mut d = Dec::new(body);
    match p {
        Proc::ConnectOpen
        | Proc::ConnectClose
        | Proc::ConnectGetType
        | Proc::ConnectGetVersion
        | Proc::NodeGetInfo
        | Proc::ConnectGetHostname
        | Proc::ConnectSupportsFeature
        | Proc::AuthList
        | Proc::ConnectGetUri
        | Proc::NodeGetSecurityModel
        | Proc::ConnectIsSecure
        | Proc::ConnectGetLibVersion
        | Proc::ConnectRegisterCloseCallback
        | Proc::ConnectUnregisterCloseCallback => connect::call(s, p, &mut d),
        Proc::DomainGetXmlDesc
        | Proc::DomainGetAutostart
        | Proc::DomainGetInfo
        | Proc::DomainGetMaxMemory
        | Proc::DomainGetOsType
        | Proc::DomainLookupById
        | Proc::DomainLookupByName
        | Proc::DomainLookupByUuid
        | Proc::DomainGetSecurityLabel
        | Proc::DomainIsActive
        | Proc::DomainIsPersistent
        | Proc::DomainHasManagedSaveImage
        | Proc::DomainIsUpdated
        | Proc::DomainGetState
        | Proc::ConnectListAllDomains => domain::call(s, p, &mut d),
        Proc::DomainCreate
        | Proc::DomainDefineXml
        | Proc::DomainDestroy
        | Proc::DomainReboot
        | Proc::DomainResume
        | Proc::DomainSetAutostart
        | Proc::DomainShutdown
        | Proc::DomainSuspend
        | Proc::DomainUndefine
        | Proc::DomainCreateWithFlags
        | Proc::DomainOpenConsole
        | Proc::DomainUndefineFlags
        | Proc::DomainDestroyFlags
        | Proc::DomainShutdownFlags
        | Proc::DomainDefineXmlFlags => lifecycle::call(s, p, &mut d),
    }
}
