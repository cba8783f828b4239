//! Shared by the device-model tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub use xend::testguest::BANNER;

/// The test guest's disk.
pub fn boot_sector() -> Vec<u8> {
    xend::testguest::image()
}
