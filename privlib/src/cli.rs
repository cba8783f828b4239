//! Command-line flags every xVM program shares, as clap argument groups a
//! binary flattens into its own `Args`, so each flag means one thing with
//! one spelling everywhere.
//!
//! - [`DaemonMode`]: `--session` / `--system` / `--verbose`, and the log;
//! - [`DaemonAccount`]: `--user` and the device-model uid range;
//! - [`ClientMode`]: a client's `--session`; [`ClientArgs`], a client's
//!   whole command line (that flag and one verb).

use crate::mode::{ModeError, daemon_is_system};

/// How a daemon decides its mode, and how much it logs.
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonMode {
    /// Session mode (the default when not started as root).
    #[arg(long, conflicts_with = "system")]
    pub session: bool,
    /// System mode even when started as the account itself, as a service
    /// manager does (the default when started as root).
    #[arg(long)]
    pub system: bool,
    /// Logs debug events too.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

impl DaemonMode {
    /// Whether this is system mode ([`daemon_is_system`]).
    pub fn is_system(&self) -> Result<bool, ModeError> {
        daemon_is_system(self.session, self.system)
    }

    /// Installs the daemons' stderr log at the level the flags ask for.
    pub fn install_log(&self) {
        crate::log::StderrLog::new(if self.verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .install();
    }
}

/// The account a system-mode daemon runs as, and the uids its device
/// models get.
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonAccount {
    /// The account to run as in system mode.
    #[arg(long, default_value = "xvm")]
    pub user: String,
    /// Device models run as this uid plus their domid (system mode).
    #[arg(long = "dm-uid-base", default_value_t = 200_000)]
    pub dm_uid_base: u32,
    /// How many domids the device-model uid range covers.
    #[arg(long = "dm-uid-count", default_value_t = 1000)]
    pub dm_uid_count: u32,
}

impl DaemonAccount {
    /// The `--user` account from the account database.
    pub fn lookup(&self) -> Result<crate::os::accounts::User, AccountError> {
        crate::os::accounts::user_by_name(&self.user)
            .map_err(|source| AccountError::Lookup {
                user: self.user.clone(),
                source,
            })?
            .ok_or_else(|| AccountError::Missing(self.user.clone()))
    }
}

/// Why a system-mode daemon's account could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The account database could not be read.
    #[error("looking up {user}: {source}")]
    Lookup {
        /// The account's name.
        user: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No such account.
    #[error("no account \"{0}\": create it (manifests/sysusers.d/xvm.conf)")]
    Missing(String),
}

/// Which daemon a client talks to.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct ClientMode {
    /// The caller's own session daemon, even as root.
    #[arg(long)]
    pub session: bool,
}

/// A client's whole command line: [`ClientMode`] and one verb `C`.
#[derive(clap::Parser, Debug)]
pub struct ClientArgs<C: clap::Subcommand> {
    #[command(flatten)]
    /// Which daemon.
    pub mode: ClientMode,
    #[command(subcommand)]
    /// The verb.
    pub cmd: C,
}

impl<C: clap::Subcommand> ClientArgs<C> {
    /// Parses the process's arguments as the client `name` (what `--help`
    /// and errors call it), described by `about`; exits as clap does on a
    /// bad command line or `--help`.
    pub fn parse_as(name: &'static str, about: &'static str) -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command()
            .name(name)
            .bin_name(name)
            .about(about)
            .version(env!("CARGO_PKG_VERSION"))
            .get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// A daemon's and a client's arguments as the binaries flatten them.
    #[derive(Parser, Debug)]
    #[command(name = "d", version)]
    struct Daemon {
        #[command(flatten)]
        mode: DaemonMode,
        #[command(flatten)]
        account: DaemonAccount,
    }

    #[derive(Parser, Debug)]
    #[command(name = "c", version)]
    struct Client {
        #[command(flatten)]
        mode: ClientMode,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Verb {
        Go { what: String },
    }

    #[test]
    fn the_shared_flags_parse_and_clash_with_nothing_clap_adds() {
        Daemon::command().debug_assert();
        Client::command().debug_assert();
        let d =
            Daemon::try_parse_from(["d", "--system", "-v", "--user", "x", "--dm-uid-base", "5"])
                .expect("parses");
        assert!(d.mode.system && d.mode.verbose && !d.mode.session);
        assert_eq!((d.account.user.as_str(), d.account.dm_uid_base), ("x", 5));
        assert_eq!(d.account.dm_uid_count, 1000);
        assert!(Daemon::try_parse_from(["d", "--system", "--session"]).is_err());
        assert!(
            Client::try_parse_from(["c", "--session"])
                .expect("parses")
                .mode
                .session
        );
        ClientArgs::<Verb>::command().debug_assert();
        let a = ClientArgs::<Verb>::try_parse_from(["c", "--session", "go", "x"]).expect("parses");
        assert!(a.mode.session);
        assert!(matches!(a.cmd, Verb::Go { what } if what == "x"));
    }
}
