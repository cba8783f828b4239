//! Managed domains (`xm new`, `start`, `delete`): xl.cfg files xend
//! stores, one per domain, in [`Settings::managed`].
//!
//! # Format
//! `NAME.cfg`, mode 0600, the config text as given, with a `uuid` line
//! added when it has none ([`crate::server::Xend::new_managed`]; replaced
//! atomically), at most
//! [`config::MAX_FILE`] bytes; at most [`MAX_MANAGED`] of them. NAME is the config's `name`, and must be a
//! plain file name (not empty, no `/`, not starting with `.`).

use std::path::{Path, PathBuf};

use crate::api::Named;
use crate::config::{self, DomainConfig};
use crate::domain::{MAX_MANAGED, Settings};
use crate::error::DomainError;
use crate::manager::Manager;
use crate::saved::replace_file;

/// The file of managed domain `name`; a name that is no plain file name
/// names no managed domain.
pub fn managed_path(s: &Settings, name: &str) -> Result<PathBuf, DomainError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(DomainError::NoManaged(name.to_string()));
    }
    Ok(s.managed.join(format!("{name}.cfg")))
}

fn is_cfg(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "cfg")
}

/// The managed domains' configs, by name (unreadable ones skipped with a
/// log line; at most [`MAX_MANAGED`]). Reads files: call it without the
/// manager's lock.
pub fn managed_configs(s: &Settings) -> Vec<(String, DomainConfig)> {
    let Ok(entries) = std::fs::read_dir(&s.managed) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if !is_cfg(&p) {
            continue;
        }
        if out.len() >= MAX_MANAGED {
            tracing::warn!(dir = %s.managed.display(), "more than {MAX_MANAGED} managed domains; the rest not listed");
            break;
        }
        match config::load(&p) {
            Ok(c) => out.push((c.name.clone(), c)),
            Err(err) => tracing::warn!("managed domain: {err}"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Stores a domain's config as the managed domain of its name (replaced
/// atomically; at most [`MAX_MANAGED`] of them), with a `uuid = "UUID"`
/// line added when `uuid` is given (the caller's choice: a text without
/// one, [`crate::server::Xend::new_managed`]); starts nothing. No lock
/// needed. The text has parsed, so it ends outside any string or list and
/// a line after it is one more setting.
pub fn store_managed(
    s: &Settings,
    source: &str,
    text: &str,
    uuid: Option<&str>,
) -> Result<Named, DomainError> {
    let cfg = config::parse(Path::new(source), text)?;
    let path = managed_path(s, &cfg.name)?;
    if !path.exists() {
        let stored = std::fs::read_dir(&s.managed).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| is_cfg(&e.path()))
                .count()
        });
        if stored >= MAX_MANAGED {
            return Err(DomainError::ManagedFull);
        }
    }
    let text = match uuid {
        None => text.to_string(),
        Some(u) => {
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            let out = format!("{text}{sep}uuid = \"{u}\"\n");
            if out.len() > config::MAX_FILE {
                return Err(DomainError::TooLarge {
                    path: PathBuf::from(source),
                    max: config::MAX_FILE,
                });
            }
            out
        }
    };
    let tmp = s.managed.join(format!(".{}.cfg.new", cfg.name));
    // Laid out at start-up (crate::layout); made here too for a manager
    // used without it.
    std::fs::create_dir_all(&s.managed)
        .and_then(|()| replace_file(&tmp, &path, text.as_bytes()))
        .map_err(DomainError::io(&path))?;
    Ok(Named { name: cfg.name })
}

fn not_found(name: &str, path: &Path) -> impl FnOnce(std::io::Error) -> DomainError {
    let (name, path) = (name.to_string(), path.to_path_buf());
    move |e| match e.kind() {
        std::io::ErrorKind::NotFound => DomainError::NoManaged(name),
        _ => DomainError::Io { path, source: e },
    }
}

/// A managed domain's config: its path (as the source) and text (at most
/// [`config::MAX_FILE`] bytes, read bounded). No lock needed.
pub fn managed_config(s: &Settings, name: &str) -> Result<(String, String), DomainError> {
    use privlib::bounded::FileError;
    let path = managed_path(s, name)?;
    let max = u64::try_from(config::MAX_FILE).unwrap_or(u64::MAX);
    let text = privlib::bounded::read_to_string(&path, max).map_err(|e| match e {
        FileError::TooLarge { .. } => DomainError::TooLarge {
            path: path.clone(),
            max: config::MAX_FILE,
        },
        FileError::Io { source, .. } => not_found(name, &path)(source),
        other @ (FileError::NotRegular { .. } | FileError::NotUtf8 { .. }) => {
            DomainError::File(other)
        }
    })?;
    Ok((path.display().to_string(), text))
}

impl Manager {
    /// `delete`: forgets a managed domain that is not running.
    pub fn delete_managed(&mut self, name: &str) -> Result<Named, DomainError> {
        if self.domains.values().any(|d| d.config.name == name)
            || self.busy.values().any(|b| b.name == name)
        {
            return Err(DomainError::Running(name.to_string()));
        }
        let path = managed_path(&self.s, name)?;
        std::fs::remove_file(&path).map_err(not_found(name, &path))?;
        // Its autostart flag (crate::defined) goes with it.
        let flag = self.s.managed.join(format!("{name}.autostart"));
        match std::fs::remove_file(&flag) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DomainError::io(&flag)(e)),
        }
        Ok(Named {
            name: name.to_string(),
        })
    }
}
