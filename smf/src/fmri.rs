//! Fault Managed Resource Identifiers: `svc:/system/xvm/store:default`.

use std::fmt;

/// A service or instance FMRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fmri {
    /// The service name, `system/xvm/store`.
    pub service: String,
    /// The instance, `default`; `None` names the service itself.
    pub instance: Option<String>,
}

/// What is wrong with an FMRI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad FMRI \"{text}\": {why}")]
pub struct FmriError {
    /// The text given.
    pub text: String,
    /// Why it was refused.
    pub why: &'static str,
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ','))
        })
}

/// Whether `s` is a service name as written: `/`-separated components,
/// none empty (so no leading or trailing `/`), each a letter followed by
/// letters, digits, `-`, `_`, `.` or `,`.
pub fn is_service_name(s: &str) -> bool {
    name_ok(s)
}

/// Whether `s` is an instance name as written: one such component.
pub fn is_instance_name(s: &str) -> bool {
    name_ok(s) && !s.contains('/')
}

impl Fmri {
    /// Parses `svc:/svc/name:inst`, `svc:/svc/name`, `svc/name:inst` or
    /// `svc/name`, as svcadm accepts them.
    pub fn parse(text: &str) -> Result<Fmri, FmriError> {
        let err = |why| FmriError {
            text: text.to_string(),
            why,
        };
        let rest = text
            .strip_prefix("svc:/")
            .or_else(|| text.strip_prefix("svc:"))
            .unwrap_or(text);
        let rest = rest.trim_start_matches('/');
        let (service, instance) = match rest.rsplit_once(':') {
            Some((s, i)) => (s, Some(i)),
            None => (rest, None),
        };
        if !name_ok(service) {
            return Err(err(
                "the service name must be /-separated words of letters, digits, - _ . ,",
            ));
        }
        if let Some(i) = instance
            && !is_instance_name(i)
        {
            return Err(err(
                "the instance name must be one word of letters, digits, - _ . ,",
            ));
        }
        Ok(Fmri {
            service: service.to_string(),
            instance: instance.map(str::to_string),
        })
    }

    /// The instance `inst` of `service`.
    pub fn instance(service: &str, inst: &str) -> Fmri {
        Fmri {
            service: service.to_string(),
            instance: Some(inst.to_string()),
        }
    }

    /// The service this names (the instance dropped).
    #[must_use]
    pub fn service_only(&self) -> Fmri {
        Fmri {
            service: self.service.clone(),
            instance: None,
        }
    }

    /// The last part of the service name, with the instance unless it is
    /// `default`: `store`, `store-test` (used for unit and file names).
    pub fn short(&self) -> String {
        let base = self.service.rsplit('/').next().unwrap_or(&self.service);
        match self.instance.as_deref() {
            None | Some("default") => base.to_string(),
            Some(i) => format!("{base}-{i}"),
        }
    }
}

impl fmt::Display for Fmri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.instance {
            Some(i) => write!(f, "svc:/{}:{i}", self.service),
            None => write!(f, "svc:/{}", self.service),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        let want = Fmri::instance("system/xvm/store", "default");
        for t in [
            "svc:/system/xvm/store:default",
            "svc:system/xvm/store:default",
            "system/xvm/store:default",
        ] {
            assert_eq!(Fmri::parse(t), Ok(want.clone()), "{t}");
        }
        assert_eq!(
            Fmri::parse("svc:/system/xvm/store")
                .expect("service")
                .instance,
            None
        );
        assert_eq!(want.to_string(), "svc:/system/xvm/store:default");
        assert_eq!(want.short(), "store");
        assert_eq!(Fmri::instance("a/b", "two").short(), "b-two");
        for bad in [
            "",
            "svc:/",
            "svc:/a//b",
            "svc:/a:b/c",
            "svc:/9a",
            "svc:/a b",
        ] {
            assert!(Fmri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked_as_written() {
        assert!(is_service_name("system/xvm/store"));
        assert!(is_instance_name("default"));
        for bad in [
            "",
            "/system/xvm/store",
            "system/xvm/",
            "system//xvm",
            "/",
            "9a",
        ] {
            assert!(!is_service_name(bad), "{bad}");
        }
        for bad in ["", "a/b", "/a", "a:b", "a b"] {
            assert!(!is_instance_name(bad), "{bad}");
        }
    }
}
