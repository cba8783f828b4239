//! `service_bundle`, `service`, `instance`, the parts both share, and
//! dependencies.

use roxmltree::Node;

use super::reader::{R, Reader};
use crate::fmri::{self, Fmri};
use crate::manifest::error::{Fault, ManifestError};
use crate::manifest::model::{
    Bundle, Dependency, Dependent, Grouping, Instance, Parts, RestartOn, Service,
};

impl Reader<'_, '_> {
    pub(super) fn bundle(&self) -> R<Bundle> {
        self.printable_attributes()?;
        let root = self.doc.root_element();
        if root.tag_name().name() != "service_bundle" {
            return Err(self.err(
                root,
                format!(
                    "the root element is <{}>, not <service_bundle>",
                    root.tag_name().name()
                ),
            ));
        }
        self.attrs(root, &["type", "name"])?;
        let ty = self.req(root, "type")?;
        if !matches!(ty.as_str(), "manifest" | "profile" | "archive") {
            return Err(self.attr_err(
                root,
                "type",
                format!("type=\"{ty}\": must be manifest, profile or archive"),
            ));
        }
        let name = self.req(root, "name")?;
        let mut services = Vec::new();
        for c in root.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "service" => services.push(self.service(c)?),
                _ => return Err(self.unknown(c, root, "service")),
            }
        }
        for (i, s) in services.iter().enumerate() {
            if services[..i].iter().any(|o| o.name == s.name) {
                return Err(ManifestError::At {
                    file: self.file.to_path_buf(),
                    line: 1,
                    column: 1,
                    fault: Fault::Twice(s.name.clone()),
                });
            }
        }
        Ok(Bundle {
            file: self.file.to_path_buf(),
            name,
            services,
        })
    }

    fn service(&self, n: Node<'_, '_>) -> R<Service> {
        self.attrs(n, &["name", "type", "version"])?;
        let name = self.req(n, "name")?;
        // As written: `Fmri::parse` would take `/system/xvm/store` (it
        // drops the slash), and the name is kept as written.
        if !fmri::is_service_name(&name) {
            return Err(self.attr_err(
                n,
                "name",
                format!(
                    "name=\"{name}\" is not a service name (/-separated words of letters, \
                     digits, - _ . , with no leading, trailing or doubled /)"
                ),
            ));
        }
        let ty = self.req(n, "type")?;
        if !matches!(ty.as_str(), "service" | "restarter" | "milestone") {
            return Err(self.attr_err(
                n,
                "type",
                format!("type=\"{ty}\": must be service, restarter or milestone"),
            ));
        }
        let version = self.req(n, "version")?;
        let version = version.parse().map_err(|source| {
            self.attr_err(
                n,
                "version",
                Fault::Version {
                    value: version.clone(),
                    source,
                },
            )
        })?;
        let mut parts = Parts::default();
        let mut instances = Vec::new();
        let mut stability = None;
        let allowed = "create_default_instance, single_instance, restarter, dependency, \
                       dependent, method_context, exec_method, property_group, instance, \
                       stability, template";
        for c in n.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "create_default_instance" => {
                    self.attrs(c, &["enabled"])?;
                    let enabled = self.boolean(c, "enabled")?.ok_or_else(|| {
                        self.err(c, "<create_default_instance> needs \"enabled\"")
                    })?;
                    instances.push(Instance {
                        name: "default".into(),
                        enabled,
                        parts: Parts::default(),
                    });
                }
                "single_instance" => self.attrs(c, &[])?,
                "instance" => instances.push(self.instance(c)?),
                "stability" => stability = Some(self.stability(c)?),
                _ => {
                    if !self.part(c, &mut parts)? {
                        return Err(self.unknown(c, n, allowed));
                    }
                }
            }
        }
        for (i, inst) in instances.iter().enumerate() {
            if instances[..i].iter().any(|o| o.name == inst.name) {
                return Err(self.err(
                    n,
                    format!("service {name} has two instances named {}", inst.name),
                ));
            }
        }
        Ok(Service {
            name,
            version,
            parts,
            instances,
            stability,
        })
    }

    fn instance(&self, n: Node<'_, '_>) -> R<Instance> {
        self.attrs(n, &["name", "enabled", "complete"])?;
        let name = self.req(n, "name")?;
        if !fmri::is_instance_name(&name) {
            return Err(self.attr_err(
                n,
                "name",
                format!(
                    "name=\"{name}\" is not an instance name (one word of letters, digits, - _ . ,)"
                ),
            ));
        }
        let enabled = self
            .boolean(n, "enabled")?
            .ok_or_else(|| self.err(n, "<instance> needs the attribute \"enabled\""))?;
        let mut parts = Parts::default();
        for c in n.children().filter(Node::is_element) {
            if !self.part(c, &mut parts)? {
                return Err(self.unknown(
                    c,
                    n,
                    "restarter, dependency, dependent, method_context, exec_method, \
                     property_group, template",
                ));
            }
        }
        Ok(Instance {
            name,
            enabled,
            parts,
        })
    }

    /// The elements services and instances share; false if `c` is none.
    fn part(&self, c: Node<'_, '_>, parts: &mut Parts) -> R<bool> {
        match c.tag_name().name() {
            "dependency" => parts.dependencies.push(self.dependency(c)?),
            "dependent" => parts.dependents.push(self.dependent(c)?),
            "method_context" => {
                if parts.context.is_some() {
                    return Err(self.err(c, "a second <method_context>"));
                }
                parts.context = Some(self.context(c)?);
            }
            "exec_method" => {
                let m = self.method(c)?;
                if parts.methods.iter().any(|x| x.name == m.name) {
                    return Err(self.err(c, format!("a second \"{}\" method", m.name)));
                }
                parts.methods.push(m);
            }
            "property_group" => parts.property_groups.push(self.property_group(c)?),
            "template" => {
                if parts.template_seen {
                    return Err(self.err(c, "a second <template>"));
                }
                parts.template_seen = true;
                parts.common_name = self.template(c)?;
            }
            "restarter" => {
                // Only svc-startd restarts here; naming the master
                // restarter is fine, anything else is refused.
                self.attrs(c, &[])?;
                for s in c.children().filter(Node::is_element) {
                    if s.tag_name().name() != "service_fmri" {
                        return Err(self.unknown(s, c, "service_fmri"));
                    }
                    let f = self.service_fmri(s)?;
                    let master = Fmri::parse(&f).is_ok_and(|f| {
                        f.service == "system/svc/restarter"
                            && f.instance.as_deref().is_none_or(|i| i == "default")
                    });
                    if !master {
                        return Err(self.attr_err(
                            s,
                            "value",
                            format!("restarter {f}: only svc-startd (svc:/system/svc/restarter:default) restarts services here"),
                        ));
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn grouping(&self, n: Node<'_, '_>) -> R<Grouping> {
        let g = self.req(n, "grouping")?;
        Ok(match g.as_str() {
            "require_all" => Grouping::RequireAll,
            "require_any" => Grouping::RequireAny,
            "optional_all" => Grouping::OptionalAll,
            "exclude_all" => Grouping::ExcludeAll,
            _ => {
                return Err(self.attr_err(
                    n,
                    "grouping",
                    format!(
                        "grouping=\"{g}\": must be require_all, require_any, optional_all or exclude_all"
                    ),
                ));
            }
        })
    }

    fn restart_on(&self, n: Node<'_, '_>) -> R<RestartOn> {
        let r = self.req(n, "restart_on")?;
        Ok(match r.as_str() {
            "none" => RestartOn::None,
            "error" => RestartOn::Error,
            "restart" => RestartOn::Restart,
            "refresh" => RestartOn::Refresh,
            _ => {
                return Err(self.attr_err(
                    n,
                    "restart_on",
                    format!("restart_on=\"{r}\": must be none, error, restart or refresh"),
                ));
            }
        })
    }

    fn service_fmri(&self, c: Node<'_, '_>) -> R<String> {
        self.attrs(c, &["value"])?;
        let v = self.req(c, "value")?;
        if !v.starts_with("file://") && Fmri::parse(&v).is_err() {
            return Err(self.attr_err(c, "value", format!("\"{v}\" is not an FMRI")));
        }
        Ok(v)
    }

    fn dependency(&self, n: Node<'_, '_>) -> R<Dependency> {
        self.attrs(n, &["name", "grouping", "restart_on", "type", "delete"])?;
        let name = self.req(n, "name")?;
        let grouping = self.grouping(n)?;
        let restart_on = self.restart_on(n)?;
        // service and path are acted on; other types are kept, not used.
        let kind = self.req(n, "type")?;
        let mut fmris = Vec::new();
        for c in n.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "service_fmri" => fmris.push(self.service_fmri(c)?),
                _ if self.annotation(c)? => {}
                _ => return Err(self.unknown(c, n, "service_fmri, stability, propval, property")),
            }
        }
        Ok(Dependency {
            name,
            grouping,
            restart_on,
            kind,
            fmris,
        })
    }

    fn dependent(&self, n: Node<'_, '_>) -> R<Dependent> {
        self.attrs(n, &["name", "grouping", "restart_on", "override", "delete"])?;
        let name = self.req(n, "name")?;
        let grouping = self.grouping(n)?;
        let restart_on = self.restart_on(n)?;
        let mut fmri = None;
        for c in n.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "service_fmri" if fmri.is_none() => fmri = Some(self.service_fmri(c)?),
                _ if self.annotation(c)? => {}
                _ => {
                    return Err(self.unknown(
                        c,
                        n,
                        "one service_fmri, stability, propval, property",
                    ));
                }
            }
        }
        let fmri =
            fmri.ok_or_else(|| self.err(n, format!("dependent {name} names no service_fmri")))?;
        Ok(Dependent {
            name,
            grouping,
            restart_on,
            fmri,
        })
    }
}
