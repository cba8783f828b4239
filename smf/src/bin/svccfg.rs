//! `svccfg`: validates manifests and exports them as systemd units.
//!
//! ```text
//! svccfg validate FILE...
//! svccfg export --systemd [-o DIR] [--bindir DIR] FILE...
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
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
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

fn run(a: Args) -> Result<(), String> {
    match a.cmd {
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
                        systemd::unit(&r, &source, &bindir)?,
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
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
