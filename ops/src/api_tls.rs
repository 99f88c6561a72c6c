//! The API's own TLS: a certificate chain and key from files the operator names
//! (`--tls-cert`/`--tls-key`, `tls_cert`/`tls_key` in the config, `BERTH_TLS_CERT`/
//! `BERTH_TLS_KEY`), typically renewed by the operator's ACME client. The files are read at
//! start (bad files stop the start with what is wrong) and looked at again every
//! [`LOOK_EVERY`]: a replaced pair is served from the next handshake on, with no restart and
//! no dropped connection. A replaced pair that cannot be read keeps the previous certificate
//! in service and opens a `tls_certificate` incident on the API, resolved by the next good
//! pair.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub const LOOK_EVERY: Duration = Duration::from_secs(30);
const RESOURCE: &str = "api";

type Stamp = Vec<(Option<SystemTime>, u64)>;

fn stamp(paths: &[&Path]) -> Stamp {
    paths.iter().map(|p| std::fs::metadata(p).map(|m| (m.modified().ok(), m.len())).unwrap_or((None, 0))).collect()
}

/// The certificate the API serves, reloaded from its files when they change.
#[derive(Debug)]
pub struct FileCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

fn read(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("{} is not a PEM private key", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).context("an unsupported private key")?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().context("the certificate and the key do not belong together")?;
    Ok(certified)
}

impl FileCert {
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<FileCert>> {
        let at = stamp(&[cert, key]);
        let certified = read(cert, key)?;
        Ok(Arc::new(FileCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new((Arc::new(certified), at)),
        }))
    }

    /// Reads the files again if they changed since the last read; whether it did.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let at = stamp(&[&self.cert, &self.key]);
        if self.current.read().expect("certificate lock").1 == at {
            return Ok(false);
        }
        let certified = read(&self.cert, &self.key)?;
        *self.current.write().expect("certificate lock") = (Arc::new(certified), at);
        Ok(true)
    }

    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls's default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for FileCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").0.clone())
    }
}

/// Reloads `cert` when its files change, for ever (see the module's documentation).
pub async fn watch(cert: Arc<FileCert>, store: eventstore::Store, every: Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        match cert.reload_if_changed() {
            Ok(changed) => {
                if changed {
                    tracing::info!(file = %cert.cert.display(), "serving the API's renewed TLS certificate");
                }
                if changed || failing {
                    failing = false;
                    crate::tls::incident(&store, RESOURCE, None).await;
                }
            }
            Err(e) => {
                failing = true;
                let summary = format!(
                    "the API's replaced TLS certificate cannot be used ({e:#}); the previous one is still served"
                );
                crate::tls::incident(&store, RESOURCE, Some(&summary)).await;
            }
        }
    }
}
