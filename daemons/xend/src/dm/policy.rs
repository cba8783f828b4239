//! What a device model may hold: by default nothing beyond basic, and
//! less (`deny`).

use privlib::PrivSet;

use crate::dm::prepare::Prepared;

/// The privileges the device model of `p` keeps (and its limit set).
pub fn privileges(p: &Prepared) -> PrivSet {
    let _ = p;
    super::dm_privileges()
}
