//! `svccfg`: validates manifests, exports them as systemd units, and sets
//! an instance's properties through svc-startd.
//!
//! ```text
//! svccfg validate FILE...
//! svccfg export --systemd [-o DIR] [--bindir DIR] FILE...
//! svccfg -s FMRI setprop pg/prop = [type:] value
//! svccfg -s FMRI listprop
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smf::manifest;
use smf::systemd;

/// Service configuration.
#[derive(Parser, Debug)]
#[command(name = "svccfg", version)]
struct Args {
    /// The instance `setprop` and `listprop` act on.
    #[arg(short = 's')]
    select: Option<String>,
    #[command(flatten)]
    mode: privlib::cli::ClientMode,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// `-s FMRI setprop pg/prop = [type:] value`: persists at once; the
    /// service sees it at its next refresh and restart.
    Setprop {
        /// `pg/prop = [type:] value`.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// `-s FMRI listprop`: every property, with type and value.
    Listprop,
    /// Checks each manifest: exit 0, or FILE:LINE:COLUMN: why and exit 1.
    Validate {
        /// Manifests.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Writes each instance as a systemd unit, plus sysusers.d and tmpfiles.d.
    Export {
        /// The only format there is; required, as the output is not a manifest.
        #[arg(long, required = true)]
        systemd: bool,
        /// Where to write (default: print to stdout).
        #[arg(short = 'o', long = "output")]
        out: Option<PathBuf>,
        /// Where the programs are installed.
        #[arg(long, default_value = systemd::DEFAULT_BINDIR)]
        bindir: String,
        /// Manifests.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.new"));
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

fn selected(a: &Args) -> Result<&str, String> {
    a.select
        .as_deref()
        .ok_or_else(|| "select an instance with -s FMRI".to_string())
}

fn run(a: Args) -> Result<(), String> {
    match &a.cmd {
        Cmd::Setprop { words } => {
            let fmri = selected(&a)?;
            let socket = smf::control::client_socket(a.mode.session).map_err(|e| e.to_string())?;
            let (prop, rest) = match &words[..] {
                [p, eq, rest @ ..] if eq == "=" && !rest.is_empty() => (p, rest),
                _ => return Err("usage: svccfg -s FMRI setprop pg/prop = [type:] value".into()),
            };
            let (ty, value) = match rest[0].strip_suffix(':') {
                Some(t) if rest.len() > 1 => (t.to_string(), rest[1..].join(" ")),
                _ => {
                    // No type given: the property's own.
                    let have = smf::control::request(&socket, &["getprop", fmri, prop])
                        .map_err(|e| e.to_string())?;
                    let t = have
                        .first()
                        .and_then(|l| l.split('\t').nth(1))
                        .ok_or_else(|| {
                            format!("{prop} is not set; give its type (pg/prop = type: value)")
                        })?;
                    (t.to_string(), rest.join(" "))
                }
            };
            let value = value.trim_matches('"').to_string();
            smf::control::request(&socket, &["setprop", fmri, prop, &ty, &value])
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        Cmd::Listprop => {
            let fmri = selected(&a)?;
            let socket = smf::control::client_socket(a.mode.session).map_err(|e| e.to_string())?;
            for l in
                smf::control::request(&socket, &["listprop", fmri]).map_err(|e| e.to_string())?
            {
                let f: Vec<&str> = l.splitn(3, '\t').collect();
                println!(
                    "{:<28}{:<10}{}",
                    f[0],
                    f.get(1).unwrap_or(&""),
                    f.get(2).unwrap_or(&"")
                );
            }
            return Ok(());
        }
        _ => {}
    }
    match a.cmd {
        Cmd::Setprop { .. } | Cmd::Listprop => {}
        Cmd::Validate { files } => {
            let mut bad = Vec::new();
            for f in &files {
                if let Err(e) = manifest::load(f) {
                    bad.push(e.to_string());
                }
            }
            if !bad.is_empty() {
                return Err(bad.join("\n"));
            }
        }
        Cmd::Export {
            systemd: _,
            out,
            bindir,
            files,
        } => {
            let mut units = Vec::new();
            for f in &files {
                let b = manifest::load(f).map_err(|e| e.to_string())?;
                let source = format!(
                    "manifests/smf/{}",
                    f.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                );
                for r in b.instances() {
                    units.push((
                        systemd::unit_name(&r.fmri),
                        systemd::unit(&r, &source, &bindir).map_err(|e| e.to_string())?,
                    ));
                }
            }
            match out {
                Some(dir) => {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    for (name, text) in &units {
                        write(&dir, name, text)?;
                    }
                    write(&dir, "xvm.sysusers.conf", systemd::sysusers())?;
                    write(&dir, "xvm.tmpfiles.conf", &systemd::tmpfiles())?;
                }
                None => {
                    for (name, text) in &units {
                        println!("# ---- {name}\n{text}");
                    }
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    smf::cli::exit(None, run(Args::parse()).map(|()| true))
}
