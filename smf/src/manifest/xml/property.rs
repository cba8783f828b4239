//! `property_group`, `propval`, `property`, `stability` and `template`.

use roxmltree::Node;

use super::reader::{R, Reader};
use crate::manifest::error::Fault;
use crate::manifest::model::{Property, PropertyGroup};
use crate::manifest::property::PropType;

impl Reader<'_, '_> {
    /// `stability`, `propval` and `property` where the DTD allows them
    /// beside other content: checked, then not used. False for others.
    pub(super) fn annotation(&self, c: Node<'_, '_>) -> R<bool> {
        match c.tag_name().name() {
            "stability" => drop(self.stability(c)?),
            "propval" => drop(self.propval(c)?),
            "property" => drop(self.property(c)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
    pub(super) fn property_group(&self, n: Node<'_, '_>) -> R<PropertyGroup> {
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

    /// The `value` attribute of `n`, checked against property `name`'s type.
    fn value(&self, n: Node<'_, '_>, ty: PropType, name: &str) -> R<String> {
        let value = self.req(n, "value")?;
        ty.check(&value).map_err(|source| {
            self.attr_err(
                n,
                "value",
                Fault::Value {
                    property: name.to_string(),
                    source,
                },
            )
        })?;
        Ok(value)
    }

    fn propval(&self, n: Node<'_, '_>) -> R<Property> {
        self.attrs(n, &["name", "type", "value", "override"])?;
        let name = self.req(n, "name")?;
        let ty = self.prop_type(n)?;
        let value = self.value(n, ty, &name)?;
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
                let value = self.value(v, ty, &name)?;
                values.push(value);
            }
        }
        Ok(Property { name, ty, values })
    }

    pub(super) fn stability(&self, n: Node<'_, '_>) -> R<String> {
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

    pub(super) fn template(&self, n: Node<'_, '_>) -> R<Option<String>> {
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
