//! SMF service manifests (the `service_bundle` DTD, version 1), read with
//! roxmltree into a typed model. Every refusal names the file, line and
//! column of the element or attribute at fault; elements and attributes
//! the DTD does not have are refused too, so a typo in a manifest is found
//! by `svccfg validate`, not by a daemon that silently runs as root. No
//! attribute value may hold a control character (they reach command
//! lines and generated units), and service and instance names are FMRI
//! components as written.

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node, ParsingOptions};

use crate::fmri::{self, Fmri};

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

    /// Refuses a control character (newline, CR, tab, NUL, any other C0,
    /// DEL, C1) in any attribute value: values end up in command lines,
    /// the override file and generated systemd units, where such a
    /// character would start a line of its own (or hide one). XML folds
    /// literal newlines and tabs in attributes into spaces; this catches
    /// the character references (`&#10;`) that survive.
    fn printable_attributes(&self) -> R<()> {
        for n in self.doc.descendants().filter(Node::is_element) {
            for a in n.attributes() {
                if let Some(c) = a.value().chars().find(|c| c.is_control()) {
                    return Err(self.err_at(
                        a.range_value().start,
                        format!(
                            "<{}> {}=\"{}\": holds the control character U+{:04X}; \
                             a value must be one line of printable text",
                            n.tag_name().name(),
                            a.name(),
                            a.value().escape_debug(),
                            u32::from(c)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn bundle(&self) -> R<Bundle> {
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
                        // Layout (newlines, tabs) is folded above; any
                        // other control character is refused.
                        if let Some(c) = t.iter().flat_map(|w| w.chars()).find(|c| c.is_control()) {
                            return Err(self.err(
                                l,
                                format!(
                                    "<loctext> holds the control character U+{:04X}",
                                    u32::from(c)
                                ),
                            ));
                        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"<?xml version="1.0"?>
<service_bundle type="manifest" name="t">
  <service name="system/xvm/t" type="service" version="1">
    <create_default_instance enabled="true"/>
    <dependency name="d" grouping="require_all" restart_on="none" type="service">
      <service_fmri value="svc:/system/xvm/fixperms:default"/>
    </dependency>
    <method_context working_directory="/var/lib/xvm">
      <method_credential user="xvm" group="xvm" supp_groups="xvm"
          privileges="basic,!proc_info" limit_privileges="basic"/>
      <method_environment>
        <envvar name="LANG" value="C"/>
      </method_environment>
    </method_context>
    <exec_method type="method" name="start" exec="prog --mode %{restarter/mode}" timeout_seconds="60"/>
    <property_group name="sandbox" type="application">
      <propval name="address-families" type="astring" value="AF_UNIX"/>
      <property name="more" type="ustring">
        <ustring_list><value_node value="v"/></ustring_list>
      </property>
    </property_group>
    <template>
      <common_name><loctext xml:lang="C">a test</loctext></common_name>
    </template>
  </service>
</service_bundle>
"#;

    fn parse_text(text: &str) -> Result<Bundle, ManifestError> {
        parse(Path::new("t.xml"), text)
    }

    /// `text` with the first `from` made `to`, and the line and column of
    /// the character `at` bytes into `to`.
    fn changed(from: &str, to: &str, at: usize) -> (String, u32, u32) {
        assert!(BASE.contains(from), "{from}");
        let text = BASE.replacen(from, to, 1);
        let pos = text.find(to).expect("changed") + at;
        let line = text[..pos].matches('\n').count() + 1;
        let col = pos - text[..pos].rfind('\n').map_or(0, |n| n + 1) + 1;
        let n = |x: usize| u32::try_from(x).expect("a short text");
        (text, n(line), n(col))
    }

    #[test]
    fn the_base_manifest_is_good() {
        let b = parse_text(BASE).expect("base");
        assert_eq!(b.instances().len(), 1);
    }

    #[test]
    fn a_control_character_in_any_value_is_refused_at_its_attribute() {
        // (attribute as written, its name): each gets every character.
        let attrs = [
            (r#"user="xvm""#, "user"),
            (r#"group="xvm""#, "group"),
            (r#"supp_groups="xvm""#, "supp_groups"),
            (r#"privileges="basic,!proc_info""#, "privileges"),
            (r#"limit_privileges="basic""#, "limit_privileges"),
            (r#"working_directory="/var/lib/xvm""#, "working_directory"),
            (r#"exec="prog --mode %{restarter/mode}""#, "exec"),
            (r#"value="AF_UNIX""#, "value"),
            (r#"value="v""#, "value"),
            (r#"value="C""#, "value"),
            (r#"name="LANG""#, "name"),
            (r#"name="address-families""#, "name"),
            (r#"name="sandbox""#, "name"),
            (r#"name="d""#, "name"),
            (r#"value="svc:/system/xvm/fixperms:default""#, "value"),
            (r#"name="t""#, "name"),
        ];
        // Newline, CR, tab, ESC (C0, not even allowed in XML 1.0), DEL,
        // NEL and another C1.
        let chars = [
            "&#10;", "&#13;", "&#9;", "&#x1b;", "&#127;", "&#x85;", "&#x9b;",
        ];
        for (attr, name) in attrs {
            let (head, value) = attr.split_once('"').expect("quoted");
            let value = value.trim_end_matches('"');
            for c in chars {
                for to in [
                    format!("{head}\"{value}{c}ExecStartPre=/bin/sh\""),
                    format!("{head}\"{c}{value}\""),
                    format!("{head}\"{value}{c}\""),
                ] {
                    let (text, line, col) = changed(attr, &to, head.len() + 1);
                    let e = parse_text(&text).expect_err(&to);
                    if c == "&#x1b;" {
                        // roxmltree refuses it as XML already.
                        assert!(e.why.contains("not well-formed"), "{to}: {e}");
                        assert_eq!(e.line, line, "{to}: {e}");
                        continue;
                    }
                    assert_eq!((e.line, e.column), (line, col), "{to}: {e}");
                    assert!(e.why.contains(&format!(" {name}=\"")), "{to}: {e}");
                    assert!(e.why.contains("control character"), "{to}: {e}");
                    assert!(e.to_string().starts_with(&format!("t.xml:{line}:{col}: ")));
                }
            }
        }
    }

    #[test]
    fn a_nul_is_refused_too() {
        for to in [r#"user="xvm&#0;""#, "user=\"xvm\0\""] {
            let (text, line, _) = changed(r#"user="xvm""#, to, 0);
            let e = parse_text(&text).expect_err(to);
            assert_eq!(e.line, line, "{e}");
        }
    }

    #[test]
    fn literal_layout_in_a_value_is_folded_by_xml_and_accepted() {
        // A literal newline or tab in an attribute is a space to XML.
        let (text, _, _) = changed(
            r#"privileges="basic,!proc_info""#,
            "privileges=\"basic,\n\t!proc_info\"",
            0,
        );
        let b = parse_text(&text).expect("folded");
        let r = &b.instances()[0];
        let c = r.context.credential.as_ref().expect("credential");
        assert_eq!(c.privileges.as_deref(), Some("basic,  !proc_info"));
    }

    #[test]
    fn a_control_character_in_the_common_name_is_refused() {
        let (text, line, col) = changed(
            "<loctext xml:lang=\"C\">a test",
            "<loctext xml:lang=\"C\">a&#127;test",
            0,
        );
        let e = parse_text(&text).expect_err("DEL");
        assert_eq!((e.line, e.column), (line, col), "{e}");
        assert!(e.why.contains("U+007F"), "{e}");
        // Layout is folded: a newline in the text is a space.
        let (text, _, _) = changed("a test", "a&#10;&#13;test", 0);
        let b = parse_text(&text).expect("folded");
        assert_eq!(b.instances()[0].common_name.as_deref(), Some("a test"));
    }

    #[test]
    fn a_service_name_is_checked_as_written() {
        let from = r#"<service name="system/xvm/t""#;
        let head = r#"<service name=""#.len();
        for bad in [
            "/system/xvm/t",
            "//system/xvm/t",
            "system/xvm/t/",
            "system//xvm/t",
            "/",
            "",
            "svc:/system/xvm/t",
            "system/xvm/t:default",
            "9system/xvm/t",
        ] {
            let (text, line, col) = changed(from, &format!(r#"<service name="{bad}""#), head);
            let e = parse_text(&text).expect_err(bad);
            assert_eq!((e.line, e.column), (line, col), "{bad}: {e}");
            assert!(
                e.why
                    .contains(&format!("name=\"{bad}\" is not a service name")),
                "{e}"
            );
        }
    }

    #[test]
    fn an_instance_name_is_checked_as_written() {
        let from = "<create_default_instance enabled=\"true\"/>";
        for bad in ["", "/a", "a/", "a/b", "a:b", "a b", "9"] {
            let to = format!(r#"<instance name="{bad}" enabled="true"/>"#);
            let (text, line, col) = changed(from, &to, r#"<instance name=""#.len());
            let e = parse_text(&text).expect_err(bad);
            assert_eq!((e.line, e.column), (line, col), "{bad}: {e}");
            assert!(e.why.contains("is not an instance name"), "{e}");
        }
        let (text, _, _) = changed(from, r#"<instance name="test-2" enabled="false"/>"#, 0);
        let b = parse_text(&text).expect("good instance");
        assert_eq!(
            b.instances()[0].fmri.to_string(),
            "svc:/system/xvm/t:test-2"
        );
    }

    #[test]
    fn a_service_defined_twice_is_found_however_it_was_written() {
        // "/system/xvm/t" used to pass as another spelling of the same one.
        let service = &BASE[BASE.find("  <service ").expect("service")
            ..BASE.find("</service_bundle>").expect("end")];
        let slashed = service.replacen("name=\"system/xvm/t\"", "name=\"/system/xvm/t\"", 1);
        let text = BASE.replacen(
            "</service_bundle>",
            &format!("{slashed}</service_bundle>"),
            1,
        );
        let e = parse_text(&text).expect_err("slashed");
        assert!(e.why.contains("is not a service name"), "{e}");
        let text = BASE.replacen(
            "</service_bundle>",
            &format!("{service}</service_bundle>"),
            1,
        );
        let e = parse_text(&text).expect_err("twice");
        assert!(e.why.contains("defined twice"), "{e}");
    }
}
