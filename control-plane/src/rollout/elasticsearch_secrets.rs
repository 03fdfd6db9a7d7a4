//! The secrets Elasticsearch runs with security on: the `elastic` user's password (which Jaeger
//! and the retention jobs present) and the transport-layer TLS every node presents to the others
//! (a CA of its own and one node certificate it signs). Elasticsearch 8 refuses to form a
//! multi-node cluster with security on and transport TLS off (its production bootstrap check), so
//! both are generated here, at `render`/`deploy` time, as Elastic's Helm chart and ECK generate
//! theirs. The Secrets are create-only: `deploy` keeps the ones a cluster already has, because
//! Elasticsearch stores the password in its security index on first start and a new CA would split
//! a running cluster.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The Secret with the `elastic` user's credentials (keys `username`, `password`).
pub const CREDENTIALS_SECRET: &str = "elasticsearch-credentials";
/// The Secret with the transport TLS (keys `ca.crt`, `tls.crt`, `tls.key`).
pub const TRANSPORT_TLS_SECRET: &str = "elasticsearch-transport-tls";
/// The built-in superuser whose password the image bootstraps from `ELASTIC_PASSWORD`.
pub const USERNAME: &str = "elastic";
/// The label that makes `deploy` create an object only when it does not exist yet (and
/// `uninstall` keep it unless purging); `kubectl apply -l 'tracing.acgs.io/create-only!=true'`
/// leaves such objects out of an upgrade done by hand.
pub const CREATE_ONLY_LABEL: &str = "tracing.acgs.io/create-only";
/// How long the generated certificates are valid.
const VALIDITY_DAYS: i64 = 10 * 365;
const PASSWORD_LENGTH: usize = 32;

/// Generated secret material for one Elasticsearch cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct ElasticsearchSecrets {
    pub password: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ElasticsearchSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchSecrets").finish_non_exhaustive()
    }
}

/// The certificates could not be made (a bug or an unusable random source, not bad input).
#[derive(Debug, thiserror::Error)]
#[error("generating Elasticsearch's transport certificates: {0}")]
pub struct GenerateError(#[from] rcgen::Error);

/// The names a node's certificate carries: the cluster's Services and every pod behind the
/// headless one, in `namespace` (hostname checks are off on the transport, `verification_mode:
/// certificate`, but the names let an operator turn them on).
pub fn node_names(namespace: &str) -> Vec<String> {
    let mut names = Vec::new();
    for service in ["elasticsearch", "elasticsearch-headless"] {
        names.push(service.to_owned());
        names.push(format!("{service}.{namespace}.svc"));
        names.push(format!("{service}.{namespace}.svc.cluster.local"));
    }
    names.push(format!("*.elasticsearch-headless.{namespace}.svc"));
    names.push(format!("*.elasticsearch-headless.{namespace}.svc.cluster.local"));
    names
}

fn password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LENGTH)
}

fn common_name(name: &str) -> DistinguishedName {
    let mut distinguished = DistinguishedName::new();
    distinguished.push(DnType::OrganizationName, "acgs-tracing");
    distinguished.push(DnType::CommonName, name);
    distinguished
}

/// A random password (32 letters and digits) and a fresh CA with one node certificate (ECDSA
/// P-256, PKCS#8 PEM, valid ten years) for the cluster in `namespace`.
pub fn generate(namespace: &str) -> Result<ElasticsearchSecrets, GenerateError> {
    let now = OffsetDateTime::now_utc();
    let valid = |params: &mut CertificateParams| {
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(VALIDITY_DAYS);
    };

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = common_name("acgs-tracing Elasticsearch transport CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    valid(&mut ca);
    let ca_cert = ca.self_signed(&ca_key)?;

    let node_key = KeyPair::generate()?;
    let mut node = CertificateParams::new(node_names(namespace))?;
    node.distinguished_name = common_name(&format!("elasticsearch.{namespace}"));
    node.is_ca = IsCa::ExplicitNoCa;
    node.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    // Every node is server and client of the others on the transport.
    node.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    valid(&mut node);
    let issuer = Issuer::new(ca, ca_key);
    let node_cert = node.signed_by(&node_key, &issuer)?;

    Ok(ElasticsearchSecrets {
        password: password(),
        ca_pem: ca_cert.pem(),
        cert_pem: node_cert.pem(),
        key_pem: node_key.serialize_pem(),
    })
}
