//! `exec_method`, `method_context` and `method_credential`.

use roxmltree::Node;

use super::reader::{R, Reader};
use crate::manifest::error::Fault;
use crate::manifest::exec::parse_exec;
use crate::manifest::model::{Credential, ExecMethod, MethodContext};

impl Reader<'_, '_> {
    pub(super) fn method(&self, n: Node<'_, '_>) -> R<ExecMethod> {
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
        let exec = parse_exec(&exec_text).map_err(|e| self.attr_err(n, "exec", Fault::Exec(e)))?;
        let t = self.req(n, "timeout_seconds")?;
        // -1 is SMF's "no limit" too.
        let timeout_seconds = match t.as_str() {
            "-1" => 0,
            _ => t.parse().map_err(|source| {
                self.attr_err(
                    n,
                    "timeout_seconds",
                    Fault::Timeout {
                        value: t.clone(),
                        source,
                    },
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

    pub(super) fn context(&self, n: Node<'_, '_>) -> R<MethodContext> {
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

    pub(super) fn credential(&self, n: Node<'_, '_>) -> R<Credential> {
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
                privlib::parse_set(&v).map_err(|source| {
                    self.attr_err(
                        n,
                        k,
                        Fault::Privileges {
                            attr: k,
                            value: v.clone(),
                            source,
                        },
                    )
                })?;
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
}
