//! Properties beyond the manifest: the administrator's overrides.
//!
//! An administrator's `svccfg setprop` lands in an override file, one
//! property per line (`FMRI<TAB>pg/prop<TAB>type<TAB>value`, values with
//! `\t`, `\n` and `\\` escaped), replaced atomically on every change, so
//! it survives a restart of svc-startd and a crash never leaves half a
//! file. The file is read with a bound ([`MAX_PROPERTIES`]), and a change
//! that would pass it is refused, so the next start can always read it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use privlib::bounded::FileError;

use crate::fmri::{Fmri, FmriError};
use crate::manifest::{PropType, Property, PropertyError, PropertyGroup, Resolved, split_prop};

/// The largest override file: thousands of properties.
pub const MAX_PROPERTIES: u64 = 1 << 20;

/// Why the override file could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum PropsError {
    /// The file could not be read (or is larger than [`MAX_PROPERTIES`]).
    #[error("{0}")]
    Read(#[source] FileError),
    /// A line without its four fields.
    #[error("{}:{line}:1: expected FMRI, pg/prop, type and value, tab-separated", path.display())]
    Fields {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// A line whose FMRI does not parse.
    #[error("{}:{line}:1: {source}", path.display())]
    Fmri {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        #[source]
        source: FmriError,
    },
    /// A line with an unknown property type.
    #[error("{}:{line}:1: unknown property type", path.display())]
    Type {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// A line whose name or value is not a property's.
    #[error("{}:{line}:1: {source}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Why.
        #[source]
        source: PropertyError,
    },
    /// A property to set whose name or value is not a property's.
    #[error("{0}")]
    Property(#[source] PropertyError),
    /// The change would make the file larger than [`MAX_PROPERTIES`].
    #[error("{}: the properties would take more than {MAX_PROPERTIES} bytes", path.display())]
    Full {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file (or its temporary beside it).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A property set by the administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Its type.
    pub ty: PropType,
    /// Its value.
    pub value: String,
}

/// The override file.
#[derive(Debug, Default)]
pub struct Overrides {
    path: Option<PathBuf>,
    map: BTreeMap<(String, String), Override>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Overrides {
    /// Reads the file at `path`, at most [`MAX_PROPERTIES`] bytes
    /// (absent: none set yet).
    pub fn load(path: &Path) -> Result<Overrides, PropsError> {
        let mut o = Overrides {
            path: Some(path.to_path_buf()),
            map: BTreeMap::new(),
        };
        let text = match privlib::bounded::read_to_string(path, MAX_PROPERTIES) {
            Ok(t) => t,
            Err(FileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(o);
            }
            Err(e) => return Err(PropsError::Read(e)),
        };
        for (i, line) in text.lines().enumerate() {
            let (path, line_no) = (path.to_path_buf(), i + 1);
            let f: Vec<&str> = line.split('\t').collect();
            let [fmri, prop, ty, value] = f[..] else {
                return Err(PropsError::Fields {
                    path,
                    line: line_no,
                });
            };
            let at = |source| PropsError::Line {
                path: path.clone(),
                line: line_no,
                source,
            };
            Fmri::parse(fmri).map_err(|source| PropsError::Fmri {
                path: path.clone(),
                line: line_no,
                source,
            })?;
            split_prop(prop).map_err(at)?;
            let ty = PropType::from_name(ty).ok_or_else(|| PropsError::Type {
                path: path.clone(),
                line: line_no,
            })?;
            let value = unescape(value);
            ty.check(&value).map_err(at)?;
            o.map
                .insert((fmri.to_string(), prop.to_string()), Override { ty, value });
        }
        Ok(o)
    }

    /// Sets `pg/prop` of `fmri` and writes the file (temp file, fsync,
    /// rename, directory fsync).
    pub fn set(&mut self, fmri: &Fmri, prop: &str, ov: Override) -> Result<(), PropsError> {
        split_prop(prop).map_err(PropsError::Property)?;
        ov.ty.check(&ov.value).map_err(PropsError::Property)?;
        let key = (fmri.to_string(), prop.to_string());
        let old = self.map.insert(key.clone(), ov);
        if let Err(e) = self.save() {
            match old {
                Some(o) => self.map.insert(key, o),
                None => self.map.remove(&key),
            };
            return Err(e);
        }
        Ok(())
    }

    /// What the administrator set for `fmri`.
    pub fn for_fmri(&self, fmri: &Fmri) -> Vec<(&str, &Override)> {
        let f = fmri.to_string();
        self.map
            .iter()
            .filter(|((k, _), _)| *k == f)
            .map(|((_, p), o)| (p.as_str(), o))
            .collect()
    }

    fn save(&self) -> Result<(), PropsError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = String::new();
        for ((f, p), o) in &self.map {
            text.push_str(&format!(
                "{f}\t{p}\t{}\t{}\n",
                o.ty.name(),
                escape(&o.value)
            ));
        }
        if text.len() as u64 > MAX_PROPERTIES {
            return Err(PropsError::Full { path: path.clone() });
        }
        let tmp = path.with_extension("new");
        let err = |source| PropsError::Write {
            path: tmp.clone(),
            source,
        };
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(|source| PropsError::Write {
            path: path.clone(),
            source,
        })?;
        if let Some(dir) = path.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }

    /// Folds the overrides into `r`'s property groups.
    pub fn apply(&self, r: &mut Resolved) {
        for (prop, o) in self.for_fmri(&r.fmri) {
            let Ok((g, p)) = split_prop(prop) else {
                continue;
            };
            let prop = Property {
                name: p.to_string(),
                ty: o.ty,
                values: vec![o.value.clone()],
            };
            match r.property_groups.iter_mut().find(|x| x.name == g) {
                Some(pg) => {
                    pg.properties.retain(|q| q.name != p);
                    pg.properties.push(prop);
                }
                None => r.property_groups.push(PropertyGroup {
                    name: g.to_string(),
                    ty: "application".into(),
                    properties: vec![prop],
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_survive_a_round_trip() {
        let s = "a\tb\\n\nc";
        assert_eq!(unescape(&escape(s)), s);
    }
}
