//! What the test platform is configured with: quotas small enough to reach, an OIDC issuer
//! whose signing key the tests hold (made with `openssl`, no outside identity provider), and
//! a log capture so tests can check that no secret is ever logged.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use ops::harness::HarnessOptions;
use parking_lot::Mutex;
use serde_json::json;

pub const ISSUER: &str = "https://idp.berth.test";
pub const AUDIENCE: &str = "berth-tests";

/// Free plan quotas the tests reach on purpose.
pub fn free_quotas() -> domain::Quotas {
    domain::Quotas {
        databases: 2,
        storage_mb: 24,
        connection_limit: 5,
        database_users: 3,
        server_connections: 4,
        temp_file_limit_mb: 2,
    }
}

/// The plans the test platform runs with (the free plan's quotas above). Whatever renders
/// PgBouncer beside the platform (a reconciler a test drives) must use these too, or it
/// renders every pool of the host with other caps.
pub fn plans() -> domain::PlanQuotas {
    domain::PlanQuotas { free: free_quotas(), ..domain::PlanQuotas::default() }
}

/// Caps the tests reach on purpose. Sign-ups are counted per client address: tests that
/// sign up many anonymous accounts should do so from an address of their own
/// ([`crate::Api::from_source`]).
pub fn limits() -> control::limits::Limits {
    control::limits::Limits {
        api_keys_per_account: 12,
        manual_backups_per_day: 4,
        anonymous_signups_per_hour: 25,
        // Short enough for the timeout tests to be quick, long enough for a loaded CI machine.
        sql_timeout_secs: 10,
        migration_timeout_secs: 60,
        data_api_timeout_secs: 3,
        // The JWKS tests serve their keys from 127.0.0.1.
        jwks_private_networks: true,
        ..control::limits::Limits::default()
    }
}

pub struct Idp {
    pub private_pem: Vec<u8>,
    pub jwks_path: PathBuf,
}

pub fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| {
        let dir = ops::local::testing::scratch_dir("idp").expect("scratch dir");
        let key = dir.join("idp.pem");
        let ok = std::process::Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .output()
            .expect("openssl runs")
            .status
            .success();
        assert!(ok, "openssl genrsa failed");
        let out = std::process::Command::new("openssl")
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&key)
            .output()
            .expect("openssl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let hex_modulus = text.trim().strip_prefix("Modulus=").expect("a modulus");
        let n = hex::decode(hex_modulus).expect("hex modulus");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwks = json!({ "keys": [{ "kty": "RSA", "kid": "test-key", "use": "sig", "alg": "RS256",
            "n": b64.encode(n), "e": b64.encode([1u8, 0, 1]) }] });
        let jwks_path = dir.join("jwks.json");
        std::fs::write(&jwks_path, jwks.to_string()).expect("jwks written");
        Idp { private_pem: std::fs::read(&key).expect("key"), jwks_path }
    })
}

/// An id token as the identity provider would sign it; `claims` override the defaults.
pub fn id_token(subject: &str, email: &str, claims: serde_json::Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut body = json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "email": email,
        "email_verified": true, "iat": now, "exp": now + 300 });
    if let (Some(b), Some(o)) = (body.as_object_mut(), claims.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test-key".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&idp().private_pem).expect("rsa key");
    jsonwebtoken::encode(&header, &body, &key).expect("signs")
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Capture> = OnceLock::new();

/// Everything logged in this test binary so far.
pub fn captured_logs() -> String {
    LOGS.get().map(|c| String::from_utf8_lossy(&c.0.lock()).into_owned()).unwrap_or_default()
}

pub fn configure_once() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let capture = LOGS.get_or_init(Capture::default).clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || capture.clone())
            .with_ansi(false)
            .try_init();
        let mut opts = HarnessOptions::default();
        opts.api.plans = plans();
        opts.api.limits = limits();
        opts.api.oidc = Some(api::oidc::OidcConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_file: Some(idp().jwks_path.clone()),
            jwks_url: None,
            authorize_url: Some(format!("{ISSUER}/authorize")),
        });
        opts.mariadb = true;
        ops::harness::configure(opts);
    });
}
