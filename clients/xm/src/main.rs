//! `xm`: the domain CLI. It needs no root: it talks to xend, whose gate
//! asks for `virt_manage` (or `xvm_control`).
//!
//! ```text
//! xm create [-n|--dryrun] FILE   start a domain (-n: parse, print, start nothing)
//! xm new FILE | start NAME | delete NAME    managed domains
//! xm list                        Name ID Mem VCPUs State Time(s)
//! xm shutdown|destroy|reboot|pause|unpause DOMAIN
//! xm domid NAME | xm domname ID
//! xm console [-t serial|pv] [-n N] DOMAIN   attach to its console (Ctrl-] detaches)
//! xm block-attach DOMAIN TARGET VDEV MODE   hot-plug a disk (virtio) into a running domain
//! xm block-detach DOMAIN VDEV | xm block-list DOMAIN
//! xm network-attach DOMAIN [bridge=B] [mac=M] [model=e1000|virtio-net|rtl8139]
//! xm network-detach DOMAIN DEVID | xm network-list DOMAIN
//! xm migrate [-l|--live] [-r|--resource MBPS] DOMAIN HOST   move a domain to another host
//! ```
//!
//! `xm console` runs Xen's way: it execs the setuid `xenconsole`, which
//! takes over the terminal (system mode: the installed one,
//! `<XVM_ROOT or />/usr/lib/xen/bin/xenconsole`; session mode: the
//! `xenconsole` beside xm's own executable, then the first on PATH,
//! given `--session`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod console;

use clap::Subcommand;
use privlib::mode::{client_socket, env_path, session_run, xvm_root};
use xend::api::{BlockDevice, DomainInfo, NetDevice};
use xend::client::Client;
use xend::config::DomainConfig;

/// The command line: `--session` and one verb.
type Args = privlib::cli::ClientArgs<Cmd>;

/// What `--help` says the tool is.
const ABOUT: &str = "Manages domains through xend.";

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Starts a domain from an xl.cfg file.
    Create {
        /// Parse and print the config; start nothing.
        #[arg(short = 'n', long = "dryrun")]
        dry_run: bool,
        /// The config file.
        file: PathBuf,
    },
    /// Stores a domain's config as a managed domain; starts nothing.
    New {
        /// The config file.
        file: PathBuf,
    },
    /// Starts a managed domain.
    Start {
        /// Its name.
        name: String,
    },
    /// Forgets a managed domain (it must not be running).
    Delete {
        /// Its name.
        name: String,
    },
    /// Lists the domains.
    List,
    /// Asks a domain to power off (ACPI), destroying it after a timeout.
    Shutdown {
        /// Name or id.
        domain: String,
    },
    /// Ends a domain at once.
    Destroy {
        /// Name or id.
        domain: String,
    },
    /// Restarts a domain.
    Reboot {
        /// Name or id.
        domain: String,
    },
    /// Pauses a domain.
    Pause {
        /// Name or id.
        domain: String,
    },
    /// Resumes a paused domain.
    Unpause {
        /// Name or id.
        domain: String,
    },
    /// Moves a running domain to another host (through the relocation
    /// servers of both hosts; relocation must be on in both xends).
    Migrate {
        /// Copy its memory while it runs (else it is paused first, and
        /// resumed on the destination).
        #[arg(short, long)]
        live: bool,
        /// Bound the stream, in megabits per second.
        #[arg(short, long, value_name = "MBPS")]
        resource: Option<u64>,
        /// Name or id.
        domain: String,
        /// The destination host (name or address, `:PORT` when not 8002).
        host: String,
    },
    /// The id of a domain.
    Domid {
        /// Its name.
        name: String,
    },
    /// The name of a domain.
    Domname {
        /// Its id.
        id: String,
    },
    /// Attaches a disk to a running domain (a virtio disk: the guest sees
    /// /dev/vdX).
    ///
    /// xend opens the image as at start (beneath an image directory, no
    /// symlink, no other hard link) and hands qemu its fd.
    #[command(name = "block-attach")]
    BlockAttach {
        /// Name or id.
        domain: String,
        /// The image, as a config's disk names it: /path, phy:/dev/..,
        /// file:/path.
        target: String,
        /// The guest's name for it (e.g. xvdb).
        vdev: String,
        /// w (read-write) or r (read-only).
        mode: String,
    },
    /// Detaches a disk `block-attach` attached.
    #[command(name = "block-detach")]
    BlockDetach {
        /// Name or id.
        domain: String,
        /// Its vdev.
        vdev: String,
    },
    /// Lists a domain's disks.
    #[command(name = "block-list")]
    BlockList {
        /// Name or id.
        domain: String,
    },
    /// Attaches a network card to a running domain.
    #[command(name = "network-attach")]
    NetworkAttach {
        /// Name or id.
        domain: String,
        /// The card's keys, as in a vif entry: bridge=NAME, mac=MAC,
        /// model=e1000|virtio-net|rtl8139 (each optional; one argument
        /// each, or one comma-separated).
        keys: Vec<String>,
    },
    /// Detaches a network card `network-attach` attached.
    #[command(name = "network-detach")]
    NetworkDetach {
        /// Name or id.
        domain: String,
        /// Its device number (network-list shows it).
        devid: String,
    },
    /// Lists a domain's network cards.
    #[command(name = "network-list")]
    NetworkList {
        /// Name or id.
        domain: String,
    },
    /// Attaches the terminal to a domain's console (Ctrl-] detaches).
    Console {
        /// serial (the default: an HVM guest's first serial port) or pv.
        #[arg(short = 't', long = "type", value_enum)]
        kind: Option<console::ConsoleType>,
        /// Which console of that type.
        #[arg(short = 'n', long)]
        num: Option<u32>,
        /// Name or id.
        domain: String,
    },
}

/// What xm fails with; main prints it as one line.
#[derive(Debug, thiserror::Error)]
enum XmError {
    /// Which xend to talk to could not be decided.
    #[error("{0}")]
    Socket(#[source] privlib::mode::ModeError),
    /// A config file could not be read, does not parse, or is not a
    /// domain xm can start.
    #[error("{0}")]
    Config(#[source] xend::config::ConfigError),
    /// xend could not be reached, or refused or failed the call.
    #[error("{0}")]
    Xend(#[from] xend::client::ClientError),
    /// `xm domid` of a managed domain that is not running.
    #[error("{0} is not running")]
    NotRunning(String),
    /// `xm console`: no xenconsole to run, or it could not be run.
    #[error("{0}")]
    Console(#[from] console::ConsoleError),
}

/// xend's socket: `$XEND_SOCKET`, else by the stack's rule
/// ([`privlib::mode::client_socket`]).
fn socket(session: bool) -> Result<PathBuf, XmError> {
    if let Some(p) = env_path("XEND_SOCKET") {
        return Ok(p);
    }
    let own = session_run().ok().map(|d| d.join("xend/xmlrpc.sock"));
    client_socket(session, xvm_root().join("run/xend/xmlrpc.sock"), own).map_err(XmError::Socket)
}

fn connect(session: bool) -> Result<Client, XmError> {
    Ok(Client::connect(&socket(session)?)?)
}

/// `xm list`'s table, as Xen's xm prints it.
fn list(rows: &[DomainInfo]) -> String {
    let mut out = format!(
        "{:<32}{:>5}{:>6}{:>6}{:>11}{:>9}\n",
        "Name", "ID", "Mem", "VCPUs", "State", "Time(s)"
    );
    for d in rows {
        out.push_str(&format!(
            "{:<32}{:>5}{:>6}{:>6}{:>11}{:>9.1}\n",
            d.name,
            d.domid.map_or_else(|| "-".to_string(), |i| i.to_string()),
            d.memory,
            d.vcpus,
            d.state.letters(),
            d.time
        ));
    }
    out
}

/// `xm block-list`'s table: Vdev, Mode, how it came, Target.
fn block_list(rows: &[BlockDevice]) -> String {
    let mut out = format!("{:<8}{:<6}{:<8}{}\n", "Vdev", "Mode", "From", "Target");
    for d in rows {
        out.push_str(&format!(
            "{:<8}{:<6}{:<8}{}\n",
            d.vdev,
            d.mode,
            if d.hotplugged { "attach" } else { "config" },
            d.target.display()
        ));
    }
    out
}

/// `xm network-list`'s table: Idx, MAC, Model, Bridge, how it came.
fn network_list(rows: &[NetDevice]) -> String {
    let mut out = format!(
        "{:<5}{:<19}{:<12}{:<16}{}\n",
        "Idx", "MAC", "Model", "Bridge", "From"
    );
    for n in rows {
        out.push_str(&format!(
            "{:<5}{:<19}{:<12}{:<16}{}\n",
            n.devid,
            n.mac.as_deref().unwrap_or("-"),
            n.model,
            n.bridge.as_deref().unwrap_or("-"),
            if n.hotplugged { "attach" } else { "config" }
        ));
    }
    out
}

/// Reads a config ([`xend::config::read_text`]: at most the bound xend
/// holds it to), checks it here first, and names what it has that
/// is not supported.
fn read_config(file: &Path) -> Result<(String, DomainConfig), XmError> {
    let text = xend::config::read_text(file).map_err(XmError::Config)?;
    let cfg = xend::config::parse(file, &text).map_err(XmError::Config)?;
    for (k, p) in &cfg.unsupported {
        eprintln!(
            "xm: {}:{}:{}: {k} is not supported here; ignored",
            file.display(),
            p.line,
            p.column
        );
    }
    Ok((text, cfg))
}

fn started(d: &DomainInfo) {
    match d.domid {
        Some(id) => println!("Started domain {} (id={id})", d.name),
        None => println!("Started domain {}", d.name),
    }
}

fn run(a: Args) -> Result<(), XmError> {
    // A config is read and checked before xend is asked: its errors need
    // no xend, and `create -n` starts nothing.
    let text = match &a.cmd {
        Cmd::Create {
            dry_run: true,
            file,
        } => {
            print!("{}", read_config(file)?.1.to_text());
            return Ok(());
        }
        Cmd::Create { file, .. } | Cmd::New { file } => read_config(file)?.0,
        // The console is xenconsole's: it needs no xend, and this
        // process becomes it (exec returns only on failure).
        Cmd::Console { kind, num, domain } => {
            return Err(console::exec(a.mode.session, *kind, *num, domain).into());
        }
        _ => String::new(),
    };
    let mut c = connect(a.mode.session)?;
    match &a.cmd {
        Cmd::Create { file, .. } => {
            started(&c.create(&file.display().to_string(), &text)?);
        }
        Cmd::New { file } => {
            let r = c.new_managed(&file.display().to_string(), &text)?;
            println!("Domain {} stored", r.name);
        }
        Cmd::Start { name } => started(&c.start(name)?),
        Cmd::Delete { name } => drop(c.delete(name)?),
        Cmd::List => print!("{}", list(&c.list()?)),
        Cmd::Shutdown { domain } => drop(c.shutdown(domain)?),
        Cmd::Destroy { domain } => drop(c.destroy(domain)?),
        Cmd::Reboot { domain } => drop(c.reboot(domain)?),
        Cmd::Pause { domain } => drop(c.pause(domain)?),
        Cmd::Unpause { domain } => drop(c.unpause(domain)?),
        Cmd::Migrate {
            live,
            resource,
            domain,
            host,
        } => {
            let m = c.migrate(
                &xend::api::MigrateParams {
                    domain: domain.clone(),
                    host: host.clone(),
                    live: *live,
                    resource: *resource,
                },
                xend::jobs::MIGRATE_WITHIN + std::time::Duration::from_secs(60),
            )?;
            let ms = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
            println!(
                "Domain {} migrated to {} (domain {} there) in {} ms, downtime {} ms",
                m.name,
                m.host,
                m.remote_domid,
                ms(m.total_ms),
                ms(m.downtime_ms)
            );
        }
        Cmd::Domid { name } => match c.info(name)?.domid {
            Some(id) => println!("{id}"),
            None => return Err(XmError::NotRunning(name.clone())),
        },
        Cmd::Domname { id } => println!("{}", c.info(id)?.name),
        Cmd::BlockAttach {
            domain,
            target,
            vdev,
            mode,
        } => drop(c.block_attach(domain, target, vdev, mode)?),
        Cmd::BlockDetach { domain, vdev } => drop(c.block_detach(domain, vdev)?),
        Cmd::BlockList { domain } => print!("{}", block_list(&c.block_list(domain)?)),
        Cmd::NetworkAttach { domain, keys } => {
            let r = c.network_attach(domain, &keys.join(","))?;
            println!("{}", r.device);
        }
        Cmd::NetworkDetach { domain, devid } => drop(c.network_detach(domain, devid)?),
        Cmd::NetworkList { domain } => print!("{}", network_list(&c.network_list(domain)?)),
        // Returned above: exec comes back only with an error.
        Cmd::Console { .. } => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse_as("xm", ABOUT)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xm: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xend::api::DomainState;

    #[test]
    fn device_lists_say_where_each_came_from() {
        let out = block_list(&[
            BlockDevice {
                vdev: "hda".into(),
                target: "/i/a.img".into(),
                mode: "w".into(),
                hotplugged: false,
            },
            BlockDevice {
                vdev: "xvdb".into(),
                target: "/i/b.img".into(),
                mode: "r".into(),
                hotplugged: true,
            },
        ]);
        let rows: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["Vdev", "Mode", "From", "Target"],
                vec!["hda", "w", "config", "/i/a.img"],
                vec!["xvdb", "r", "attach", "/i/b.img"]
            ]
        );
        let out = network_list(&[NetDevice {
            devid: 1,
            mac: Some("00:16:3e:01:02:03".into()),
            bridge: None,
            model: "e1000".into(),
            hotplugged: true,
        }]);
        assert_eq!(
            out.lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec!["1", "00:16:3e:01:02:03", "e1000", "-", "attach"])
        );
    }

    #[test]
    fn list_prints_each_row_and_managed_ones_without_an_id() {
        let row = |name: &str, domid: Option<u32>, state| DomainInfo {
            name: name.into(),
            domid,
            uuid: None,
            memory: 512,
            vcpus: 2,
            state,
            time: 1.5,
            pid: None,
            serial: None,
            managed: false,
            autostart: false,
        };
        let out = list(&[
            row("Domain-0", Some(0), DomainState::Running),
            row("web", None, DomainState::None),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["Domain-0", "0", "512", "2", "r-----", "1.5"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["web", "-", "512", "2", "------", "1.5"]
        );
    }
}
