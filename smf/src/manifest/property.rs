//! Property types, their values, and `pg/prop` names.

use crate::fmri::Fmri;

/// A property value or name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// The value is not of the property's type.
    #[error("\"{value}\" is not a {} value", .ty.name())]
    NotOfType {
        /// The value.
        value: String,
        /// The type.
        ty: PropType,
    },
    /// The name is not `pg/prop`.
    #[error("\"{0}\" is not pg/prop")]
    NotPgProp(String),
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
    pub fn check(self, v: &str) -> Result<(), PropertyError> {
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
            Err(PropertyError::NotOfType {
                value: v.to_string(),
                ty: self,
            })
        }
    }
}

/// Splits `pg/prop`.
pub fn split_prop(s: &str) -> Result<(&str, &str), PropertyError> {
    match s.split_once('/') {
        Some((g, p)) if !g.is_empty() && !p.is_empty() && !p.contains('/') => Ok((g, p)),
        _ => Err(PropertyError::NotPgProp(s.to_string())),
    }
}
