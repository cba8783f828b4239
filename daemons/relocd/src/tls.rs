//! The hosts' TLS identities: this host's certificate and key, the CA
//! the administrator configures, and the names a peer's certificate must
//! carry (xend's old `xend-relocation-hosts-allow`, applied to the
//! certificate instead of a reverse lookup). rustls does all of TLS (1.3
//! only, the ring provider); this module only loads the files and checks
//! the names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::NameRefused;

/// Names a peer may be allowed by, at most.
pub const MAX_ALLOWED: usize = 256;

/// Why the identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {why}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the set-up (a key that does not match, ...).
    #[error("{0}")]
    Config(String),
    /// An allowed name that is no DNS name or IP address.
    #[error("allowed host {0:?}: not a DNS name or an IP address")]
    Name(String),
    /// No allowed names: every peer would be refused.
    #[error("no allowed hosts (--allow): name the peers' certificate names")]
    NoneAllowed,
    /// Too many allowed names.
    #[error("{0} allowed hosts: at most {MAX_ALLOWED}")]
    TooMany(usize),
}

/// This host's TLS set-up, loaded once at start (before privileges are
/// dropped: the key may be root's alone).
#[derive(Debug, Clone)]
pub struct Identity {
    /// As the destination: client certificates from the CA required.
    pub server: Arc<ServerConfig>,
    /// As the source: the destination's certificate from the CA, for
    /// the name dialled.
    pub client: Arc<ClientConfig>,
    /// The names a peer's certificate must be valid for (one of them).
    pub allow: Vec<ServerName<'static>>,
}

fn file_err(path: &Path, why: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let all = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if all.is_empty() {
        return Err(file_err(path, "no certificate in it"));
    }
    Ok(all)
}

/// A name as the allow list and `xm migrate` give it.
pub fn server_name(name: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(name.to_string()).ok()
}

/// Loads the certificate chain `cert`, its key `key`, the CA `ca`, and
/// the allowed names.
pub fn load(cert: &Path, key: &Path, ca: &Path, allow: &[String]) -> Result<Identity, TlsError> {
    if allow.is_empty() {
        return Err(TlsError::NoneAllowed);
    }
    if allow.len() > MAX_ALLOWED {
        return Err(TlsError::TooMany(allow.len()));
    }
    let allow = allow
        .iter()
        .map(|n| server_name(n).ok_or_else(|| TlsError::Name(n.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let mut roots = RootCertStore::empty();
    for c in certs(ca)? {
        roots.add(c).map_err(|e| file_err(ca, e))?;
    }
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = |e: rustls::Error| TlsError::Config(e.to_string());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(cfg)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(cfg)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(cfg)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(cfg)?;
    Ok(Identity {
        server: Arc::new(server),
        client: Arc::new(client),
        allow,
    })
}

/// The allowed name the peer's certificate (already verified against
/// the CA by rustls) is valid for; otherwise why it is refused.
pub fn allowed(
    peer: Option<&[CertificateDer<'_>]>,
    allow: &[ServerName<'_>],
) -> Result<String, NameRefused> {
    let cert = peer
        .and_then(<[_]>::first)
        .ok_or(NameRefused::NoCertificate)?;
    let ee = webpki::EndEntityCert::try_from(cert).map_err(NameRefused::Unreadable)?;
    allow
        .iter()
        .find(|n| ee.verify_is_valid_for_subject_name(n).is_ok())
        .map(|n| n.to_str().into_owned())
        .ok_or_else(|| {
            let names: Vec<String> = allow.iter().map(|n| n.to_str().into_owned()).collect();
            NameRefused::NotAllowed(names.join(", "))
        })
}
