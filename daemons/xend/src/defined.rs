//! The methods virtd needs beyond xm's: `domain.define` (a typed
//! [`Definition`] kept as a managed domain), `domain.definition` (a
//! domain's definition back) and `domain.autostart` (a managed domain
//! started when xend starts), and starting those at start-up
//! ([`Xend::autostart_all`]).
//!
//! # Format
//! Autostart is a file beside the managed config: `NAME.autostart`,
//! empty, mode 0600; `domain.delete` removes it with the config.

use std::path::PathBuf;

use crate::api::{Autostart, Definition, DomainInfo, DomainState, Named};
use crate::config;
use crate::definition::{from_config, to_config};
use crate::domain::Settings;
use crate::error::DomainError;
use crate::manager::{self, managed_configs, managed_path};
use crate::server::Xend;

/// Where a managed domain's autostart flag is kept.
pub fn autostart_path(s: &Settings, name: &str) -> Result<PathBuf, DomainError> {
    // The same name rules as the config's file.
    managed_path(s, name)?;
    Ok(s.managed.join(format!("{name}.autostart")))
}

/// Whether managed domain `name` starts with xend.
pub fn is_autostart(s: &Settings, name: &str) -> bool {
    autostart_path(s, name).is_ok_and(|p| p.exists())
}

impl Xend {
    /// `domain.list`: every domain, each managed one marked (with its
    /// config's UUID when it does not run, and its autostart flag).
    /// Managed configs are files: read without the lock.
    pub fn list(&self) -> Vec<DomainInfo> {
        let s = self.settings();
        let managed = managed_configs(&s);
        let mut rows = self.lock().list_with(managed.clone());
        for r in &mut rows {
            if let Some((_, c)) = managed.iter().find(|(n, _)| *n == r.name) {
                r.managed = true;
                r.autostart = is_autostart(&s, &r.name);
                if r.uuid.is_none() {
                    r.uuid.clone_from(&c.uuid);
                }
            }
        }
        rows
    }

    /// `domain.info`: one domain: a running one (marked managed when its
    /// name has a managed config), else a managed one not running (no
    /// id), read from its one config file rather than listing them all.
    pub fn info(&self, which: &str) -> Result<DomainInfo, DomainError> {
        let s = self.settings();
        let running = self.lock().info(which);
        let mut r = match running {
            Ok(r) => r,
            Err(DomainError::NoDomain(_)) => {
                let (source, text) = manager::managed_config(&s, which).map_err(|e| match e {
                    DomainError::NoManaged(n) => DomainError::NoDomain(n),
                    other => other,
                })?;
                let c = config::parse(std::path::Path::new(&source), &text)?;
                DomainInfo {
                    name: c.name,
                    domid: None,
                    uuid: c.uuid,
                    memory: c.memory_mib,
                    vcpus: u64::from(c.vcpus),
                    state: DomainState::None,
                    time: 0.0,
                    pid: None,
                    serial: None,
                    managed: true,
                    autostart: false,
                }
            }
            Err(e) => return Err(e),
        };
        if managed_path(&s, &r.name).is_ok_and(|p| p.exists()) {
            r.managed = true;
            r.autostart = is_autostart(&s, &r.name);
        }
        Ok(r)
    }

    /// `domain.define`: keeps `d` as the managed domain of its name,
    /// replacing one of that name with the same UUID. A definition with
    /// no UUID keeps its domain's ([`Xend::uuid_of`]). Refused: a name
    /// defined or running with another UUID, a UUID another domain has,
    /// and whatever xl.cfg's rules refuse.
    pub fn define(&self, d: &Definition) -> Result<Named, DomainError> {
        let s = self.settings();
        let managed = managed_configs(&s);
        let mut d = d.clone();
        let uuid = match &d.uuid {
            Some(u) => u.clone(),
            None => self.uuid_of(&d.name, &managed)?,
        };
        d.uuid = Some(uuid.clone());
        self.check_identity(&d.name, &uuid, &managed)?;
        let text = to_config(&d)?.to_text();
        manager::store_managed(&s, "domain.define", &text, None)
    }

    /// `domain.new` (`xm new`): keeps an xl.cfg text as the managed
    /// domain of its name, checked as [`Xend::define`] checks. A text with
    /// no `uuid` is stored with its domain's ([`Xend::uuid_of`]) added, so
    /// a managed domain is one domain across its runs, as xend's were,
    /// and clients that remember domains by UUID (libvirt's) find it.
    pub fn new_managed(&self, source: &str, text: &str) -> Result<Named, DomainError> {
        let s = self.settings();
        let cfg = config::parse(std::path::Path::new(source), text)?;
        let managed = managed_configs(&s);
        let (uuid, add) = match &cfg.uuid {
            Some(u) => (u.clone(), false),
            None => (self.uuid_of(&cfg.name, &managed)?, true),
        };
        self.check_identity(&cfg.name, &uuid, &managed)?;
        manager::store_managed(&s, source, text, add.then_some(uuid.as_str()))
    }

    /// The UUID a domain named `name` keeps when its new config or
    /// definition gives none: the running domain's of that name, else the
    /// stored config's, else a new one.
    fn uuid_of(
        &self,
        name: &str,
        managed: &[(String, config::DomainConfig)],
    ) -> Result<String, DomainError> {
        {
            let m = self.lock();
            if let Some(dom) = m.domains.values().find(|d| d.config.name == name) {
                return Ok(dom.uuid.clone());
            }
        }
        if let Some(u) = managed
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| c.uuid.clone())
        {
            return Ok(u);
        }
        Ok(crate::uuid::random().map_err(crate::saved::StateError::from)?)
    }

    /// Refuses `name` with `uuid` when another managed or running domain
    /// holds either one with the other: one name, one UUID, one domain.
    fn check_identity(
        &self,
        name: &str,
        uuid: &str,
        managed: &[(String, config::DomainConfig)],
    ) -> Result<(), DomainError> {
        for (theirs_name, c) in managed {
            let theirs = c.uuid.as_deref();
            if theirs_name == name && theirs.is_some_and(|u| !u.eq_ignore_ascii_case(uuid)) {
                return Err(DomainError::DefinedAs {
                    name: theirs_name.clone(),
                    uuid: theirs.unwrap_or_default().to_string(),
                });
            }
            if theirs_name != name && theirs.is_some_and(|u| u.eq_ignore_ascii_case(uuid)) {
                return Err(DomainError::UuidDefined {
                    uuid: uuid.to_string(),
                    name: theirs_name.clone(),
                });
            }
        }
        let m = self.lock();
        for dom in m.domains.values() {
            let same_uuid = dom.uuid.eq_ignore_ascii_case(uuid);
            if dom.config.name == name && !same_uuid {
                return Err(DomainError::NameTaken(name.to_string()));
            }
            if dom.config.name != name && same_uuid {
                return Err(DomainError::UuidTaken(uuid.to_string()));
            }
        }
        Ok(())
    }

    /// `domain.definition`: a running domain's (with the MACs chosen at
    /// its start and its UUID), else the managed one's.
    pub fn definition(&self, which: &str) -> Result<Definition, DomainError> {
        {
            let m = self.lock();
            if let Ok(id) = m.find(which) {
                let dom = &m.domains[&id];
                let mut d = from_config(&dom.config);
                d.uuid = Some(dom.uuid.clone());
                return Ok(d);
            }
        }
        let s = self.settings();
        let (source, text) = manager::managed_config(&s, which).map_err(|e| match e {
            DomainError::NoManaged(n) => DomainError::NoDomain(n),
            other => other,
        })?;
        let c = config::parse(std::path::Path::new(&source), &text)?;
        Ok(from_config(&c))
    }

    /// `domain.autostart`: asks, or sets, whether a managed domain starts
    /// when xend starts.
    pub fn autostart(&self, name: &str, set: Option<bool>) -> Result<Autostart, DomainError> {
        let s = self.settings();
        let cfg = managed_path(&s, name)?;
        if !cfg.exists() {
            return Err(DomainError::NoManaged(name.to_string()));
        }
        let flag = autostart_path(&s, name)?;
        match set {
            Some(true) => crate::saved::replace_file(
                &s.managed.join(format!(".{name}.autostart.new")),
                &flag,
                b"",
            )
            .map_err(DomainError::io(&flag))?,
            Some(false) => match std::fs::remove_file(&flag) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(DomainError::io(&flag)(e)),
            },
            None => {}
        }
        Ok(Autostart {
            name: name.to_string(),
            autostart: flag.exists(),
        })
    }

    /// Starts every managed domain marked autostart that is not running;
    /// a failure is logged, not fatal.
    pub fn autostart_all(&self) {
        let s = self.settings();
        for (name, _) in managed_configs(&s) {
            if !is_autostart(&s, &name) || self.lock().find(&name).is_ok() {
                continue;
            }
            let started = manager::managed_config(&s, &name)
                .and_then(|(source, text)| self.create(&source, &text));
            match started {
                Ok(info) => {
                    tracing::info!(domain = %name, domid = ?info.domid, "autostart: started");
                }
                Err(e) => tracing::error!(domain = %name, "autostart: {e}"),
            }
        }
    }
}
