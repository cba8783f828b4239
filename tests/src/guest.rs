//! The Linux test guest (being built): a Debian kernel and a busybox initramfs.
