//! The instances: read from the manifests with the administrator's
//! overrides, found by name, their dependencies, enabled and cleared.

use std::collections::VecDeque;
use std::time::SystemTime;

use super::state::{Config, Restarter, State, Svc};
use crate::fmri::Fmri;
use crate::manifest::{Bundle, Dependency, Grouping, PropType, Resolved};
use crate::props::{Override, Overrides, PropsError};

/// Why an instance could not be found, started or changed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// No instance has the name.
    #[error("{0}: no such instance")]
    NoSuch(Fmri),
    /// Several instances have the (shortened) name.
    #[error("{0}: names several instances; give one")]
    Several(Fmri),
    /// A dependency does not let it start yet.
    #[error("waiting for dependency {name} ({grouping} {fmris})")]
    Waiting {
        /// The dependency's name.
        name: String,
        /// Its grouping.
        grouping: &'static str,
        /// What it names, space-separated.
        fmris: String,
    },
    /// `svcadm clear` of an instance that is not in maintenance.
    #[error("{0} is not in maintenance")]
    NotInMaintenance(Fmri),
    /// The override file could not be changed.
    #[error("{0}")]
    Overrides(#[source] PropsError),
}

fn enabled_override(o: &Overrides, f: &Fmri) -> Option<bool> {
    o.for_fmri(f)
        .into_iter()
        .find(|(p, _)| *p == "general/enabled")
        .map(|(_, v)| v.value == "true")
}

impl Restarter {
    /// A restarter over `bundles`, with `overrides`.
    pub fn new(cfg: Config, bundles: Vec<Bundle>, overrides: Overrides) -> Restarter {
        let mut r = Restarter {
            cfg,
            svcs: Vec::new(),
            overrides,
            bundles,
        };
        r.load();
        r
    }

    fn resolved(&self) -> Vec<Resolved> {
        let mut out = Vec::new();
        for b in &self.bundles {
            for mut i in b.instances() {
                self.overrides.apply(&mut i);
                out.push(i);
            }
        }
        out
    }

    /// (Re)reads properties into the instances; new instances appear.
    pub fn load(&mut self) {
        for r in self.resolved() {
            let enabled = enabled_override(&self.overrides, &r.fmri).unwrap_or(r.enabled);
            match self.svcs.iter_mut().find(|s| s.r.fmri == r.fmri) {
                Some(s) => {
                    s.r = r;
                    s.enabled = enabled;
                }
                None => self.svcs.push(Svc {
                    r,
                    state: State::Uninitialized,
                    since: SystemTime::now(),
                    reason: "not looked at yet".into(),
                    enabled,
                    temporary: None,
                    child: None,
                    uid: 0,
                    stopping: None,
                    restart_after_stop: false,
                    exits: VecDeque::new(),
                }),
            }
        }
    }

    /// The instance `f` names (a service FMRI names its only instance).
    /// As svcadm allows, a name may be shortened to its last components:
    /// `store` for `svc:/system/xvm/store:default`.
    pub fn find(&self, f: &Fmri) -> Result<usize, InstanceError> {
        let pick = |exact: bool| -> Vec<usize> {
            self.svcs
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    let name = &s.r.fmri.service;
                    (if exact {
                        *name == f.service
                    } else {
                        name.ends_with(&format!("/{}", f.service))
                    }) && f
                        .instance
                        .as_ref()
                        .is_none_or(|i| s.r.fmri.instance.as_ref() == Some(i))
                })
                .map(|(i, _)| i)
                .collect()
        };
        let mut hits = pick(true);
        if hits.is_empty() {
            hits = pick(false);
        }
        match hits[..] {
            [i] => Ok(i),
            [] => Err(InstanceError::NoSuch(f.clone())),
            _ => Err(InstanceError::Several(f.clone())),
        }
    }

    fn dep_state(&self, fmri: &str) -> Option<State> {
        let f = Fmri::parse(fmri).ok()?;
        let i = self.find(&f).ok()?;
        Some(self.svcs[i].state)
    }

    /// `s`'s dependencies: its own, and those other services' `dependent`
    /// elements put on it.
    pub fn dependencies_of(&self, s: &Svc) -> Vec<Dependency> {
        let mut deps: Vec<Dependency> =
            s.r.dependencies
                .iter()
                .filter(|d| d.kind == "service")
                .cloned()
                .collect();
        for other in &self.svcs {
            for d in &other.r.dependents {
                let names_s = Fmri::parse(&d.fmri).is_ok_and(|f| {
                    f.service == s.r.fmri.service
                        && f.instance
                            .as_ref()
                            .is_none_or(|i| Some(i) == s.r.fmri.instance.as_ref())
                });
                if names_s {
                    deps.push(Dependency {
                        name: format!("{} (dependent of {})", d.name, other.r.fmri),
                        grouping: d.grouping,
                        restart_on: d.restart_on,
                        kind: "service".into(),
                        fmris: vec![other.r.fmri.to_string()],
                    });
                }
            }
        }
        deps
    }

    /// Whether `s`'s dependencies let it start; what it waits for if not.
    pub fn deps_met(&self, s: &Svc) -> Result<(), InstanceError> {
        for d in &self.dependencies_of(s) {
            let states: Vec<Option<State>> = d.fmris.iter().map(|f| self.dep_state(f)).collect();
            let online = |st: &Option<State>| *st == Some(State::Online);
            let ok = match d.grouping {
                Grouping::RequireAll => states.iter().all(online),
                Grouping::RequireAny => states.iter().any(online),
                Grouping::OptionalAll => states.iter().all(|st| {
                    matches!(
                        st,
                        None | Some(State::Online | State::Disabled | State::Maintenance)
                    )
                }),
                Grouping::ExcludeAll => !states.iter().any(online),
            };
            if !ok {
                return Err(InstanceError::Waiting {
                    name: d.name.clone(),
                    grouping: d.grouping.as_str(),
                    fmris: d.fmris.join(" "),
                });
            }
        }
        Ok(())
    }

    /// `svcadm enable/disable [-t]`.
    pub fn set_enabled(
        &mut self,
        i: usize,
        on: bool,
        temporary: bool,
    ) -> Result<(), InstanceError> {
        if temporary {
            self.svcs[i].temporary = Some(on);
        } else {
            let f = self.svcs[i].r.fmri.clone();
            self.overrides
                .set(
                    &f,
                    "general/enabled",
                    Override {
                        ty: PropType::Boolean,
                        value: on.to_string(),
                    },
                )
                .map_err(InstanceError::Overrides)?;
            self.svcs[i].enabled = on;
            self.svcs[i].temporary = None;
        }
        if on && self.svcs[i].state == State::Disabled {
            self.svcs[i].set(State::Offline, "enabled by the administrator");
        }
        Ok(())
    }

    /// `svcadm clear`: out of maintenance.
    pub fn clear(&mut self, i: usize) -> Result<(), InstanceError> {
        let s = &mut self.svcs[i];
        if s.state != State::Maintenance {
            return Err(InstanceError::NotInMaintenance(s.r.fmri.clone()));
        }
        s.exits.clear();
        s.set(State::Offline, "cleared by the administrator");
        Ok(())
    }

    /// Sorts instances so each comes after what it requires (stable, by
    /// manifest order otherwise); a cycle is left as it is.
    pub fn order_by_dependencies(&mut self) {
        let n = self.svcs.len();
        let mut placed: Vec<usize> = Vec::with_capacity(n);
        for _ in 0..n {
            for i in 0..n {
                if placed.contains(&i) {
                    continue;
                }
                let deps_placed = self.dependencies_of(&self.svcs[i]).iter().all(|d| {
                    d.fmris.iter().all(|f| {
                        Fmri::parse(f)
                            .ok()
                            .and_then(|f| self.find(&f).ok())
                            .is_none_or(|j| j == i || placed.contains(&j))
                    })
                });
                if deps_placed {
                    placed.push(i);
                }
            }
        }
        for i in 0..n {
            if !placed.contains(&i) {
                placed.push(i);
            }
        }
        let mut old: Vec<Option<Svc>> = std::mem::take(&mut self.svcs)
            .into_iter()
            .map(Some)
            .collect();
        self.svcs = placed.into_iter().filter_map(|i| old[i].take()).collect();
    }
}
