//! `xend`: the domain manager. JSON-RPC 2.0 on `<run>/xend/xmlrpc.sock`
//! (mode 0666; peers need `xvm_control` or `virt_manage`).
//!
//! System mode: started as root (or as xvm), it becomes xvm:xvm keeping
//! `proc_setid` and what its enabled features declare, each bracketed
//! (see [`xend::privs`], [`xend::features`]). Session mode: the invoking user, domains as that user.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use xend::features::{Feature, Features};
use xend::start::{Accel, Options, start};
use xend::vnc::VncListen;

/// The domain manager.
#[derive(Parser, Debug)]
#[command(name = "xend", version)]
struct Args {
    #[command(flatten)]
    mode: privlib::cli::DaemonMode,
    #[command(flatten)]
    account: privlib::cli::DaemonAccount,
    /// Disk images must be beneath one of these (repeatable).
    #[arg(long = "image-dir")]
    image_dirs: Vec<PathBuf>,
    /// The qemu binary.
    #[arg(long, default_value = xend::dm::QEMU)]
    qemu: PathBuf,
    /// Seconds a shutdown may take before the domain is destroyed.
    #[arg(long = "shutdown-timeout", default_value_t = 60)]
    shutdown_timeout: u64,
    /// Connections served at once (the last 64 only for xvm_control).
    #[arg(long = "max-conns", default_value_t = 256)]
    max_conns: usize,
    /// Connections one user may have served at once.
    #[arg(long = "max-conns-per-uid", default_value_t = 32)]
    max_conns_per_uid: usize,
    /// Where a domain's VNC may listen: `loopback` (each connection's
    /// owner must hold virt_manage) or `any` (other addresses too, open
    /// to all who reach them).
    #[arg(long = "vnc-listen", value_enum, default_value_t = VncListen::Loopback)]
    vnc_listen: VncListen,
    /// How device models run guests: `auto` (KVM when /dev/kvm is
    /// usable, else TCG), `kvm` (refuse to start without it), or `tcg`
    /// (never KVM: for a host whose KVM cannot run the guests).
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    accel: Accel,
    /// The bridges guests' cards may join: names separated by commas,
    /// `any` (every bridge of the host) or `none` (the manifest's
    /// `config/bridges`). A user who may create domains names a card's
    /// bridge; a host's other bridges (management, containers) are not
    /// the guests'.
    #[arg(long, default_value = "xenbr0")]
    bridges: xend::features::Bridges,
    /// Guests' network cards on the host's bridges (`on`/`true` or
    /// `off`/`false`); xend keeps sys_net_config only while it is on.
    #[arg(long = "feature-networking", value_name = "on|off", value_parser = switch)]
    feature_networking: Option<bool>,
    /// Images, kernels and ramdisks not owned by xvm; xend keeps
    /// file_dac_read, file_dac_search and file_dac_write only while it is on.
    #[arg(long = "feature-foreign-images", value_name = "on|off", value_parser = switch)]
    feature_foreign_images: Option<bool>,
    /// Device models given the privileges their config allows (from
    /// proc_lock_memory); xend keeps those only while it is on.
    #[arg(long = "feature-device-model-privileges", value_name = "on|off", value_parser = switch)]
    feature_device_model_privileges: Option<bool>,
    /// Migrating domains to and from other hosts through xvm-relocd
    /// (`on`/`true` or `off`/`false`; off by default).
    #[arg(long = "feature-relocation", value_name = "on|off", value_parser = switch)]
    feature_relocation: Option<bool>,
    /// Prints each feature (on or off with these flags), the privileges
    /// it needs and why, and exits.
    #[arg(long)]
    features: bool,
}

fn switch(text: &str) -> Result<bool, xend::features::BadSwitch> {
    xend::features::parse_switch(text)
}

impl Args {
    /// The features as the table has them, with the flags' changes.
    fn features(&self) -> Features {
        let mut f = Features::default();
        for (feature, flag) in [
            (Feature::Networking, self.feature_networking),
            (Feature::ForeignImages, self.feature_foreign_images),
            (
                Feature::DeviceModelPrivileges,
                self.feature_device_model_privileges,
            ),
            (Feature::Relocation, self.feature_relocation),
        ] {
            if let Some(on) = flag {
                f.set(feature, on);
            }
        }
        f
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    let features = a.features();
    if a.features {
        for line in features.describe() {
            println!("{line}");
        }
        return ExitCode::SUCCESS;
    }
    let Err(e) = start(Options {
        mode: a.mode,
        account: a.account,
        image_dirs: a.image_dirs,
        qemu: a.qemu,
        shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        max_conns: a.max_conns,
        max_conns_per_uid: a.max_conns_per_uid,
        vnc_listen: a.vnc_listen,
        accel: a.accel,
        features,
        bridges: a.bridges,
    });
    eprintln!("xend: {e}");
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(args: &[&str]) -> Result<Features, clap::Error> {
        let mut v = vec!["xend"];
        v.extend_from_slice(args);
        Args::try_parse_from(v).map(|a| a.features())
    }

    #[test]
    fn the_feature_flags_take_on_off_true_false_over_the_tables_defaults() {
        assert_eq!(features(&[]).expect("none"), Features::default());
        let f = features(&[
            "--feature-networking",
            "false",
            "--feature-foreign-images",
            "off",
            "--feature-device-model-privileges",
            "true",
        ])
        .expect("flags");
        assert_eq!(f, Features::only(&[Feature::DeviceModelPrivileges]));
        let f = features(&["--feature-networking", "on"]).expect("on");
        assert!(f.is_on(Feature::Networking));
        let e = features(&["--feature-networking", "yes"]).expect_err("yes");
        assert!(
            e.to_string()
                .contains("\"yes\": a feature is on, off, true or false"),
            "{e}"
        );
    }
}
