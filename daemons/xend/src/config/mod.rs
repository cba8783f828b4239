//! Domain configurations in xl.cfg(5) syntax.
//!
//! - [`syntax`]: the statements, values, lists and strings, each error
//!   placed at its file, line and column;
//! - [`domain`]: what they mean: [`DomainConfig`] and its checks;
//!   [`listen`]: where its gates listen (`serial = 'tcp:...'`,
//!   `vnclisten`); [`text`]: [`DomainConfig::to_text`], the config
//!   printed back; [`action`]: what becomes of a domain when its guest
//!   powers off, reboots or crashes;
//! - [`disk`]: disk specs (with the deprecated xm-era syntax) and the
//!   formats qemu is told about;
//! - [`vif`]: network card specs and the types of the machine keys;
//! - [`hvm`]: reading `vif`, `boot`, `usbdevice` and
//!   `device_model_privileges`;
//! - [`error`]: [`ConfigError`], a place and a [`Fault`].
//!
//! A config file is read through [`read_text`] (or [`load`]): at most
//! [`MAX_FILE`] bytes, a regular file, UTF-8, never a FIFO or device that
//! could block or never end.

pub mod action;
pub mod disk;
pub mod domain;
pub mod error;
pub mod hvm;
pub mod listen;
pub mod syntax;
pub mod text;
pub mod vif;

use std::path::Path;

pub use disk::{Disk, Format, ide_index, parse_disk};
pub use domain::{Action, DomainConfig, TcpListen, parse};
pub use error::{
    BootFault, ConfigError, DiskFault, DiskSpecError, DomainFault, Fault, Pos, SerialFault,
    SyntaxFault, VifSpecError, VnclistenFault,
};
pub use syntax::{Value, parse_statements, quoted};
pub use vif::{Mac, MacFault, NicModel, UsbDevice, Vif, VifFault, parse_vif};

/// Longest config file read: a config is a few hundred bytes; this bound
/// leaves room for comments and keeps every reader's memory small.
pub const MAX_FILE: usize = 1 << 20;

/// The text of the config file at `path`: at most [`MAX_FILE`] bytes, of
/// a regular file, in UTF-8 (`privlib::bounded::read_to_string`). For
/// clients that send the text on (xm), and for [`load`].
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let max = u64::try_from(MAX_FILE).unwrap_or(u64::MAX);
    privlib::bounded::read_to_string(path, max).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        pos: Pos { line: 0, column: 0 },
        fault: Fault::Read(e),
    })
}

/// Reads ([`read_text`]) and parses the config at `path`.
pub fn load(path: &Path) -> Result<DomainConfig, ConfigError> {
    parse(path, &read_text(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_is_read_bounded_and_refusals_name_it() {
        let scratch = crate::scratch::Scratch::new("config-load");
        let dir = scratch.path().to_path_buf();
        let good = dir.join("g.cfg");
        std::fs::write(&good, "name = \"g\"\ntype = \"hvm\"\n").expect("write");
        assert_eq!(load(&good).expect("loads").name, "g");
        let big = dir.join("big.cfg");
        std::fs::write(&big, vec![b'#'; MAX_FILE + 1]).expect("write");
        let missing = dir.join("none.cfg");
        for (path, want) in [
            (&big, "larger than"),
            (&missing, ""),
            (&dir, "not a regular file"),
        ] {
            let e = load(path).expect_err("refused");
            assert!(matches!(e.fault, Fault::Read(_)), "{e:?}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("{}: ", path.display())) && shown.contains(want),
                "{shown}"
            );
        }
        let bad = dir.join("bad.cfg");
        std::fs::write(&bad, "name = \"g\"\ntype = \"pv\"\n").expect("write");
        let e = load(&bad).expect_err("pv");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:2:1: ", bad.display())),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
