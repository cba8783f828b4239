//! What a manifest says: services, their instances and the parts both may
//! have (dependencies, a method context, methods, property groups).

use std::path::PathBuf;

use super::property::PropType;

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

impl RestartOn {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartOn::None => "none",
            RestartOn::Error => "error",
            RestartOn::Restart => "restart",
            RestartOn::Refresh => "refresh",
        }
    }
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
