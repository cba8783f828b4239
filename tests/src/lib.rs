//! The one hermetic fixture of xvm-lp's tests, and (in `tests/`) the
//! tests of the whole stack: those that start more than one of our
//! daemons.
//!
//! The integration tests of privlib, smf, xenstored and xend dev-depend on
//! this crate (privlib's is a dev-dependency cycle, which cargo takes for
//! integration tests); it builds on
//! `privlib::testing` (private mount namespaces, bind-mounted
//! `/etc/passwd` and `/etc/group`, becoming a user, hostile users), which
//! stays in privlib because privlib's own tests need it below this layer.
//!
//! - [`skip`]: the one way a test skips: one parseable line
//!   `skipped <test>: <reason>`, a failure under `XVM_REQUIRE_ROOT_TESTS=1`
//!   for the kinds a CI machine must provide.
//! - [`bins`]: the workspace's built binaries, found beside the test
//!   executable.
//! - [`daemon`]: a started daemon (killed on drop), waiting for its
//!   ready line or socket with a deadline.
//! - [`hermetic`]: an `XVM_ROOT` tree with its own accounts (the xvm
//!   account and test users), its policy, the xVM directories, and the
//!   daemons run in a private mount namespace that sees those accounts.
//! - [`manifest`]: the test services' SMF manifests, and commands run as
//!   a given uid.
//! - [`stack`]: xenstored and xend in system mode over a hermetic tree,
//!   and `xm` run as a test user.
//! - [`console`]: a terminal a test drives (a pty as a client's
//!   controlling terminal), the Linux guest's domain config, TCP console
//!   clients.
//! - [`disks`], [`net`], [`hotplug`], [`features`]: the fixtures of the
//!   device tests (images xvm does not own, bridges and taps in a network
//!   namespace, hot-plug, xend's features and what it holds).
//! - [`virsh`]: virtd over a [`stack`]'s tree, and Debian's `virsh` run
//!   as a test user against it.
//! - [`debian`]: a fresh Debian 12 root in namespaces of its own, for the
//!   package test.
//! - [`relocation`]: two hosts as two network namespaces joined by a
//!   veth pair, a test CA and the hosts' certificates (openssl), and the
//!   relocation server started on a host.
//! - [`procfs`]: what `/proc` says about a process (uid, capabilities),
//!   and the checks of an unprivileged device model.

pub mod bins;
pub mod console;
pub mod daemon;
pub mod debian;
pub mod disks;
pub mod error;
pub mod features;
pub mod guest;
pub mod hermetic;
pub mod hotplug;
pub mod manifest;
pub mod net;
pub mod procfs;
pub mod relocation;
pub mod skip;
pub mod stack;
pub mod virsh;

pub use bins::{bin, bindir};
pub use daemon::{Daemon, wait_for_socket, wait_until};
pub use error::{Error, check};
pub use hermetic::{Accounts, Hermetic, scratch, serial};
pub use manifest::{child_service, command_as};
pub use skip::{Skip, require, require_kvm, require_program, require_root};
pub use stack::{Stack, Xm};
