//! The HTTP(S) client for the calls the CLI and the control plane make to other servers (a Jaeger
//! query service, another control plane, Alertmanager, `verify`'s endpoints): HTTPS verified
//! against the platform's trust store (`rustls-platform-verifier`: the OS roots, plus what an
//! operator added to them), or against a CA bundle given on the command line; one overall timeout
//! per call; HTTP error statuses returned to the caller to explain, never raised.

use std::path::Path;
use std::time::Duration;

use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// A CA bundle that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    #[error("{path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("{path}: not a PEM certificate bundle ({reason})")]
    Invalid { path: String, reason: String },
    #[error("{path}: no certificate in it (expected -----BEGIN CERTIFICATE-----)")]
    Empty { path: String },
}

/// Trust roots for HTTPS: the platform's, or only the certificates of a PEM bundle.
#[derive(Debug, Clone)]
pub struct Trust(RootCerts);

impl Default for Trust {
    fn default() -> Self {
        Self(RootCerts::PlatformVerifier)
    }
}

impl Trust {
    /// Only the CA certificates in the PEM file at `path` (a private CA in front of Jaeger).
    pub fn ca_bundle(path: &Path) -> Result<Self, CaBundleError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| CaBundleError::Unreadable { path: shown.clone(), source })?;
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(certificate)) => certificates.push(certificate),
                Ok(_) => {}
                Err(error) => return Err(CaBundleError::Invalid { path: shown, reason: error.to_string() }),
            }
        }
        if certificates.is_empty() {
            return Err(CaBundleError::Empty { path: shown });
        }
        Ok(Self(RootCerts::new_with_certs(&certificates)))
    }
}

/// An agent whose calls each take at most `timeout`, trusting `trust` for HTTPS.
pub fn agent(timeout: Duration, trust: &Trust) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .tls_config(TlsConfig::builder().root_certs(trust.0.clone()).build())
        .build()
        .into()
}
