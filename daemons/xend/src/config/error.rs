//! What a config can be refused for: [`ConfigError`], a place in a file
//! and a [`Fault`] that says what is wrong there, one variant per refusal.

use std::fmt;
use std::path::PathBuf;

/// A place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line (0 when the file could not be read at all).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Pos {
    /// The start of the file, where refusals of the whole config go.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// A config that cannot be used: `FILE:LINE:COLUMN: why` (or the read
/// error, which names the file, when it could not be read).
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub fault: Fault,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fault {
            Fault::Read(e) => write!(f, "{e}"),
            fault => write!(
                f,
                "{}:{}:{}: {fault}",
                self.file.display(),
                self.pos.line,
                self.pos.column
            ),
        }
    }
}

/// What is wrong at a place.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The file could not be read (missing, not a regular file, over
    /// [`super::MAX_FILE`], not UTF-8).
    #[error(transparent)]
    Read(privlib::bounded::FileError),
    /// The text is not xl.cfg syntax.
    #[error(transparent)]
    Syntax(#[from] SyntaxFault),
    /// A statement this stack cannot run.
    #[error(transparent)]
    Domain(#[from] DomainFault),
    /// A disk spec that does not read.
    #[error(transparent)]
    Disk(#[from] DiskSpecError),
    /// A vif spec that does not read.
    #[error(transparent)]
    Vif(#[from] VifSpecError),
}

/// xl.cfg syntax errors. `found` is the token as shown ("=", "a string",
/// "the end of the line", ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxFault {
    /// A word starting with a digit or `-` that is no number.
    #[error("\"{0}\" is not a number")]
    NotANumber(String),
    /// A character that starts no token.
    #[error("unexpected character '{}'", .0.escape_default())]
    UnexpectedChar(char),
    /// A newline or the end of the file inside a string.
    #[error("string not closed on its line")]
    UnclosedString,
    /// A `\` as the last byte.
    #[error("\\ ends the file")]
    EscapeAtEnd,
    /// An escape other than `\n \t \r \\ \" \'`.
    #[error("unknown escape \\{}", .0.escape_default())]
    UnknownEscape(char),
    /// A string whose escapes made bytes that are not UTF-8.
    #[error("string is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    /// A statement that does not start with a key.
    #[error("expected a key, found {found}")]
    ExpectedKey {
        /// What was there.
        found: String,
    },
    /// A key not followed by `=` or `+=`.
    #[error("expected = after {key}, found {found}")]
    ExpectedEq {
        /// The key.
        key: String,
        /// What was there.
        found: String,
    },
    /// More after a value.
    #[error("expected the end of the line, found {found}")]
    ExpectedEnd {
        /// What was there.
        found: String,
    },
    /// `KEY +=` with no list `KEY` before.
    #[error("{0} += needs an earlier list {0} = [...]")]
    AppendWithoutList(String),
    /// A `[` the file never closes.
    #[error("this [ is never closed")]
    UnclosedList,
    /// Something other than a value or `]` in a list.
    #[error("expected a value or ], found {found}")]
    ExpectedItem {
        /// What was there.
        found: String,
    },
    /// Something other than `,` or `]` after a list item.
    #[error("expected , or ], found {found}")]
    ExpectedCommaOrClose {
        /// What was there.
        found: String,
    },
    /// No value after `=`.
    #[error("expected a value, found {found}")]
    ExpectedValue {
        /// What was there.
        found: String,
    },
}

/// Statements that read but that this stack cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainFault {
    /// A control character in a value acted on (`value` as printed).
    #[error("{key} {value}: a control character (U+{code:04X}) has no place in a config value")]
    ControlChar {
        /// The key.
        key: String,
        /// The value, quoted.
        value: String,
        /// The character.
        code: u32,
    },
    /// A number or list where a string goes.
    #[error("{key} must be a string ({what})")]
    NotAString {
        /// The key.
        key: String,
        /// What the string is.
        what: &'static str,
    },
    /// A number out of its range, or not a number.
    #[error("{key} must be a number from {lo} to {hi}, not {value}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The least.
        lo: i64,
        /// The most.
        hi: i64,
        /// The value as written.
        value: String,
    },
    /// A domain name with other characters, or too long.
    #[error("name \"{0}\": 1 to 64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    /// A PV guest.
    #[error(
        "{key} = \"{value}\": PV guests are not supported here; only HVM guests (type = \"hvm\") run under an unprivileged device model"
    )]
    PvGuest {
        /// `type` or `builder`.
        key: String,
        /// The type.
        value: String,
    },
    /// A guest type xl does not know.
    #[error("{key} = \"{value}\": unknown guest type")]
    UnknownType {
        /// `type` or `builder`.
        key: String,
        /// The type.
        value: String,
    },
    /// Not a UUID (see [`crate::uuid::is_valid`]).
    #[error("uuid \"{0}\" is not a UUID (8-4-4-4-12 hex digits)")]
    BadUuid(String),
    /// `disk` is not a list.
    #[error("disk must be a list of disk specs")]
    DiskNotAList,
    /// A disk spec that is not a string.
    #[error("a disk spec is a string")]
    DiskSpecNotAString,
    /// Two disks in one IDE slot.
    #[error("disk \"{spec}\": another disk has slot {vdev}")]
    SlotTaken {
        /// The later spec.
        spec: String,
        /// Its vdev.
        vdev: String,
    },
    /// `serial` is not a string.
    #[error("serial must be a string, such as \"pty\"")]
    SerialNotAString,
    /// A serial this stack does not serve (`value` quoted).
    #[error("serial = {value}: {why}")]
    BadSerial {
        /// The value, quoted.
        value: String,
        /// What is wrong with it.
        why: SerialFault,
    },
    /// `kernel` or `ramdisk` not an absolute path (`value` quoted).
    #[error("{key} = {value}: an absolute path beneath an image directory")]
    NotAbsolute {
        /// The key.
        key: String,
        /// The value, quoted.
        value: String,
    },
    /// `ramdisk`, `cmdline`, `root` or `extra` without `kernel`.
    #[error("{0} needs kernel = \"...\" (direct kernel boot)")]
    NeedsKernel(String),
    /// A `vnclisten` that is not `HOST[:PORT]` (`value` quoted).
    #[error("vnclisten {value} is not HOST[:PORT]: {why}")]
    BadVnclisten {
        /// The value, quoted.
        value: String,
        /// What is wrong with it.
        why: VnclistenFault,
    },
    /// An `on_*` action xl does not know.
    #[error("{key} = \"{value}\": destroy, restart or preserve")]
    BadAction {
        /// The key.
        key: String,
        /// The action.
        value: String,
    },
    /// `on_reboot` other than restart.
    #[error("on_reboot = \"{0}\": only restart (qemu resets the guest in place)")]
    RebootNotRestart(String),
    /// `vif` is not a list.
    #[error("vif must be a list of vif specs, such as [ 'bridge=xenbr0' ]")]
    VifNotAList,
    /// A vif spec that is not a string.
    #[error("a vif spec is a string")]
    VifSpecNotAString,
    /// More cards than a domain may have.
    #[error("vif: more than {max} network cards (a domain has at most {max})")]
    TooManyVifs {
        /// The most there may be ([`super::vif::MAX_NICS`]).
        max: usize,
    },
    /// Two cards with one MAC.
    #[error("vif \"{spec}\": another card has mac {mac}")]
    MacTaken {
        /// The later spec.
        spec: String,
        /// The address.
        mac: String,
    },
    /// A `boot` that is not an order of c, d and n (`value` quoted).
    #[error("boot = {value}: {why}")]
    BadBoot {
        /// The value, quoted.
        value: String,
        /// What is wrong with it.
        why: BootFault,
    },
    /// `maxvcpus` below `vcpus`.
    #[error("maxvcpus = {maxvcpus} is less than vcpus = {vcpus}")]
    MaxvcpusBelowVcpus {
        /// `maxvcpus`.
        maxvcpus: u32,
        /// `vcpus`.
        vcpus: u32,
    },
    /// `usbdevice` neither a string nor a list of strings.
    #[error("usbdevice must be a string or a list of strings, such as 'tablet'")]
    UsbdeviceNotAString,
    /// A `usbdevice` qemu does not emulate here (`value` quoted).
    #[error(
        "usbdevice {value}: tablet, mouse or keyboard (the device model reaches no host device)"
    )]
    BadUsbdevice {
        /// The value, quoted.
        value: String,
    },
    /// A `usbdevice` named twice.
    #[error("usbdevice \"{0}\" is named twice")]
    UsbdeviceTwice(String),
    /// `device_model_privileges` neither a string nor a list of strings.
    #[error(
        "device_model_privileges must be a privilege name or a list of them, such as [ 'proc_lock_memory' ]"
    )]
    DmPrivilegesNotStrings,
    /// A privilege that is no privilege (`name` quoted).
    #[error("device_model_privileges: {name} is not a privilege (see ppriv -l)")]
    UnknownPrivilege {
        /// The name, quoted.
        name: String,
    },
    /// A privilege a device model may not be given.
    #[error(
        "device_model_privileges: {name} is refused: it {why}; a device model may be given only {grantable}"
    )]
    DmPrivilegeRefused {
        /// The privilege.
        name: String,
        /// Why it is refused.
        why: &'static str,
        /// What may be given ([`crate::features::DM_GRANTABLE`]).
        grantable: &'static str,
    },
    /// A key xl.cfg does not have (or this stack has never heard of).
    #[error("unknown key \"{0}\" (see xl.cfg(5))")]
    UnknownKey(String),
    /// No `name`.
    #[error("no name = \"...\"")]
    NoName,
    /// No `type = "hvm"`.
    #[error(
        "no type = \"hvm\": PV guests are not supported here; only HVM guests run under an unprivileged device model"
    )]
    NoHvm,
}

/// What is wrong with a `boot` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BootFault {
    /// No letter.
    #[error("no boot device; c (disk), d (CD-ROM) and n (network), in order, such as \"dc\"")]
    Empty,
    /// A letter that is no boot device here.
    #[error(
        "'{}' is not a boot device; c (disk), d (CD-ROM) or n (network)",
        .0.escape_default()
    )]
    Letter(char),
    /// A letter given twice.
    #[error("'{0}' is given twice")]
    Twice(char),
}

/// A vif spec that does not read: `vif "SPEC": why`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("vif \"{spec}\": {fault}")]
pub struct VifSpecError {
    /// The spec as written.
    pub spec: String,
    /// What is wrong.
    pub fault: super::vif::VifFault,
}

/// What is wrong with a `serial` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialFault {
    /// Not one of the forms.
    #[error(
        "pty (the console daemon's), none, tcp:HOST:PORT or telnet:HOST:PORT[,server][,nowait]"
    )]
    Kind,
    /// An option qemu has that does not apply here.
    #[error("option \"{0}\": only server and nowait (the console daemon listens, and never waits)")]
    Option(String),
    /// The host is not an address.
    #[error("HOST is an IPv4 address, localhost, or an IPv6 address in brackets")]
    Host,
    /// The port is missing or not 1 to 65535.
    #[error("PORT is a number from 1 to 65535")]
    Port,
}

/// What is wrong with a `vnclisten` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VnclistenFault {
    /// `[` without `]`.
    #[error("[ without ]")]
    UnclosedBracket,
    /// The host is none of the three forms.
    #[error("the host is not an IPv4 address, localhost or [IPv6 address]")]
    BadHost,
    /// Something other than `:PORT` after the host.
    #[error("the host is not followed by :PORT")]
    NoColon,
    /// The port is not decimal digits up to 65535.
    #[error("the port is not a number from 0 to 65535")]
    BadPort,
}

/// A disk spec that does not read: `disk "SPEC": why`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("disk \"{spec}\": {fault}")]
pub struct DiskSpecError {
    /// The spec as written.
    pub spec: String,
    /// What is wrong.
    pub fault: DiskFault,
}

/// What is wrong with a disk spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiskFault {
    /// More than target, format, vdev, access.
    #[error("too many positional parts")]
    TooManyParts,
    /// A format qemu is not given here.
    #[error("format {name} is not supported ({known})")]
    Format {
        /// The format asked for.
        name: String,
        /// The formats there are.
        known: String,
    },
    /// `vdev=X:KIND` with a kind other than disk or cdrom.
    #[error("vdev {vdev}: {kind} is not disk or cdrom")]
    VdevKind {
        /// The vdev as written.
        vdev: String,
        /// The kind.
        kind: String,
    },
    /// An access other than ro or rw.
    #[error("access {0}: ro or rw")]
    Access(String),
    /// A devtype other than disk or cdrom.
    #[error("devtype {0}: disk or cdrom")]
    Devtype(String),
    /// A key disk specs have that this stack does not act on.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// No target.
    #[error("no target")]
    NoTarget,
    /// No vdev.
    #[error("no vdev")]
    NoVdev,
    /// A deprecated prefix of the target xl does not know.
    #[error(
        "prefix \"{0}:\" is none of phy:, file:, tap:, tap2:, aio:, tapdisk:, ioemu:, raw:, qcow2:"
    )]
    UnknownPrefix(String),
    /// A deprecated prefix naming a block script (iscsi:, nbd:, ...).
    #[error(
        "prefix \"{0}:\" names a block script; this stack runs none (images and block devices only)"
    )]
    ScriptPrefix(String),
    /// Two formats (a prefix, a positional part, `format=`).
    #[error("two formats: {first} and {second}")]
    FormatTwice {
        /// The first.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// A CD-ROM with no target: an empty drive.
    #[error(
        "an empty CD-ROM drive (no target) is not supported here: name an ISO image as its target"
    )]
    EmptyCdrom,
    /// A vdev the IDE controller has no slot for.
    #[error("vdev {0}: the emulated IDE controller has hda to hdd (or xvda/sda to xvdd/sdd)")]
    NoSlot(String),
}
