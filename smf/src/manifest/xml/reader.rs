//! The reader's state, and the checks every element shares: attributes
//! it may have, attributes it must have, booleans, control characters.

use std::path::Path;

use roxmltree::{Document, Node};

use crate::manifest::error::{Fault, ManifestError};

/// A document being read, and its file (for the positions).
pub struct Reader<'a, 'i> {
    /// The file.
    pub file: &'a Path,
    /// The document.
    pub doc: &'a Document<'i>,
}

/// A reader's result.
pub type R<T> = Result<T, ManifestError>;

impl Reader<'_, '_> {
    pub(super) fn err_at(&self, pos: usize, fault: impl Into<Fault>) -> ManifestError {
        let p = self.doc.text_pos_at(pos);
        ManifestError::At {
            file: self.file.to_path_buf(),
            line: p.row,
            column: p.col,
            fault: fault.into(),
        }
    }

    pub(super) fn err(&self, n: Node<'_, '_>, fault: impl Into<Fault>) -> ManifestError {
        self.err_at(n.range().start, fault)
    }

    /// Refuses attributes outside `allowed`.
    pub(super) fn attrs(&self, n: Node<'_, '_>, allowed: &[&str]) -> R<()> {
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

    pub(super) fn req(&self, n: Node<'_, '_>, name: &str) -> R<String> {
        n.attribute(name).map(str::to_string).ok_or_else(|| {
            self.err(
                n,
                format!("<{}> needs the attribute \"{name}\"", n.tag_name().name()),
            )
        })
    }

    pub(super) fn attr_err(
        &self,
        n: Node<'_, '_>,
        name: &str,
        fault: impl Into<Fault>,
    ) -> ManifestError {
        let pos = n
            .attribute_node(name)
            .map_or(n.range().start, |a| a.range_value().start);
        self.err_at(pos, fault)
    }

    pub(super) fn boolean(&self, n: Node<'_, '_>, name: &str) -> R<Option<bool>> {
        match n.attribute(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => {
                Err(self.attr_err(n, name, format!("{name}=\"{v}\": must be true or false")))
            }
        }
    }

    pub(super) fn unknown(
        &self,
        n: Node<'_, '_>,
        parent: Node<'_, '_>,
        allowed: &str,
    ) -> ManifestError {
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
    pub(super) fn printable_attributes(&self) -> R<()> {
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
}
