//! One instance with its service's parts folded in.

use std::path::PathBuf;

use crate::fmri::Fmri;

use super::model::{
    Bundle, Dependency, Dependent, ExecMethod, Instance, MethodContext, Property, PropertyGroup,
    Service,
};
use super::property::PropType;

/// the systemd export work from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The instance's FMRI.
    pub fmri: Fmri,
    /// Enabled in the manifest.
    pub enabled: bool,
    /// Dependencies of service and instance.
    pub dependencies: Vec<Dependency>,
    /// Dependents of service and instance.
    pub dependents: Vec<Dependent>,
    /// The instance's context over the service's.
    pub context: MethodContext,
    /// Methods, the instance's replacing the service's of the same name.
    pub methods: Vec<ExecMethod>,
    /// Property groups, the instance's properties over the service's.
    pub property_groups: Vec<PropertyGroup>,
    /// The common name.
    pub common_name: Option<String>,
    /// The manifest file.
    pub file: PathBuf,
}

impl Resolved {
    /// The method `name`, if any.
    pub fn method(&self, name: &str) -> Option<&ExecMethod> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The context `name` runs in: its own over the instance's.
    pub fn method_context(&self, m: &ExecMethod) -> MethodContext {
        match &m.context {
            Some(c) => self.context.overlay(c),
            None => self.context.clone(),
        }
    }

    /// This instance as a restarter runs it: with the `restarter/mode`
    /// property (`system` or `session`) that methods may use.
    #[must_use]
    pub fn for_mode(&self, system: bool) -> Resolved {
        let mut r = self.clone();
        r.property_groups.retain(|g| g.name != "restarter");
        r.property_groups.push(PropertyGroup {
            name: "restarter".into(),
            ty: "framework".into(),
            properties: vec![Property {
                name: "mode".into(),
                ty: PropType::Astring,
                values: vec![if system { "system" } else { "session" }.into()],
            }],
        });
        r
    }

    /// The first value of `pg/prop`.
    pub fn prop(&self, pg: &str, prop: &str) -> Option<&Property> {
        self.property_groups
            .iter()
            .find(|g| g.name == pg)
            .and_then(|g| g.properties.iter().find(|p| p.name == prop))
    }
}

impl Bundle {
    /// Every instance, resolved.
    pub fn instances(&self) -> Vec<Resolved> {
        let mut out = Vec::new();
        for s in &self.services {
            for i in &s.instances {
                out.push(resolve(self, s, i));
            }
        }
        out
    }
}

fn resolve(b: &Bundle, s: &Service, i: &Instance) -> Resolved {
    let mut methods = s.parts.methods.clone();
    for m in &i.parts.methods {
        methods.retain(|x| x.name != m.name);
        methods.push(m.clone());
    }
    let mut pgs = s.parts.property_groups.clone();
    for g in &i.parts.property_groups {
        match pgs.iter_mut().find(|x| x.name == g.name) {
            Some(x) => {
                for p in &g.properties {
                    x.properties.retain(|q| q.name != p.name);
                    x.properties.push(p.clone());
                }
            }
            None => pgs.push(g.clone()),
        }
    }
    let base = s.parts.context.clone().unwrap_or_default();
    let context = match &i.parts.context {
        Some(c) => base.overlay(c),
        None => base,
    };
    Resolved {
        fmri: Fmri::instance(&s.name, &i.name),
        enabled: i.enabled,
        dependencies: [s.parts.dependencies.clone(), i.parts.dependencies.clone()].concat(),
        dependents: [s.parts.dependents.clone(), i.parts.dependents.clone()].concat(),
        context,
        methods,
        property_groups: pgs,
        common_name: i
            .parts
            .common_name
            .clone()
            .or_else(|| s.parts.common_name.clone()),
        file: b.file.clone(),
    }
}
