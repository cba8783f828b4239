//! The one place that decides: [`require_any`]. Every decision emits
//! exactly one `tracing` event with target `xvm::audit`.

use std::fmt;

use crate::names::PrivId;
use crate::peer::Ucred;
use crate::policy::{Policy, Why};

/// A peer was found to hold a privilege.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The privilege that let it in (the first of those asked that it holds).
    pub privilege: PrivId,
    /// Why it holds it.
    pub why: Why,
}

/// A peer holds none of the privileges asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// The privileges asked for.
    pub asked: Vec<PrivId>,
}

impl Denied {
    /// The message for the client: names what is missing.
    pub fn message(&self) -> String {
        let names: Vec<&str> = self.asked.iter().map(|p| p.name()).collect();
        format!("permission denied: {} required", names.join(" or "))
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Denied {}

/// One audit event, with the same fields for a grant and a refusal:
/// level, peer, endpoint, asked, held, outcome, then the message.
macro_rules! audit {
    ($level:expr, $peer:expr, $endpoint:expr, $asked:expr, $held:expr, $outcome:literal, $($msg:tt)+) => {
        tracing::event!(
            target: "xvm::audit",
            $level,
            pid = $peer.pid,
            uid = $peer.euid,
            gid = $peer.egid,
            endpoint = $endpoint,
            asked = %$asked,
            held = %$held,
            outcome = $outcome,
            $($msg)+
        )
    };
}

/// Lets `peer` in if it holds any of `asked` under `policy`; `endpoint`
/// names the socket or operation for the audit record.
pub fn require_any(
    policy: &Policy,
    peer: &Ucred,
    endpoint: &str,
    asked: &[PrivId],
) -> Result<Grant, Denied> {
    let held: Vec<(PrivId, Why)> = asked
        .iter()
        .filter_map(|p| policy.holds(peer, *p).map(|w| (*p, w)))
        .collect();
    // The texts below are built only when a subscriber listens.
    let asked_s = Lazy(|| names(asked.iter()));
    let held_s = Lazy(|| {
        held.iter()
            .map(|(p, w)| format!("{}({w})", p.name()))
            .collect::<Vec<_>>()
            .join(",")
    });
    match held.first().cloned() {
        Some((privilege, why)) => {
            audit!(
                tracing::Level::INFO,
                peer,
                endpoint,
                asked_s,
                held_s,
                "granted",
                "granted {} to uid {} by {why}",
                privilege.name(),
                peer.euid
            );
            Ok(Grant { privilege, why })
        }
        None => {
            let caps_note = match peer.caps() {
                crate::peer::CapTrust::Refused(why)
                    if asked
                        .iter()
                        .any(|p| policy.grants(*p).is_some_and(|g| !g.caps.is_empty())) =>
                {
                    format!("; capabilities not counted: {why}")
                }
                _ => String::new(),
            };
            let denied = Denied {
                asked: asked.to_vec(),
            };
            audit!(
                tracing::Level::WARN,
                peer,
                endpoint,
                asked_s,
                "none",
                "denied",
                "{} for uid {}{caps_note}",
                denied.message(),
                peer.euid
            );
            Err(denied)
        }
    }
}

/// Formats on demand.
struct Lazy<F>(F);

impl<F: Fn() -> String> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&(self.0)())
    }
}

fn names<'a>(it: impl Iterator<Item = &'a PrivId>) -> String {
    it.map(|p| p.name()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{virt_manage, xvm_control};

    #[test]
    fn denial_names_what_is_missing() {
        let p = Policy::Session(1);
        let peer = Ucred::from_uid(2, 2, vec![], "test");
        let e = require_any(&p, &peer, "test", &[virt_manage()]).expect_err("denied");
        assert_eq!(e.message(), "permission denied: virt_manage required");
        let e =
            require_any(&p, &peer, "test", &[xvm_control(), virt_manage()]).expect_err("denied");
        assert_eq!(
            e.to_string(),
            "permission denied: xvm_control or virt_manage required"
        );
        let owner = Ucred::from_uid(1, 1, vec![], "test");
        let g = require_any(&p, &owner, "test", &[xvm_control(), virt_manage()]).expect("granted");
        assert_eq!(
            g,
            Grant {
                privilege: xvm_control(),
                why: Why::SameUser
            }
        );
    }
}
