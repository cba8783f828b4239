//! The requests on domains: GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED,
//! INTRODUCE, RELEASE, RESUME, SET_TARGET.
//!
//! # Format
//! Domids, frame numbers and ports are decimal, each NUL-terminated:
//! INTRODUCE is `domid\0mfn\0port\0` (later strings ignored, as Xen
//! does), SET_TARGET `domid\0target\0`, the others `domid\0`.

use super::{ParseError, Payload, Reply, number, ok};
use crate::daemon::{Change, Daemon, DomainInfo, Outgoing};
use crate::path::{INTRODUCE_DOMAIN, RELEASE_DOMAIN, domain_path};
use crate::wire::XsError;

/// The one domid of `domid\0`; `nonzero` refuses dom0.
fn one_domid(p: &Payload<'_>, nonzero: bool) -> Result<u32, ParseError> {
    let [d] = p.strings()?;
    let domid = number(d, "domid")?;
    if nonzero && domid == 0 {
        return Err(ParseError::Zero("domid"));
    }
    Ok(domid)
}

/// GET_DOMAIN_PATH: `/local/domain/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetDomainPath {
    /// The domain.
    pub domid: u32,
}

impl GetDomainPath {
    /// From `domid\0`.
    pub fn parse(p: &Payload<'_>) -> Result<GetDomainPath, ParseError> {
        one_domid(p, false).map(|domid| GetDomainPath { domid })
    }

    /// The path, NUL-terminated.
    pub fn apply(self) -> Vec<u8> {
        let mut v = domain_path(self.domid).into_bytes();
        v.push(0);
        v
    }
}

/// IS_DOMAIN_INTRODUCED: `T\0` or `F\0` (dom0 always is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsDomainIntroduced {
    /// The domain.
    pub domid: u32,
}

impl IsDomainIntroduced {
    /// From `domid\0`.
    pub fn parse(p: &Payload<'_>) -> Result<IsDomainIntroduced, ParseError> {
        one_domid(p, false).map(|domid| IsDomainIntroduced { domid })
    }

    /// `T\0` or `F\0`.
    pub fn apply(self, d: &Daemon) -> Vec<u8> {
        if self.domid == 0 || d.domains.contains_key(&self.domid) {
            b"T\0".to_vec()
        } else {
            b"F\0".to_vec()
        }
    }
}

/// INTRODUCE: a domain's ring and event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Introduce {
    /// The domain (not 0).
    pub domid: u32,
    /// Its ring page.
    pub mfn: u64,
    /// Its event channel (not 0).
    pub port: u32,
}

impl Introduce {
    /// From `domid\0mfn\0port\0`.
    pub fn parse(p: &Payload<'_>) -> Result<Introduce, ParseError> {
        let s = p.at_least(3, "at least 3")?;
        let r = Introduce {
            domid: number(s[0], "domid")?,
            mfn: number(s[1], "mfn")?,
            port: number(s[2], "port")?,
        };
        if r.domid == 0 {
            return Err(ParseError::Zero("domid"));
        }
        if r.port == 0 {
            return Err(ParseError::Zero("port"));
        }
        Ok(r)
    }

    /// `OK\0`. As Xen: introducing a known domain again only rebinds its
    /// event channel, and fires no `@introduceDomain` watch.
    pub fn apply(self, d: &mut Daemon, out: &mut Vec<Outgoing>) -> Vec<u8> {
        if let Some(known) = d.domains.get_mut(&self.domid) {
            known.port = self.port;
            d.pending.push(Change::Introduce(self.domid, known.clone()));
        } else {
            let info = DomainInfo {
                mfn: self.mfn,
                port: self.port,
                target: None,
            };
            d.domains.insert(self.domid, info.clone());
            d.pending.push(Change::Introduce(self.domid, info));
            d.special_event(INTRODUCE_DOMAIN, out);
        }
        ok()
    }
}

/// RELEASE: forgets a domain, firing `@releaseDomain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The domain (not 0).
    pub domid: u32,
}

impl Release {
    /// From `domid\0`.
    pub fn parse(p: &Payload<'_>) -> Result<Release, ParseError> {
        one_domid(p, true).map(|domid| Release { domid })
    }

    /// `OK\0`; ENOENT for a domain not introduced.
    pub fn apply(self, d: &mut Daemon, out: &mut Vec<Outgoing>) -> Reply {
        d.domains.remove(&self.domid).ok_or(XsError::Enoent)?;
        d.pending.push(Change::Release(self.domid));
        d.special_event(RELEASE_DOMAIN, out);
        Ok(ok())
    }
}

/// RESUME: accepted for an introduced domain (nothing to resume here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The domain (not 0).
    pub domid: u32,
}

impl Resume {
    /// From `domid\0`.
    pub fn parse(p: &Payload<'_>) -> Result<Resume, ParseError> {
        one_domid(p, true).map(|domid| Resume { domid })
    }

    /// `OK\0`; ENOENT for a domain not introduced.
    pub fn apply(self, d: &Daemon) -> Reply {
        d.domains.get(&self.domid).ok_or(XsError::Enoent)?;
        Ok(ok())
    }
}

/// SET_TARGET: a domain may act for another (a stub domain for its guest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetTarget {
    /// The domain that acts.
    pub domid: u32,
    /// The domain it acts for.
    pub target: u32,
}

impl SetTarget {
    /// From `domid\0target\0`.
    pub fn parse(p: &Payload<'_>) -> Result<SetTarget, ParseError> {
        let [d, t] = p.strings()?;
        Ok(SetTarget {
            domid: number(d, "domid")?,
            target: number(t, "target")?,
        })
    }

    /// `OK\0`; ENOENT unless both are introduced.
    pub fn apply(self, d: &mut Daemon) -> Reply {
        if !d.domains.contains_key(&self.target) {
            return Err(XsError::Enoent);
        }
        d.domains
            .get_mut(&self.domid)
            .ok_or(XsError::Enoent)?
            .target = Some(self.target);
        d.pending.push(Change::SetTarget(self.domid, self.target));
        Ok(ok())
    }
}
