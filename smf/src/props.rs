//! Properties beyond the manifest, and method command lines.
//!
//! An administrator's `svccfg setprop` lands in an override file, one
//! property per line (`FMRI<TAB>pg/prop<TAB>type<TAB>value`, values with
//! `\t`, `\n` and `\\` escaped), replaced atomically on every change, so
//! it survives a restart of svc-startd and a crash never leaves half a
//! file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fmri::Fmri;
use crate::manifest::{PropType, Property, PropertyGroup, Resolved, split_prop};

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
    /// Reads the file at `path` (absent: none set yet).
    pub fn load(path: &Path) -> Result<Overrides, String> {
        let mut o = Overrides {
            path: Some(path.to_path_buf()),
            map: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(o),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        for (i, line) in text.lines().enumerate() {
            let bad = |why: &str| format!("{}:{}:1: {why}", path.display(), i + 1);
            let f: Vec<&str> = line.split('\t').collect();
            let [fmri, prop, ty, value] = f[..] else {
                return Err(bad("expected FMRI, pg/prop, type and value, tab-separated"));
            };
            Fmri::parse(fmri).map_err(|e| bad(&e.to_string()))?;
            split_prop(prop).map_err(|e| bad(&e))?;
            let ty = PropType::from_name(ty).ok_or_else(|| bad("unknown property type"))?;
            let value = unescape(value);
            ty.check(&value).map_err(|e| bad(&e))?;
            o.map
                .insert((fmri.to_string(), prop.to_string()), Override { ty, value });
        }
        Ok(o)
    }

    /// Sets `pg/prop` of `fmri` and writes the file (temp file, fsync,
    /// rename, directory fsync).
    pub fn set(&mut self, fmri: &Fmri, prop: &str, ov: Override) -> Result<(), String> {
        split_prop(prop)?;
        ov.ty.check(&ov.value)?;
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

    fn save(&self) -> Result<(), String> {
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
        let tmp = path.with_extension("new");
        let err = |e: std::io::Error| format!("{}: {e}", tmp.display());
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
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
