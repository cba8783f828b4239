//! SMF service manifests (the `service_bundle` DTD, version 1), read with
//! roxmltree into a typed model. Every refusal names the file, line and
//! column of the element or attribute at fault; elements and attributes
//! the DTD does not have are refused too, so a typo in a manifest is found
//! by `svccfg validate`, not by a daemon that silently runs as root.

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node, ParsingOptions};

use crate::fmri::Fmri;

/// A manifest that cannot be used: `FILE:LINE:COLUMN: why`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {why}", file.display())]
pub struct ManifestError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub why: String,
}

/// How a dependency is satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Every listed service must be online.
    RequireAll,
    /// At least one must be online.
    RequireAny,
    /// Each must be online or not enabled (or in maintenance).
    OptionalAll,
    /// None may be running.
    ExcludeAll,
}

impl Grouping {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::RequireAll => "require_all",
            Grouping::RequireAny => "require_any",
            Grouping::OptionalAll => "optional_all",
            Grouping::ExcludeAll => "exclude_all",
        }
    }
}

/// When a dependency's change restarts the dependent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartOn {
    /// Never.
    None,
    /// When the dependency stops on an error.
    Error,
    /// When it stops on an error or is restarted.
    Restart,
    /// ... or refreshed.
    Refresh,
}

/// A `dependency` (or, turned around, a `dependent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// Its name.
    pub name: String,
    /// How it is satisfied.
    pub grouping: Grouping,
    /// When it restarts the dependent.
    pub restart_on: RestartOn,
    /// `service` or `path`.
    pub kind: String,
    /// The services (or `file://` paths) depended on.
    pub fmris: Vec<String>,
}

/// A `dependent`: the named service depends on this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependent {
    /// Its name.
    pub name: String,
    /// How it is satisfied.
    pub grouping: Grouping,
    /// When it restarts the dependent.
    pub restart_on: RestartOn,
    /// The dependent service.
    pub fmri: String,
}

/// What a method runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exec {
    /// `:kill [-SIGNAL]`: signal the service's processes (default TERM).
    Kill(i32),
    /// `:true`: nothing to do.
    True,
    /// A command line, `%` tokens not yet substituted.
    Command(String),
}

/// `method_credential`: who a method runs as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credential {
    /// The user (name or number).
    pub user: Option<String>,
    /// The group; the user's primary group when absent.
    pub group: Option<String>,
    /// Supplementary groups; `None` (absent or `:default`): the user's own.
    pub supp_groups: Option<Vec<String>>,
    /// The privilege set (privileges(5) syntax), as written.
    pub privileges: Option<String>,
    /// The limit set, as written.
    pub limit_privileges: Option<String>,
}

/// `method_context`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodContext {
    /// `working_directory`.
    pub working_directory: Option<String>,
    /// `method_credential`.
    pub credential: Option<Credential>,
    /// `method_environment`: name, value.
    pub environment: Vec<(String, String)>,
}

impl MethodContext {
    /// This context with `over`'s parts taking precedence.
    #[must_use]
    pub fn overlay(&self, over: &MethodContext) -> MethodContext {
        let mut env = self.environment.clone();
        for (k, v) in &over.environment {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        MethodContext {
            working_directory: over
                .working_directory
                .clone()
                .or_else(|| self.working_directory.clone()),
            credential: over.credential.clone().or_else(|| self.credential.clone()),
            environment: env,
        }
    }
}

/// An `exec_method`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecMethod {
    /// `start`, `stop` or `refresh`.
    pub name: String,
    /// What it runs.
    pub exec: Exec,
    /// Seconds it may take; 0 means no limit.
    pub timeout_seconds: u64,
    /// Its own context, over the service's and instance's.
    pub context: Option<MethodContext>,
}

/// A property's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropType {
    /// Text.
    Astring,
    /// UTF-8 text.
    Ustring,
    /// `true` or `false`.
    Boolean,
    /// A non-negative integer.
    Count,
    /// An integer.
    Integer,
    /// A time.
    Time,
    /// A host name or address.
    Host,
    /// A host name.
    Hostname,
    /// A network address.
    NetAddress,
    /// An FMRI.
    Fmri,
    /// A URI.
    Uri,
    /// Hex bytes.
    Opaque,
}

impl PropType {
    /// From its manifest spelling.
    pub fn from_name(s: &str) -> Option<PropType> {
        Some(match s {
            "astring" => PropType::Astring,
            "ustring" => PropType::Ustring,
            "boolean" => PropType::Boolean,
            "count" => PropType::Count,
            "integer" => PropType::Integer,
            "time" => PropType::Time,
            "host" => PropType::Host,
            "hostname" => PropType::Hostname,
            "net_address" | "net_address_v4" | "net_address_v6" => PropType::NetAddress,
            "fmri" => PropType::Fmri,
            "uri" => PropType::Uri,
            "opaque" => PropType::Opaque,
            _ => return None,
        })
    }

    /// Its manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            PropType::Astring => "astring",
            PropType::Ustring => "ustring",
            PropType::Boolean => "boolean",
            PropType::Count => "count",
            PropType::Integer => "integer",
            PropType::Time => "time",
            PropType::Host => "host",
            PropType::Hostname => "hostname",
            PropType::NetAddress => "net_address",
            PropType::Fmri => "fmri",
            PropType::Uri => "uri",
            PropType::Opaque => "opaque",
        }
    }

    /// Whether `v` is a value of this type; the reason when not.
    pub fn check(self, v: &str) -> Result<(), String> {
        let ok = match self {
            PropType::Boolean => matches!(v, "true" | "false"),
            PropType::Count => v.parse::<u64>().is_ok(),
            PropType::Integer => v.parse::<i64>().is_ok(),
            PropType::Opaque => {
                v.len().is_multiple_of(2) && v.bytes().all(|b| b.is_ascii_hexdigit())
            }
            PropType::Fmri => Fmri::parse(v).is_ok() || v.starts_with("file://"),
            PropType::Ustring => true,
            _ => !v.contains('\0'),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("\"{v}\" is not a {} value", self.name()))
        }
    }
}

/// A property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: PropType,
    /// Its values (one for a `propval`).
    pub values: Vec<String>,
}

/// A `property_group`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyGroup {
    /// Its name.
    pub name: String,
    /// Its type (`application`, `framework`, ...).
    pub ty: String,
    /// Its properties.
    pub properties: Vec<Property>,
}

/// The parts a service and its instances both may have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// `dependency` elements.
    pub dependencies: Vec<Dependency>,
    /// `dependent` elements.
    pub dependents: Vec<Dependent>,
    /// `method_context`.
    pub context: Option<MethodContext>,
    /// `exec_method` elements.
    pub methods: Vec<ExecMethod>,
    /// `property_group` elements.
    pub property_groups: Vec<PropertyGroup>,
    /// `template/common_name` (the C locale's text).
    pub common_name: Option<String>,
    /// Whether a `template` was read (there may be one).
    pub template_seen: bool,
}

/// An `instance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its own parts, over the service's.
    pub parts: Parts,
}

/// A `service`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Its name: `system/xvm/store`.
    pub name: String,
    /// Its version.
    pub version: u32,
    /// Its parts.
    pub parts: Parts,
    /// Its instances (a `create_default_instance` adds `default`).
    pub instances: Vec<Instance>,
    /// `stability`, if given.
    pub stability: Option<String>,
}

/// A `service_bundle`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The file it came from.
    pub file: PathBuf,
    /// Its name.
    pub name: String,
    /// Its services.
    pub services: Vec<Service>,
}

/// One instance with its service's parts folded in: what the restarter and
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

struct Reader<'a, 'i> {
    file: &'a Path,
    doc: &'a Document<'i>,
}

type R<T> = Result<T, ManifestError>;

impl<'a, 'i> Reader<'a, 'i> {
    fn err_at(&self, pos: usize, why: String) -> ManifestError {
        let p = self.doc.text_pos_at(pos);
        ManifestError {
            file: self.file.to_path_buf(),
            line: p.row,
            column: p.col,
            why,
        }
    }

    fn err(&self, n: Node<'_, '_>, why: String) -> ManifestError {
        self.err_at(n.range().start, why)
    }

    /// Refuses attributes outside `allowed`.
    fn attrs(&self, n: Node<'_, '_>, allowed: &[&str]) -> R<()> {
        for a in n.attributes() {
            let name = a.name();
            if !allowed.contains(&name) && a.namespace().is_none_or(|ns| !ns.contains("XML")) {
                return Err(self.err_at(
                    a.range().start,
                    format!(
                        "<{}> has no attribute \"{name}\" (it takes: {})",
                        n.tag_name().name(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn req(&self, n: Node<'_, '_>, name: &str) -> R<String> {
        n.attribute(name).map(str::to_string).ok_or_else(|| {
            self.err(
                n,
                format!("<{}> needs the attribute \"{name}\"", n.tag_name().name()),
            )
        })
    }

    fn attr_err(&self, n: Node<'_, '_>, name: &str, why: String) -> ManifestError {
        let pos = n
            .attribute_node(name)
            .map_or(n.range().start, |a| a.range_value().start);
        self.err_at(pos, why)
    }

    fn boolean(&self, n: Node<'_, '_>, name: &str) -> R<Option<bool>> {
        match n.attribute(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => {
                Err(self.attr_err(n, name, format!("{name}=\"{v}\": must be true or false")))
            }
        }
    }

    fn unknown(&self, n: Node<'_, '_>, parent: Node<'_, '_>, allowed: &str) -> ManifestError {
        self.err(
            n,
            format!(
                "<{}> may not appear in <{}> (it takes: {allowed})",
                n.tag_name().name(),
                parent.tag_name().name()
            ),
        )
    }

    fn bundle(&self) -> R<Bundle> {
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
                return Err(ManifestError {
                    file: self.file.to_path_buf(),
                    line: 1,
                    column: 1,
                    why: format!("service {} is defined twice", s.name),
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
        if Fmri::parse(&name).is_err() || name.contains(':') {
            return Err(self.attr_err(n, "name", format!("\"{name}\" is not a service name")));
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
        let version = version.parse().map_err(|_| {
            self.attr_err(n, "version", format!("version=\"{version}\": not a number"))
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
                        self.err(c, "<create_default_instance> needs \"enabled\"".into())
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
        if Fmri::parse(&format!("x:{name}")).is_err() {
            return Err(self.attr_err(n, "name", format!("\"{name}\" is not an instance name")));
        }
        let enabled = self
            .boolean(n, "enabled")?
            .ok_or_else(|| self.err(n, "<instance> needs the attribute \"enabled\"".into()))?;
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
                    return Err(self.err(c, "a second <method_context>".into()));
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
                    return Err(self.err(c, "a second <template>".into()));
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

    /// `stability`, `propval` and `property` where the DTD allows them
    /// beside other content: checked, then not used. False for others.
    fn annotation(&self, c: Node<'_, '_>) -> R<bool> {
        match c.tag_name().name() {
            "stability" => drop(self.stability(c)?),
            "propval" => drop(self.propval(c)?),
            "property" => drop(self.property(c)?),
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

    fn method(&self, n: Node<'_, '_>) -> R<ExecMethod> {
        self.attrs(n, &["type", "name", "exec", "timeout_seconds", "delete"])?;
        let ty = self.req(n, "type")?;
        if ty != "method" {
            return Err(self.attr_err(n, "type", format!("type=\"{ty}\": must be method")));
        }
        let name = self.req(n, "name")?;
        if !matches!(name.as_str(), "start" | "stop" | "refresh") {
            return Err(self.attr_err(
                n,
                "name",
                format!("method \"{name}\": svc-startd runs start, stop and refresh"),
            ));
        }
        let exec_text = self.req(n, "exec")?;
        let exec = parse_exec(&exec_text).map_err(|why| self.attr_err(n, "exec", why))?;
        let t = self.req(n, "timeout_seconds")?;
        // -1 is SMF's "no limit" too.
        let timeout_seconds = match t.as_str() {
            "-1" => 0,
            _ => t.parse().map_err(|_| {
                self.attr_err(
                    n,
                    "timeout_seconds",
                    format!("timeout_seconds=\"{t}\": not a number of seconds"),
                )
            })?,
        };
        let mut context = None;
        for c in n.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "method_context" if context.is_none() => context = Some(self.context(c)?),
                _ if self.annotation(c)? => {}
                _ => {
                    return Err(self.unknown(
                        c,
                        n,
                        "one method_context, stability, propval, property",
                    ));
                }
            }
        }
        Ok(ExecMethod {
            name,
            exec,
            timeout_seconds,
            context,
        })
    }

    fn context(&self, n: Node<'_, '_>) -> R<MethodContext> {
        self.attrs(
            n,
            &[
                "working_directory",
                "project",
                "resource_pool",
                "security_flags",
            ],
        )?;
        for a in ["project", "resource_pool", "security_flags"] {
            if let Some(v) = n.attribute(a)
                && v != ":default"
            {
                return Err(self.attr_err(
                    n,
                    a,
                    format!("{a}=\"{v}\": Linux has no {a}; only :default is accepted"),
                ));
            }
        }
        let mut ctx = MethodContext {
            working_directory: n
                .attribute("working_directory")
                .filter(|w| *w != ":default")
                .map(str::to_string),
            ..MethodContext::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for c in n.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "method_credential" | "method_environment"
                    if seen.contains(&c.tag_name().name()) =>
                {
                    return Err(self.err(c, format!("a second <{}>", c.tag_name().name())));
                }
                "method_credential" => {
                    seen.push("method_credential");
                    ctx.credential = Some(self.credential(c)?);
                }
                "method_environment" => {
                    seen.push("method_environment");
                    for e in c.children().filter(Node::is_element) {
                        if e.tag_name().name() != "envvar" {
                            return Err(self.unknown(e, c, "envvar"));
                        }
                        self.attrs(e, &["name", "value"])?;
                        let k = self.req(e, "name")?;
                        if k.is_empty() || k.contains('=') {
                            return Err(self.attr_err(
                                e,
                                "name",
                                format!("\"{k}\" is not an environment variable name"),
                            ));
                        }
                        ctx.environment.push((k, self.req(e, "value")?));
                    }
                }
                _ => return Err(self.unknown(c, n, "method_credential, method_environment")),
            }
        }
        Ok(ctx)
    }

    fn credential(&self, n: Node<'_, '_>) -> R<Credential> {
        self.attrs(
            n,
            &[
                "user",
                "group",
                "supp_groups",
                "privileges",
                "limit_privileges",
            ],
        )?;
        let opt = |k: &str| {
            n.attribute(k)
                .filter(|v| *v != ":default")
                .map(str::to_string)
        };
        let user = self.req(n, "user")?;
        for k in ["privileges", "limit_privileges"] {
            if let Some(v) = opt(k) {
                privlib::parse_set(&v)
                    .map_err(|e| self.attr_err(n, k, format!("{k}=\"{v}\": {e}")))?;
            }
        }
        Ok(Credential {
            user: Some(user),
            group: opt("group"),
            supp_groups: opt("supp_groups").map(|s| {
                s.split([',', ' '])
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            privileges: opt("privileges"),
            limit_privileges: opt("limit_privileges"),
        })
    }

    fn property_group(&self, n: Node<'_, '_>) -> R<PropertyGroup> {
        self.attrs(n, &["name", "type", "delete"])?;
        let name = self.req(n, "name")?;
        let ty = self.req(n, "type")?;
        let mut properties: Vec<Property> = Vec::new();
        for c in n.children().filter(Node::is_element) {
            let p = match c.tag_name().name() {
                "propval" => self.propval(c)?,
                "property" => self.property(c)?,
                "stability" => {
                    self.stability(c)?;
                    continue;
                }
                _ => return Err(self.unknown(c, n, "propval, property, stability")),
            };
            if properties.iter().any(|q| q.name == p.name) {
                return Err(self.err(c, format!("property {name}/{} is set twice", p.name)));
            }
            properties.push(p);
        }
        Ok(PropertyGroup {
            name,
            ty,
            properties,
        })
    }

    fn prop_type(&self, n: Node<'_, '_>) -> R<PropType> {
        let t = self.req(n, "type")?;
        PropType::from_name(&t)
            .ok_or_else(|| self.attr_err(n, "type", format!("type=\"{t}\": no such property type")))
    }

    fn propval(&self, n: Node<'_, '_>) -> R<Property> {
        self.attrs(n, &["name", "type", "value", "override"])?;
        let name = self.req(n, "name")?;
        let ty = self.prop_type(n)?;
        let value = self.req(n, "value")?;
        ty.check(&value)
            .map_err(|why| self.attr_err(n, "value", format!("{name}: {why}")))?;
        Ok(Property {
            name,
            ty,
            values: vec![value],
        })
    }

    fn property(&self, n: Node<'_, '_>) -> R<Property> {
        self.attrs(n, &["name", "type", "override"])?;
        let name = self.req(n, "name")?;
        let ty = self.prop_type(n)?;
        let mut values = Vec::new();
        for list in n.children().filter(Node::is_element) {
            let want = format!("{}_list", ty.name());
            let lname = list.tag_name().name();
            if lname != want && !(ty == PropType::NetAddress && lname.starts_with("net_address")) {
                return Err(self.unknown(list, n, &want));
            }
            for v in list.children().filter(Node::is_element) {
                if v.tag_name().name() != "value_node" {
                    return Err(self.unknown(v, list, "value_node"));
                }
                self.attrs(v, &["value"])?;
                let value = self.req(v, "value")?;
                ty.check(&value)
                    .map_err(|why| self.attr_err(v, "value", format!("{name}: {why}")))?;
                values.push(value);
            }
        }
        Ok(Property { name, ty, values })
    }

    fn stability(&self, n: Node<'_, '_>) -> R<String> {
        self.attrs(n, &["value"])?;
        let v = self.req(n, "value")?;
        const KNOWN: [&str; 11] = [
            "Standard",
            "Stable",
            "Evolving",
            "Unstable",
            "External",
            "Obsolete",
            "Committed",
            "Uncommitted",
            "Volatile",
            "Private",
            "-",
        ];
        if !KNOWN.contains(&v.as_str()) {
            return Err(self.attr_err(
                n,
                "value",
                format!("stability \"{v}\": not one of {}", KNOWN.join(", ")),
            ));
        }
        Ok(v)
    }

    fn template(&self, n: Node<'_, '_>) -> R<Option<String>> {
        self.attrs(n, &[])?;
        let mut common = None;
        for c in n.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "common_name" | "description" => {
                    let mut text = None;
                    for l in c.children().filter(Node::is_element) {
                        if l.tag_name().name() != "loctext" {
                            return Err(self.unknown(l, c, "loctext"));
                        }
                        let lang = l
                            .attributes()
                            .find(|a| a.name() == "lang")
                            .map(|a| a.value().to_string());
                        let t = l
                            .text()
                            .unwrap_or("")
                            .split_whitespace()
                            .collect::<Vec<_>>();
                        if text.is_none() || lang.as_deref() == Some("C") {
                            text = Some(t.join(" "));
                        }
                    }
                    if c.tag_name().name() == "common_name" {
                        common = text;
                    }
                }
                "documentation" | "pg_pattern" => {}
                _ => {
                    return Err(self.unknown(
                        c,
                        n,
                        "common_name, description, documentation, pg_pattern",
                    ));
                }
            }
        }
        Ok(common)
    }
}

/// Reads `exec`: `:kill`, `:kill -SIGNAL`, `:true`, or a command line.
pub fn parse_exec(text: &str) -> Result<Exec, String> {
    let t = text.trim();
    if t == ":true" {
        return Ok(Exec::True);
    }
    if let Some(rest) = t.strip_prefix(":kill") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(Exec::Kill(libc::SIGTERM));
        }
        let sig = rest
            .strip_prefix('-')
            .ok_or_else(|| format!("exec=\"{text}\": :kill takes -SIGNAL"))?;
        return signal(sig)
            .map(Exec::Kill)
            .ok_or_else(|| format!("exec=\"{text}\": no signal \"{sig}\""));
    }
    if t.starts_with(':') {
        return Err(format!(
            "exec=\"{text}\": the only special methods are :kill and :true"
        ));
    }
    if t.is_empty() {
        return Err("exec is empty".into());
    }
    crate::props::split_command(t).map_err(|e| format!("exec=\"{text}\": {e}"))?;
    Ok(Exec::Command(t.to_string()))
}

fn signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let s = s.strip_prefix("SIG").unwrap_or(s);
    Some(match s {
        "TERM" => libc::SIGTERM,
        "KILL" => libc::SIGKILL,
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        _ => return None,
    })
}

/// Parses manifest `text`, read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<Bundle, ManifestError> {
    let opts = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| {
        let p = e.pos();
        ManifestError {
            file: file.to_path_buf(),
            line: p.row,
            column: p.col,
            why: format!("not well-formed XML: {e}"),
        }
    })?;
    Reader { file, doc: &doc }.bundle()
}

/// Reads and parses the manifest at `path`.
pub fn load(path: &Path) -> Result<Bundle, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        why: e.to_string(),
    })?;
    parse(path, &text)
}

/// Every `*.xml` manifest under `dir` (one level), sorted by file name;
/// also checks that no FMRI is defined twice.
pub fn load_dir(dir: &Path) -> Result<Vec<Bundle>, ManifestError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ManifestError {
            file: dir.to_path_buf(),
            line: 0,
            column: 0,
            why: e.to_string(),
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut out: Vec<Bundle> = Vec::new();
    for f in files {
        let b = load(&f)?;
        for s in &b.services {
            if let Some(o) = out
                .iter()
                .find(|o| o.services.iter().any(|x| x.name == s.name))
            {
                return Err(ManifestError {
                    file: f.clone(),
                    line: 1,
                    column: 1,
                    why: format!(
                        "service {} is already defined in {}",
                        s.name,
                        o.file.display()
                    ),
                });
            }
        }
        out.push(b);
    }
    Ok(out)
}
