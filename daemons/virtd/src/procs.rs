//! The procedures of libvirt's remote program virtd serves, numbered as
//! `src/remote/remote_protocol.x` numbers them, and which of them change
//! state: one exhaustive table, so a new procedure must say which it is
//! (a read-only connection refuses every one that does). Any other number
//! is answered with libvirt's "unknown procedure" error
//! ([`crate::error::VirError::unknown_procedure`]), which virsh reports as
//! an unsupported function.

/// A procedure virtd serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proc {
    /// `REMOTE_PROC_CONNECT_OPEN` (1): open the connection: checks the URI.
    ConnectOpen,
    /// `REMOTE_PROC_CONNECT_CLOSE` (2): close it.
    ConnectClose,
    /// `REMOTE_PROC_CONNECT_GET_TYPE` (3): the driver's name: `Xen`.
    ConnectGetType,
    /// `REMOTE_PROC_CONNECT_GET_VERSION` (4): the hypervisor's version.
    ConnectGetVersion,
    /// `REMOTE_PROC_NODE_GET_INFO` (6): the host's CPUs and memory.
    NodeGetInfo,
    /// `REMOTE_PROC_DOMAIN_CREATE` (9): start a defined domain.
    DomainCreate,
    /// `REMOTE_PROC_DOMAIN_DEFINE_XML` (11): define a domain from XML.
    DomainDefineXml,
    /// `REMOTE_PROC_DOMAIN_DESTROY` (12): end a domain at once.
    DomainDestroy,
    /// `REMOTE_PROC_DOMAIN_GET_XML_DESC` (14): a domain's XML.
    DomainGetXmlDesc,
    /// `REMOTE_PROC_DOMAIN_GET_AUTOSTART` (15): whether xend starts it with itself.
    DomainGetAutostart,
    /// `REMOTE_PROC_DOMAIN_GET_INFO` (16): state, memory, CPUs, CPU time.
    DomainGetInfo,
    /// `REMOTE_PROC_DOMAIN_GET_MAX_MEMORY` (17): its memory, KiB.
    DomainGetMaxMemory,
    /// `REMOTE_PROC_DOMAIN_GET_OS_TYPE` (19): `hvm`.
    DomainGetOsType,
    /// `REMOTE_PROC_DOMAIN_LOOKUP_BY_ID` (22): a running domain by id.
    DomainLookupById,
    /// `REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME` (23): a domain by name.
    DomainLookupByName,
    /// `REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID` (24): a domain by UUID.
    DomainLookupByUuid,
    /// `REMOTE_PROC_DOMAIN_REBOOT` (27): reboot.
    DomainReboot,
    /// `REMOTE_PROC_DOMAIN_RESUME` (28): unpause.
    DomainResume,
    /// `REMOTE_PROC_DOMAIN_SET_AUTOSTART` (29): set autostart.
    DomainSetAutostart,
    /// `REMOTE_PROC_DOMAIN_SHUTDOWN` (33): ask the guest to power off.
    DomainShutdown,
    /// `REMOTE_PROC_DOMAIN_SUSPEND` (34): pause.
    DomainSuspend,
    /// `REMOTE_PROC_DOMAIN_UNDEFINE` (35): forget a defined domain.
    DomainUndefine,
    /// `REMOTE_PROC_CONNECT_GET_HOSTNAME` (59): the host's name.
    ConnectGetHostname,
    /// `REMOTE_PROC_CONNECT_SUPPORTS_FEATURE` (60): which protocol features virtd has.
    ConnectSupportsFeature,
    /// `REMOTE_PROC_AUTH_LIST` (66): authentication: none (the gate is the peer's credentials).
    AuthList,
    /// `REMOTE_PROC_CONNECT_GET_URI` (110): the canonical URI.
    ConnectGetUri,
    /// `REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL` (121): the domain's label: its device model's uid.
    DomainGetSecurityLabel,
    /// `REMOTE_PROC_NODE_GET_SECURITY_MODEL` (122): the model: a uid per domain.
    NodeGetSecurityModel,
    /// `REMOTE_PROC_CONNECT_IS_SECURE` (149): a local socket: secure.
    ConnectIsSecure,
    /// `REMOTE_PROC_DOMAIN_IS_ACTIVE` (150): whether it runs.
    DomainIsActive,
    /// `REMOTE_PROC_DOMAIN_IS_PERSISTENT` (151): whether it is defined.
    DomainIsPersistent,
    /// `REMOTE_PROC_CONNECT_GET_LIB_VERSION` (157): the library version virtd answers as.
    ConnectGetLibVersion,
    /// `REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE` (183): never.
    DomainHasManagedSaveImage,
    /// `REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS` (196): start, with flags.
    DomainCreateWithFlags,
    /// `REMOTE_PROC_DOMAIN_OPEN_CONSOLE` (201): a stream to the serial console.
    DomainOpenConsole,
    /// `REMOTE_PROC_DOMAIN_IS_UPDATED` (202): never: no live changes pending.
    DomainIsUpdated,
    /// `REMOTE_PROC_DOMAIN_GET_STATE` (212): state and reason.
    DomainGetState,
    /// `REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS` (231): undefine, with flags.
    DomainUndefineFlags,
    /// `REMOTE_PROC_DOMAIN_DESTROY_FLAGS` (234): destroy, with flags.
    DomainDestroyFlags,
    /// `REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS` (258): shutdown, with flags.
    DomainShutdownFlags,
    /// `REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS` (273): every domain, filtered by flags.
    ConnectListAllDomains,
    /// `REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS` (350): define, with flags.
    DomainDefineXmlFlags,
    /// `REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK` (360): accepted: virtd sends no close events.
    ConnectRegisterCloseCallback,
    /// `REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK` (361): accepted.
    ConnectUnregisterCloseCallback,
}

impl Proc {
    /// Every procedure served.
    pub const ALL: [Proc; 44] = [
        Proc::ConnectOpen,
        Proc::ConnectClose,
        Proc::ConnectGetType,
        Proc::ConnectGetVersion,
        Proc::NodeGetInfo,
        Proc::DomainCreate,
        Proc::DomainDefineXml,
        Proc::DomainDestroy,
        Proc::DomainGetXmlDesc,
        Proc::DomainGetAutostart,
        Proc::DomainGetInfo,
        Proc::DomainGetMaxMemory,
        Proc::DomainGetOsType,
        Proc::DomainLookupById,
        Proc::DomainLookupByName,
        Proc::DomainLookupByUuid,
        Proc::DomainReboot,
        Proc::DomainResume,
        Proc::DomainSetAutostart,
        Proc::DomainShutdown,
        Proc::DomainSuspend,
        Proc::DomainUndefine,
        Proc::ConnectGetHostname,
        Proc::ConnectSupportsFeature,
        Proc::AuthList,
        Proc::ConnectGetUri,
        Proc::DomainGetSecurityLabel,
        Proc::NodeGetSecurityModel,
        Proc::ConnectIsSecure,
        Proc::DomainIsActive,
        Proc::DomainIsPersistent,
        Proc::ConnectGetLibVersion,
        Proc::DomainHasManagedSaveImage,
        Proc::DomainCreateWithFlags,
        Proc::DomainOpenConsole,
        Proc::DomainIsUpdated,
        Proc::DomainGetState,
        Proc::DomainUndefineFlags,
        Proc::DomainDestroyFlags,
        Proc::DomainShutdownFlags,
        Proc::ConnectListAllDomains,
        Proc::DomainDefineXmlFlags,
        Proc::ConnectRegisterCloseCallback,
        Proc::ConnectUnregisterCloseCallback,
    ];

    /// Its number.
    pub fn number(self) -> i32 {
        match self {
            Proc::ConnectOpen => 1,
            Proc::ConnectClose => 2,
            Proc::ConnectGetType => 3,
            Proc::ConnectGetVersion => 4,
            Proc::NodeGetInfo => 6,
            Proc::DomainCreate => 9,
            Proc::DomainDefineXml => 11,
            Proc::DomainDestroy => 12,
            Proc::DomainGetXmlDesc => 14,
            Proc::DomainGetAutostart => 15,
            Proc::DomainGetInfo => 16,
            Proc::DomainGetMaxMemory => 17,
            Proc::DomainGetOsType => 19,
            Proc::DomainLookupById => 22,
            Proc::DomainLookupByName => 23,
            Proc::DomainLookupByUuid => 24,
            Proc::DomainReboot => 27,
            Proc::DomainResume => 28,
            Proc::DomainSetAutostart => 29,
            Proc::DomainShutdown => 33,
            Proc::DomainSuspend => 34,
            Proc::DomainUndefine => 35,
            Proc::ConnectGetHostname => 59,
            Proc::ConnectSupportsFeature => 60,
            Proc::AuthList => 66,
            Proc::ConnectGetUri => 110,
            Proc::DomainGetSecurityLabel => 121,
            Proc::NodeGetSecurityModel => 122,
            Proc::ConnectIsSecure => 149,
            Proc::DomainIsActive => 150,
            Proc::DomainIsPersistent => 151,
            Proc::ConnectGetLibVersion => 157,
            Proc::DomainHasManagedSaveImage => 183,
            Proc::DomainCreateWithFlags => 196,
            Proc::DomainOpenConsole => 201,
            Proc::DomainIsUpdated => 202,
            Proc::DomainGetState => 212,
            Proc::DomainUndefineFlags => 231,
            Proc::DomainDestroyFlags => 234,
            Proc::DomainShutdownFlags => 258,
            Proc::ConnectListAllDomains => 273,
            Proc::DomainDefineXmlFlags => 350,
            Proc::ConnectRegisterCloseCallback => 360,
            Proc::ConnectUnregisterCloseCallback => 361,
        }
    }

    /// The procedure numbered `n`, if virtd serves it.
    pub fn from_number(n: i32) -> Option<Proc> {
        Proc::ALL.into_iter().find(|p| p.number() == n)
    }

    /// Its name, as libvirt's protocol file spells it (for logs and audit).
    pub fn name(self) -> &'static str {
        match self {
            Proc::ConnectOpen => "CONNECT_OPEN",
            Proc::ConnectClose => "CONNECT_CLOSE",
            Proc::ConnectGetType => "CONNECT_GET_TYPE",
            Proc::ConnectGetVersion => "CONNECT_GET_VERSION",
            Proc::NodeGetInfo => "NODE_GET_INFO",
            Proc::DomainCreate => "DOMAIN_CREATE",
            Proc::DomainDefineXml => "DOMAIN_DEFINE_XML",
            Proc::DomainDestroy => "DOMAIN_DESTROY",
            Proc::DomainGetXmlDesc => "DOMAIN_GET_XML_DESC",
            Proc::DomainGetAutostart => "DOMAIN_GET_AUTOSTART",
            Proc::DomainGetInfo => "DOMAIN_GET_INFO",
            Proc::DomainGetMaxMemory => "DOMAIN_GET_MAX_MEMORY",
            Proc::DomainGetOsType => "DOMAIN_GET_OS_TYPE",
            Proc::DomainLookupById => "DOMAIN_LOOKUP_BY_ID",
            Proc::DomainLookupByName => "DOMAIN_LOOKUP_BY_NAME",
            Proc::DomainLookupByUuid => "DOMAIN_LOOKUP_BY_UUID",
            Proc::DomainReboot => "DOMAIN_REBOOT",
            Proc::DomainResume => "DOMAIN_RESUME",
            Proc::DomainSetAutostart => "DOMAIN_SET_AUTOSTART",
            Proc::DomainShutdown => "DOMAIN_SHUTDOWN",
            Proc::DomainSuspend => "DOMAIN_SUSPEND",
            Proc::DomainUndefine => "DOMAIN_UNDEFINE",
            Proc::ConnectGetHostname => "CONNECT_GET_HOSTNAME",
            Proc::ConnectSupportsFeature => "CONNECT_SUPPORTS_FEATURE",
            Proc::AuthList => "AUTH_LIST",
            Proc::ConnectGetUri => "CONNECT_GET_URI",
            Proc::DomainGetSecurityLabel => "DOMAIN_GET_SECURITY_LABEL",
            Proc::NodeGetSecurityModel => "NODE_GET_SECURITY_MODEL",
            Proc::ConnectIsSecure => "CONNECT_IS_SECURE",
            Proc::DomainIsActive => "DOMAIN_IS_ACTIVE",
            Proc::DomainIsPersistent => "DOMAIN_IS_PERSISTENT",
            Proc::ConnectGetLibVersion => "CONNECT_GET_LIB_VERSION",
            Proc::DomainHasManagedSaveImage => "DOMAIN_HAS_MANAGED_SAVE_IMAGE",
            Proc::DomainCreateWithFlags => "DOMAIN_CREATE_WITH_FLAGS",
            Proc::DomainOpenConsole => "DOMAIN_OPEN_CONSOLE",
            Proc::DomainIsUpdated => "DOMAIN_IS_UPDATED",
            Proc::DomainGetState => "DOMAIN_GET_STATE",
            Proc::DomainUndefineFlags => "DOMAIN_UNDEFINE_FLAGS",
            Proc::DomainDestroyFlags => "DOMAIN_DESTROY_FLAGS",
            Proc::DomainShutdownFlags => "DOMAIN_SHUTDOWN_FLAGS",
            Proc::ConnectListAllDomains => "CONNECT_LIST_ALL_DOMAINS",
            Proc::DomainDefineXmlFlags => "DOMAIN_DEFINE_XML_FLAGS",
            Proc::ConnectRegisterCloseCallback => "CONNECT_REGISTER_CLOSE_CALLBACK",
            Proc::ConnectUnregisterCloseCallback => "CONNECT_UNREGISTER_CLOSE_CALLBACK",
        }
    }

    /// Whether it changes anything: refused on a read-only connection.
    pub fn changes_state(self) -> bool {
        match self {
            Proc::ConnectOpen
            | Proc::ConnectClose
            | Proc::ConnectGetType
            | Proc::ConnectGetVersion
            | Proc::NodeGetInfo
            | Proc::DomainGetXmlDesc
            | Proc::DomainGetAutostart
            | Proc::DomainGetInfo
            | Proc::DomainGetMaxMemory
            | Proc::DomainGetOsType
            | Proc::DomainLookupById
            | Proc::DomainLookupByName
            | Proc::DomainLookupByUuid
            | Proc::ConnectGetHostname
            | Proc::ConnectSupportsFeature
            | Proc::AuthList
            | Proc::ConnectGetUri
            | Proc::DomainGetSecurityLabel
            | Proc::NodeGetSecurityModel
            | Proc::ConnectIsSecure
            | Proc::DomainIsActive
            | Proc::DomainIsPersistent
            | Proc::ConnectGetLibVersion
            | Proc::DomainHasManagedSaveImage
            | Proc::DomainIsUpdated
            | Proc::DomainGetState
            | Proc::ConnectListAllDomains
            | Proc::ConnectRegisterCloseCallback
            | Proc::ConnectUnregisterCloseCallback => false,
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
            | Proc::DomainDefineXmlFlags => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_procedure_has_one_number_and_name() {
        let mut seen = std::collections::HashSet::new();
        for p in Proc::ALL {
            assert!(seen.insert(p.number()), "{} twice", p.number());
            assert_eq!(Proc::from_number(p.number()), Some(p));
        }
        assert_eq!(Proc::from_number(5), None);
        assert!(Proc::DomainDestroy.changes_state());
        assert!(Proc::DomainOpenConsole.changes_state());
        assert!(!Proc::ConnectListAllDomains.changes_state());
    }
}
