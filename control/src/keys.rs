//! API keys: `brth_<8-char prefix>_<secret>`, a 256-bit secret, stored as a keyed hash
//! (HMAC-SHA256 under the platform's hash key) and compared in constant time.

use hmac::{Hmac, Mac};
use rand::{distributions::Alphanumeric, Rng, RngCore};
use subtle::ConstantTimeEq;

pub struct NewKey {
    pub prefix: String,
    /// The full key to show once: never logged, never stored.
    pub key: String,
    pub hash: String,
}

pub fn hash_secret(hash_key: &[u8; 32], secret: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(hash_key).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A key's public part: 8 lower-case letters and digits.
pub(crate) fn random_prefix() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).map(|c| (c as char).to_ascii_lowercase()).take(8).collect()
}

/// A key's secret: 256 random bits, hex.
pub(crate) fn random_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Whether `prefix` and `secret` have the shapes [`random_prefix`] and [`random_secret`] make.
pub(crate) fn well_formed(prefix: &str, secret: &str) -> bool {
    prefix.len() == 8
        && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn generate(hash_key: &[u8; 32]) -> NewKey {
    let (prefix, secret) = (random_prefix(), random_secret());
    let hash = hash_secret(hash_key, &secret);
    NewKey { key: format!("brth_{prefix}_{secret}"), prefix, hash }
}

/// The secret that refreshes an anonymous account's sessions (256 bits, hex).
pub fn anonymous_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("anon_{}", hex::encode(raw))
}

/// Splits a presented key into (prefix, secret) if it has the right shape.
pub fn split(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("brth_")?;
    let (prefix, secret) = rest.split_once('_')?;
    well_formed(prefix, secret).then_some((prefix, secret))
}

pub fn verify(hash_key: &[u8; 32], secret: &str, stored_hash: &str) -> bool {
    hash_secret(hash_key, secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_split_and_verify() {
        let hk = [7u8; 32];
        let k = generate(&hk);
        let (prefix, secret) = split(&k.key).expect("well formed");
        assert_eq!(prefix, k.prefix);
        assert!(verify(&hk, secret, &k.hash));
        assert!(!verify(&[8u8; 32], secret, &k.hash));
        assert!(!k.hash.contains(secret));
    }

    #[test]
    fn malformed_keys_do_not_split() {
        for bad in ["", "brth_", "brth_abc_def", "sk_abcdefgh_00", "brth_ABCDEFGH_"] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }
}
