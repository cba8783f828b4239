//! SMF service manifests (the `service_bundle` DTD, version 1), read with
//! roxmltree into a typed model. Every refusal names the file, line and
//! column of the element or attribute at fault; elements and attributes
//! the DTD does not have are refused too, so a typo in a manifest is found
//! by `svccfg validate`, not by a daemon that silently runs as root. No
//! attribute value may hold a control character (they reach command
//! lines and generated units), and service and instance names are FMRI
//! components as written.
//!
//! - [`model`]: what a manifest says (services, instances, methods,
//!   credentials, dependencies, property groups);
//! - [`property`]: property types and their values, `pg/prop` names;
//! - [`resolve`]: an instance with its service's parts folded in
//!   ([`Resolved`]), what the restarter and the export work from;
//! - [`exec`]: a method's `exec`: `:kill`, `:true`, command lines and
//!   their `%` tokens;
//! - [`xml`]: the reader, XML in, [`Bundle`] or a [`ManifestError`] out.
//!
//! Imports point one way: `xml -> exec -> resolve -> model -> property`.

pub mod error;
pub mod exec;
pub mod model;
pub mod property;
pub mod resolve;
pub mod xml;

pub use error::{Fault, ManifestError};
pub use exec::{ExecError, expand, parse_exec, split_command};
pub use model::{
    Bundle, Credential, Dependency, Dependent, Exec, ExecMethod, Grouping, Instance, MethodContext,
    Parts, Property, PropertyGroup, RestartOn, Service,
};
pub use property::{PropType, PropertyError, split_prop};
pub use resolve::Resolved;
pub use xml::{load, load_dir, parse};
