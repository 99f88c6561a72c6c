//! The platform's own certificate authority and the certificates it issues to what tenants
//! connect to (rcgen for the certificates, rustls to serve them).
//!
//! - **The CA** is made once per data dir (`tls/ca.pem`, `tls/ca.key` — the key 0600, the
//!   platform's alone) and kept across restarts and upgrades, so clients that trust it keep
//!   trusting the platform. Its certificate is published at `GET /api/v1/ca.pem` and by
//!   `berth ca`. ECDSA P-256, valid for ten years.
//! - **A serving certificate** (today: the pooler's, served by its guard) is issued at every
//!   start for the names clients use, valid for [`SERVING_VALIDITY`], and renewed by
//!   [`keep_fresh`] once less than [`RENEW_BEFORE`] is left. A renewal swaps the certificate in
//!   [`ServingCert`]: handshakes from then on get the new one, sessions already open go on —
//!   no restart, no dropped client.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use crate::local::files;

/// How long a serving certificate is valid.
pub const SERVING_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);
/// A serving certificate with less than this left is renewed.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often [`keep_fresh`] looks at the time left.
pub const LOOK_EVERY: Duration = Duration::from_secs(3600);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const CA_NAME: &str = "Berth platform CA";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";

/// The platform's certificate authority.
pub struct Ca {
    /// The CA certificate as published (what clients trust).
    pem: String,
    key: KeyPair,
    /// The CA as an issuer: the stored key under the same name (certificates it signs chain
    /// to the stored certificate: same subject, same key, same key identifier).
    issuer: rcgen::Certificate,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// The CA's certificate parameters. Its name carries a digest of its public key, so that
/// two deployments' CAs never share a name (a client trusting both would otherwise try one's
/// key on the other's certificates) and the name is the same each time the key is loaded.
fn ca_params(key: &KeyPair) -> CertificateParams {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(key.public_key_der()));
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{CA_NAME} {}", &digest[..16]));
    dn.push(DnType::OrganizationName, "Berth");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Ca {
    /// The CA kept in `dir` (`ca.pem`, `ca.key`, the platform process's own), made there
    /// first if there is none.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Ca> {
        let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
        if cert_path.exists() && key_path.exists() {
            let pem =
                std::fs::read_to_string(&cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
            let key_pem =
                std::fs::read_to_string(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
            let key = KeyPair::from_pem(&key_pem).context("the CA key")?;
            let issuer = ca_params(&key).self_signed(&key).context("the CA as issuer")?;
            return Ok(Ca { pem, key, issuer });
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
        }
        .with_context(|| format!("creating {}", dir.display()))?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("a CA key")?;
        let mut params = ca_params(&key);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key).context("the CA certificate")?;
        // The key first: a certificate without its key is never left behind.
        files::write_private(&key_path, &key.serialize_pem(), None)?;
        files::write_private(&cert_path, &cert.pem(), None)?;
        Ok(Ca { pem: cert.pem(), key, issuer: cert })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A serving certificate for `names` (DNS names or IP addresses), valid from an hour
    /// before `now` (clocks drift) for `validity`.
    pub fn issue(&self, names: &[String], now: OffsetDateTime, validity: Duration) -> anyhow::Result<Issued> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("a serving key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names.first().map_or("berth", String::as_str));
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()
            .context("a certificate name")?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + validity;
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.signed_by(&key, &self.issuer, &self.key).context("signing a serving certificate")?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            not_after: now + validity,
        })
    }
}

/// A certificate the CA issued, with its key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    pub not_after: OffsetDateTime,
}

impl Issued {
    fn certified_key(&self) -> anyhow::Result<CertifiedKey> {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).context("a signing key")?;
        Ok(CertifiedKey::new(vec![self.cert_der.clone().into()], signing))
    }
}

/// The certificate a TLS listener serves now, swapped in place on renewal.
#[derive(Debug)]
pub struct ServingCert {
    names: Vec<String>,
    current: RwLock<(Arc<CertifiedKey>, OffsetDateTime)>,
}

impl ServingCert {
    /// Issues the first certificate for `names`.
    pub fn issue(ca: &Ca, names: Vec<String>) -> anyhow::Result<Arc<ServingCert>> {
        let issued = ca.issue(&names, OffsetDateTime::now_utc(), SERVING_VALIDITY)?;
        let current = RwLock::new((Arc::new(issued.certified_key()?), issued.not_after));
        Ok(Arc::new(ServingCert { names, current }))
    }

    /// When the certificate served now expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.current.read().expect("serving certificate lock").1
    }

    /// The names it is issued for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Serves `issued` from the next handshake on.
    pub fn swap(&self, issued: &Issued) -> anyhow::Result<()> {
        let key = Arc::new(issued.certified_key()?);
        *self.current.write().expect("serving certificate lock") = (key, issued.not_after);
        Ok(())
    }

    /// Renews the certificate when less than `renew_before` is left at `now`; whether it did.
    pub fn renew_if_due(&self, ca: &Ca, now: OffsetDateTime, renew_before: Duration) -> anyhow::Result<bool> {
        if self.not_after() - now > renew_before {
            return Ok(false);
        }
        self.swap(&ca.issue(&self.names, now, SERVING_VALIDITY)?)?;
        Ok(true)
    }

    /// A rustls server configuration that serves whatever certificate this holds.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls's default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Arc::new(config)
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("serving certificate lock").0.clone())
    }
}

/// Where the CA of the data dir `dir` lives.
pub fn ca_dir(dir: &Path) -> PathBuf {
    dir.join("tls")
}

/// Renews `serving` before it expires, looking every `every`, for ever; a renewal that
/// fails is a `tls_certificate` incident (an operator must look before clients are turned
/// away), resolved by the next renewal that works. The time left is the
/// `berth_tls_certificate_expires_in_seconds` gauge.
pub async fn keep_fresh(serving: Arc<ServingCert>, ca: Arc<Ca>, store: eventstore::Store, every: Duration) {
    loop {
        let now = OffsetDateTime::now_utc();
        match serving.renew_if_due(&ca, now, RENEW_BEFORE) {
            Ok(renewed) => {
                if renewed {
                    tracing::info!(not_after = %serving.not_after(), "renewed the pooler's TLS certificate");
                }
                incident(&store, TLS_RESOURCE, None).await;
            }
            Err(e) => {
                let summary = format!(
                    "the connection pooler's TLS certificate could not be renewed ({e:#}); it expires at {}",
                    serving.not_after()
                );
                incident(&store, TLS_RESOURCE, Some(&summary)).await;
            }
        }
        let left = (serving.not_after() - OffsetDateTime::now_utc()).whole_seconds();
        metrics::gauge!("berth_tls_certificate_expires_in_seconds", "listener" => "pooler").set(left as f64);
        tokio::time::sleep(every).await;
    }
}

pub const TLS_INCIDENT: &str = eventstore::incidents::kinds::TLS_CERTIFICATE;

/// Opens (or bumps) the critical `tls_certificate` incident on `resource` with `failure`,
/// or resolves it when `failure` is `None`. Not recorded now is tried again next round.
pub async fn incident(store: &eventstore::Store, resource: &str, failure: Option<&str>) {
    let done = match failure {
        None => store.resolve_incident(TLS_INCIDENT, resource).await.map(drop),
        Some(summary) => {
            let report = eventstore::incidents::IncidentReport {
                kind: TLS_INCIDENT,
                severity: "critical",
                resource_type: "process",
                resource_id: resource,
                summary,
            };
            store.report_incident(&report).await.map(drop)
        }
    };
    if let Err(e) = done {
        tracing::warn!(error = %e, resource, "recording the TLS certificate incident");
    }
}

/// A TLS client configuration that trusts only the CA certificate `ca_pem`: how the
/// platform's own clients verify what the CA issued.
pub fn client_trusting(ca_pem: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.context("a PEM certificate")?).context("a root certificate")?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
const TLS_RESOURCE: &str = "tenant-host-pgbouncer";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_kept_and_what_it_issues_chains_to_the_kept_certificate() {
        let dir = tempfile::tempdir().expect("dir");
        let first = Ca::load_or_create(dir.path()).expect("a CA");
        let again = Ca::load_or_create(dir.path()).expect("the same CA");
        assert_eq!(first.pem(), again.pem(), "made once, then kept");
        let issued =
            again.issue(&["127.0.0.1".into(), "localhost".into()], OffsetDateTime::now_utc(), SERVING_VALIDITY);
        let issued = issued.expect("issued");
        // Verified as a client does: the kept CA as the only root.
        let mut roots = rustls::RootCertStore::empty();
        let ca_der = rustls::pki_types::CertificateDer::from(pem_der(first.pem()));
        roots.add(ca_der).expect("a root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("a verifier");
        let end = rustls::pki_types::CertificateDer::from(issued.cert_der.clone());
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
        use rustls::client::danger::ServerCertVerifier;
        let now = rustls::pki_types::UnixTime::now();
        verifier.verify_server_cert(&end, &[], &name, &[], now).expect("chains to the kept CA");
        let other = rustls::pki_types::ServerName::try_from("db.example.com").expect("a name");
        assert!(verifier.verify_server_cert(&end, &[], &other, &[], now).is_err(), "only for its names");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CA_KEY)).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the CA key is private");
    }

    #[test]
    fn a_certificate_is_renewed_only_within_the_window() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = Ca::load_or_create(dir.path()).expect("a CA");
        let serving = ServingCert::issue(&ca, vec!["127.0.0.1".into()]).expect("issued");
        let first = serving.not_after();
        let now = OffsetDateTime::now_utc();
        assert!(!serving.renew_if_due(&ca, now, RENEW_BEFORE).expect("checked"));
        assert_eq!(serving.not_after(), first);
        let late = first - RENEW_BEFORE + Duration::from_secs(60);
        assert!(serving.renew_if_due(&ca, late, RENEW_BEFORE).expect("renewed"));
        assert!(serving.not_after() > first, "a later expiry");
    }

    fn pem_der(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
    }
}
