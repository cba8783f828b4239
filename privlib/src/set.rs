//! Privilege sets and their text forms.
//!
//! A [`PrivSet`] holds privileges of the table plus, for the set `all` only,
//! the capabilities a newer kernel knows and the table does not. Text forms:
//! `basic`, `all`, `none`, `zone`, names, `!name` or `-name` to remove,
//! comma-separated and read left to right (`basic,!proc_info,file_chown`).

use std::fmt;

use crate::caps::CapMask;
use crate::names::{self, Backing, PRIVILEGES, PrivId};

/// A privilege expression that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// A word that names no privilege.
    #[error("unknown privilege \"{0}\"")]
    Unknown(String),
    /// An empty element, as in `basic,,file_chown`.
    #[error("empty privilege name in \"{0}\"")]
    Empty(String),
    /// A `-s` specification of the wrong shape.
    #[error("bad privilege specification \"{spec}\": {why}")]
    BadSpec {
        /// The specification as given.
        spec: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A set of privileges.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PrivSet {
    privs: u128,
    /// Capabilities beyond the table (only ever set in `all`).
    extra: CapMask,
}

fn bit(p: PrivId) -> u128 {
    1u128 << p.0
}

fn table_bits() -> u128 {
    PrivId::all().fold(0, |m, p| m | bit(p))
}

impl PrivSet {
    /// The empty set.
    pub fn none() -> PrivSet {
        PrivSet::default()
    }

    /// Every privilege, and every capability up to `last_cap` (the running
    /// kernel's `/proc/sys/kernel/cap_last_cap`), also ones the table does not name.
    pub fn all(last_cap: u8) -> PrivSet {
        PrivSet {
            privs: table_bits(),
            extra: CapMask::upto(last_cap).minus(table_caps()),
        }
    }

    /// The basic set.
    pub fn basic() -> PrivSet {
        PrivSet::of(PrivId::all().filter(|p| p.info().basic))
    }

    /// The set of the given privileges.
    pub fn of(ids: impl IntoIterator<Item = PrivId>) -> PrivSet {
        PrivSet {
            privs: ids.into_iter().fold(0, |m, p| m | bit(p)),
            extra: CapMask::EMPTY,
        }
    }

    /// Reads a set expression. `all` (and `zone`: Linux has no zones, so the
    /// zone's set is all of them) includes capabilities newer than the
    /// table; any set narrower than `all` leaves them out, so that a kernel
    /// adding a capability never widens a configured set.
    pub fn parse(text: &str, last_cap: u8) -> Result<PrivSet, SetError> {
        let mut privs = 0u128;
        if text.trim().is_empty() {
            return Err(SetError::Empty(text.to_string()));
        }
        for raw in text.split(',') {
            let word = raw.trim();
            let (remove, word) = match word.strip_prefix('!').or_else(|| word.strip_prefix('-')) {
                Some(w) => (true, w.trim()),
                None => (false, word),
            };
            if word.is_empty() {
                return Err(SetError::Empty(text.to_string()));
            }
            let bits = match word.to_ascii_lowercase().as_str() {
                "all" | "zone" => table_bits(),
                "none" => 0,
                "basic" => PrivSet::basic().privs,
                _ => bit(names::lookup(word).ok_or_else(|| SetError::Unknown(word.to_string()))?),
            };
            if remove {
                privs &= !bits;
            } else {
                privs |= bits;
            }
        }
        let full = privs == table_bits();
        Ok(PrivSet {
            privs,
            extra: if full {
                PrivSet::all(last_cap).extra
            } else {
                CapMask::EMPTY
            },
        })
    }

    /// The privileges a capability mask amounts to: each capability-backed
    /// privilege whose capabilities are all in `caps`, plus capabilities the
    /// table does not name. Non-capability privileges are not included.
    pub fn from_caps(caps: CapMask) -> PrivSet {
        let privs = PrivId::all()
            .filter(|p| {
                let c = p.info().caps();
                !c.is_empty() && caps.contains(c)
            })
            .fold(0, |m, p| m | bit(p));
        PrivSet {
            privs,
            extra: caps.minus(table_caps()),
        }
    }

    /// The capabilities this set needs, limited to `last_cap`.
    pub fn caps(&self, last_cap: u8) -> CapMask {
        self.iter()
            .fold(self.extra, |m, p| m.union(p.info().caps()))
            .intersect(CapMask::upto(last_cap))
    }

    /// Capabilities beyond the table that the set holds.
    pub fn extra_caps(&self) -> CapMask {
        self.extra
    }

    /// Whether `p` is in the set.
    pub fn has(&self, p: PrivId) -> bool {
        self.privs & bit(p) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.privs == 0 && self.extra.is_empty()
    }

    /// Whether every privilege of `other` is in `self`.
    pub fn contains(&self, other: &PrivSet) -> bool {
        self.privs & other.privs == other.privs && self.extra.contains(other.extra)
    }

    /// Privileges in either set.
    #[must_use]
    pub fn union(&self, other: &PrivSet) -> PrivSet {
        PrivSet {
            privs: self.privs | other.privs,
            extra: self.extra.union(other.extra),
        }
    }

    /// Privileges in both sets.
    #[must_use]
    pub fn intersect(&self, other: &PrivSet) -> PrivSet {
        PrivSet {
            privs: self.privs & other.privs,
            extra: self.extra.intersect(other.extra),
        }
    }

    /// Privileges of `self` not in `other`.
    #[must_use]
    pub fn minus(&self, other: &PrivSet) -> PrivSet {
        PrivSet {
            privs: self.privs & !other.privs,
            extra: self.extra.minus(other.extra),
        }
    }

    /// Adds one privilege.
    pub fn add(&mut self, p: PrivId) {
        self.privs |= bit(p);
    }

    /// Removes one privilege.
    pub fn remove(&mut self, p: PrivId) {
        self.privs &= !bit(p);
    }

    /// The privileges of the set, in table order.
    pub fn iter(&self) -> impl Iterator<Item = PrivId> + '_ {
        PrivId::all().filter(move |p| self.has(*p))
    }

    /// Only the privileges whose backing matches `pred`.
    #[must_use]
    pub fn filter(&self, pred: impl Fn(&Backing) -> bool) -> PrivSet {
        let privs = self
            .iter()
            .filter(|p| pred(&p.info().backing))
            .fold(0, |m, p| m | bit(p));
        PrivSet {
            privs,
            extra: CapMask::EMPTY,
        }
    }

    /// Capability-backed privileges the set leaves out yet holds all the
    /// same, because members of the set need the same capabilities (Linux
    /// backs `file_dac_read` and `file_dac_search` both by
    /// CAP_DAC_READ_SEARCH: a set of capabilities holds both or neither).
    /// Each comes with the members that keep its capabilities.
    pub fn held_anyway(&self, last_cap: u8) -> Vec<HeldAnyway> {
        let caps = self.caps(last_cap);
        PrivId::all()
            .filter(|p| !self.has(*p))
            .filter_map(|p| {
                let need = p.info().caps().intersect(CapMask::upto(last_cap));
                if need.is_empty() || !caps.contains(need) {
                    return None;
                }
                let by = self
                    .iter()
                    .filter(|q| !q.info().caps().intersect(need).is_empty())
                    .collect();
                Some(HeldAnyway {
                    privilege: p,
                    caps: need,
                    by,
                })
            })
            .collect()
    }

    /// Whether this is the full table (`all`).
    pub fn is_all(&self) -> bool {
        self.privs == table_bits()
    }

    fn sorted_names(set: &PrivSet, negate: bool) -> Vec<String> {
        let mut v: Vec<String> = set
            .iter()
            .map(|p| {
                if negate {
                    format!("!{}", p.name())
                } else {
                    p.name().to_string()
                }
            })
            .collect();
        v.sort();
        if !negate {
            v.extend(set.extra.iter().map(crate::caps::cap_name));
        }
        v
    }

    /// Every member by name, sorted; `none` when empty (ppriv `-v`).
    pub fn to_literal(&self) -> String {
        if self.is_empty() {
            return "none".to_string();
        }
        PrivSet::sorted_names(self, false).join(",")
    }

    /// The shortest of: `all`, `all,!x...`, `basic,!x...,y...`, a literal list
    /// or `none` (ppriv's default output).
    pub fn to_short(&self) -> String {
        if self.is_empty() {
            return "none".to_string();
        }
        if self.is_all() {
            return "all".to_string();
        }
        let everything = PrivSet {
            privs: table_bits(),
            extra: CapMask::EMPTY,
        };
        let basic = PrivSet::basic();
        let mut from_all = vec!["all".to_string()];
        from_all.extend(PrivSet::sorted_names(&everything.minus(self), true));
        let mut from_basic = vec!["basic".to_string()];
        from_basic.extend(PrivSet::sorted_names(&basic.minus(self), true));
        from_basic.extend(PrivSet::sorted_names(&self.minus(&basic), false));
        let candidates = [from_all.join(","), from_basic.join(","), self.to_literal()];
        candidates
            .into_iter()
            .min_by_key(String::len)
            .unwrap_or_default()
    }
}

fn table_caps() -> CapMask {
    PRIVILEGES
        .iter()
        .fold(CapMask::EMPTY, |m, p| m.union(p.caps()))
}

impl fmt::Debug for PrivSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivSet({})", self.to_literal())
    }
}

impl fmt::Display for PrivSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_short())
    }
}

/// A privilege a set leaves out but holds anyway: see
/// [`PrivSet::held_anyway`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAnyway {
    /// The privilege left out.
    pub privilege: PrivId,
    /// Its capabilities, which the set holds.
    pub caps: CapMask,
    /// The members of the set that need (some of) them.
    pub by: Vec<PrivId>,
}

impl fmt::Display for HeldAnyway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by: Vec<&str> = self.by.iter().map(|p| p.name()).collect();
        let mut both = vec![self.privilege.name()];
        both.extend(&by);
        write!(
            f,
            "{} cannot be left out while {} stays: on Linux both are {}, which a set holds for all of them or for none (take out {} together, or neither)",
            self.privilege.name(),
            by.join(", "),
            self.caps,
            both.join(","),
        )
    }
}

/// The four sets of a process, as on Solaris.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrivSets {
    /// E: privileges in effect now.
    pub effective: PrivSet,
    /// I: privileges a program started by exec gets.
    pub inheritable: PrivSet,
    /// P: the most E may ever hold.
    pub permitted: PrivSet,
    /// L: the most the process and its descendants may ever hold.
    pub limit: PrivSet,
}

/// Names one of the four sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// E
    Effective,
    /// I
    Inheritable,
    /// P
    Permitted,
    /// L
    Limit,
}

impl Which {
    /// The four, in the order ppriv prints them (E, I, P, L).
    pub const ALL: [Which; 4] = [
        Which::Effective,
        Which::Inheritable,
        Which::Permitted,
        Which::Limit,
    ];

    /// The set's letter.
    pub fn letter(self) -> char {
        match self {
            Which::Effective => 'E',
            Which::Inheritable => 'I',
            Which::Permitted => 'P',
            Which::Limit => 'L',
        }
    }
}

impl PrivSets {
    /// The named set.
    pub fn get(&self, w: Which) -> &PrivSet {
        match w {
            Which::Effective => &self.effective,
            Which::Inheritable => &self.inheritable,
            Which::Permitted => &self.permitted,
            Which::Limit => &self.limit,
        }
    }

    /// The named set, to change.
    pub fn get_mut(&mut self, w: Which) -> &mut PrivSet {
        match w {
            Which::Effective => &mut self.effective,
            Which::Inheritable => &mut self.inheritable,
            Which::Permitted => &mut self.permitted,
            Which::Limit => &mut self.limit,
        }
    }
}

/// How a [`SetSpec`] changes its sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecOp {
    /// `+`: add.
    Add,
    /// `-`: remove.
    Remove,
    /// `=`: assign.
    Assign,
}

/// One `-s` specification of ppriv: `[AEILP][+-=]privs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSpec {
    /// The sets it changes (`A` or no letter: all four).
    pub sets: Vec<Which>,
    /// What it does to them.
    pub op: SpecOp,
    /// The privileges.
    pub privs: PrivSet,
}

impl SetSpec {
    /// Reads `[AEILP]*[+-=]privs` (letters case-insensitive).
    pub fn parse(spec: &str, last_cap: u8) -> Result<SetSpec, SetError> {
        let bad = |why| SetError::BadSpec {
            spec: spec.to_string(),
            why,
        };
        let at = spec
            .find(['+', '-', '='])
            .ok_or_else(|| bad("expected [AEILP][+-=]privileges"))?;
        let (letters, rest) = spec.split_at(at);
        let op = match rest.as_bytes().first() {
            Some(b'+') => SpecOp::Add,
            Some(b'-') => SpecOp::Remove,
            _ => SpecOp::Assign,
        };
        let mut sets = Vec::new();
        if letters.is_empty() || letters.to_ascii_uppercase().starts_with('A') {
            if letters.len() > 1 {
                return Err(bad("A stands for all sets and takes no other letter"));
            }
            sets.extend(Which::ALL);
        } else {
            for c in letters.chars() {
                let w = match c.to_ascii_uppercase() {
                    'E' => Which::Effective,
                    'I' => Which::Inheritable,
                    'P' => Which::Permitted,
                    'L' => Which::Limit,
                    _ => return Err(bad("set letters are A, E, I, L and P")),
                };
                if !sets.contains(&w) {
                    sets.push(w);
                }
            }
        }
        let privs = PrivSet::parse(&rest[1..], last_cap)?;
        Ok(SetSpec { sets, op, privs })
    }

    /// Applies the specification to `sets`.
    pub fn apply(&self, sets: &mut PrivSets) {
        for w in &self.sets {
            let s = sets.get_mut(*w);
            *s = match self.op {
                SpecOp::Add => s.union(&self.privs),
                SpecOp::Remove => s.minus(&self.privs),
                SpecOp::Assign => self.privs,
            };
        }
    }
}

#[cfg(test)]
#[path = "set_tests.rs"]
mod tests;
