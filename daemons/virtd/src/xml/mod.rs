//! libvirt's domain XML, the subset that maps onto xend's domains, read
//! into and written from xend's typed [`Definition`].
//!
//! [`parse`] reads what `virsh define` sends; [`write`] gives what
//! `virsh dumpxml` shows, which [`parse`] reads back to the same
//! definition. Everything outside the subset below, element or attribute,
//! is refused with its line, column and name: nothing is silently
//! dropped, so a domain never runs other than its XML says.
//!
//! # The subset
//!
//! ```text
//! <domain type='xen|kvm|qemu' [id='N']>        id: read and ignored
//!   <name>NAME</name>                          required
//!   <uuid>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</uuid>
//!   <memory [unit='U']>N</memory>              required, whole MiB
//!   <currentMemory [unit='U']>N</currentMemory> equal to memory
//!   <vcpu [placement='static']>N</vcpu>        absent: 1
//!   <os>                                       required
//!     <type [arch='x86_64'] [machine='pc|pc-i440fx-*']>hvm</type>
//!     <kernel>PATH</kernel> <initrd>PATH</initrd> <cmdline>TEXT</cmdline>
//!     <boot dev='hd|cdrom|network'/>...        boot letters c, d, n
//!   </os>
//!   <features><acpi/><apic/></features>
//!   <on_poweroff|on_reboot|on_crash>destroy|restart|preserve</...>
//!   <devices>
//!     <disk type='file|block' [device='disk|cdrom']>
//!       <driver [name='qemu'] [type='raw|qcow2']/>  absent type: raw
//!       <source file='PATH'/> (file) or <source dev='PATH'/> (block)
//!       <target dev='VDEV' [bus='ide']/>
//!       <readonly/>
//!     </disk>
//!     <interface type='bridge|user'>
//!       <source bridge='BR'/> (bridge only, required) <mac address='M'/>
//!       <model type='e1000|virtio|rtl8139'/>      absent: e1000
//!     </interface>
//!     <serial type='pty'><target port='0'/></serial>
//!     <console type='pty'><target type='serial' port='0'/></console>
//!     <graphics type='vnc' [port='-1|5900+N'] [autoport='yes|no']
//!               [listen='ADDR']>                  absent: 127.0.0.1
//!       <listen type='address' address='ADDR'/>
//!     </graphics>
//!   </devices>
//! </domain>
//! ```
//!
//! Units (libvirt's, case aside): `b`, `byte`, `bytes`; `KB`, `MB`, `GB`,
//! `TB` (powers of 1000); `k`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB`
//! (powers of 1024); absent: KiB. Defaults are libvirt's: `on_poweroff`
//! destroy, `on_reboot` restart, `on_crash` destroy; no `<features>`
//! child means that feature is off. A serial or a console (or both, as
//! libvirt writes them) is xl.cfg's `serial = "pty"`.
//!
//! Refused on purpose: `<emulator>` (xend chooses the device model), disk
//! buses other than IDE (xend puts every disk on IDE), and everything
//! libvirt has that xend cannot honour. Comments are allowed; a DTD,
//! processing instructions and namespaced names are not. The text is
//! bounded by [`MAX_XML`] its nodes by [`MAX_NODES`] and its depth by
//! [`MAX_DEPTH`] (checked first: the parser recurses per level).

use thiserror::Error;
use xend::api::Definition;

mod depth;
mod parse;
mod parse_dev;
mod units;
mod write;

/// The longest domain XML read, bytes (equal to `remote::types::MAX_XML`,
/// the protocol's bound on the string that carries it).
pub const MAX_XML: usize = 256 * 1024;

/// The most XML nodes (elements, attributes' owners, text, comments) read.
pub const MAX_NODES: u32 = 8192;

pub use depth::MAX_DEPTH;

/// Why a domain XML was refused.
#[derive(Debug, Error)]
pub enum Why {
    /// Not well-formed XML (or a DTD, or too many nodes).
    #[error("{0}")]
    Syntax(#[source] roxmltree::Error),
    /// Longer than [`MAX_XML`].
    #[error("{len} bytes, at most {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Outside the subset served.
    #[error("not part of the domain XML xvm serves")]
    Outside,
    /// A required element or attribute is missing.
    #[error("needs {0}")]
    Missing(&'static str),
    /// Given more often than it may be.
    #[error("given more than once")]
    Repeated,
    /// A value not among those accepted.
    #[error("{value:?}: expected {expected}")]
    Value {
        /// The value, cut to 64 characters.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// Text where only elements may be.
    #[error("holds text, where only elements may be")]
    Text,
    /// Two parts that contradict each other.
    #[error("{0}")]
    Conflict(&'static str),
}

/// A domain XML refused, where and why.
#[derive(Debug, Error)]
#[error("domain XML line {line}, column {column}: {what}: {why}")]
pub struct XmlError {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1 (in characters).
    pub column: u32,
    /// What: `element <name>`, `attribute NAME of <element>`, `the text`.
    pub what: String,
    /// Why.
    pub why: Why,
}

/// Reads a domain XML into a [`Definition`] (xend then checks it as it
/// checks an xl.cfg: a definition read here may still be refused there).
pub fn parse(text: &str) -> Result<Definition, XmlError> {
    parse::parse(text)
}

/// Writes `def` as domain XML that [`parse`] reads back to `def`; `id`
/// is a running domain's id (`<domain id='N'>`). Boot letters other than
/// `c`, `d`, `n` are not written (xend refuses them before they are
/// kept).
pub fn write(def: &Definition, id: Option<u32>) -> String {
    write::write(def, id)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_refused;
