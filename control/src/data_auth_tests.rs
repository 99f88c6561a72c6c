//! `check_claims` with an Ed25519 key made for these tests only (it signs nothing else).

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const TEST_ONLY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBFb0gzUO/Mr/6fMaEXfOxtwXMHSRoiXSPTSqfpYq4yg
-----END PRIVATE KEY-----
";
const PUBLIC_X: &str = "9FIihExTNZoIFvOuHbaFZAOVJSDGZ1sBKxo7qX6jFqY";

fn keys() -> JwkSet {
    let set = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": PUBLIC_X, "kid": "k1", "alg": "EdDSA"}]});
    jwks::parse(set.to_string().as_bytes()).expect("a JWK Set")
}

fn config() -> AuthConfig {
    AuthConfig {
        jwks_url: None,
        jwks: None,
        issuer: "https://idp.test".into(),
        audience: "app".into(),
        subject_claim: "sub".into(),
        claims_allowlist: vec!["sub".into(), "role".into(), "email".into()],
        claims_max_bytes: 4096,
    }
}

fn token(kid: &str, claims: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut body = json!({"iss": "https://idp.test", "aud": "app", "sub": "user-1", "exp": now + 300,
        "email": "a@example.com", "secret_stuff": "x"});
    if let (Some(b), Some(o)) = (body.as_object_mut(), claims.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_ed_pem(TEST_ONLY_PEM.as_bytes()).expect("ed25519 key");
    jsonwebtoken::encode(&header, &body, &key).expect("signs")
}

#[test]
fn a_good_token_gives_its_allowed_claims_only() {
    let claims = check_claims(&config(), &token("k1", json!({})), &keys()).expect("verifies");
    assert_eq!(claims, json!({"sub": "user-1", "email": "a@example.com"}));
}

#[test]
fn each_check_refuses_with_its_reason() {
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (token("k1", json!({"aud": "other"})), JwtRejected::Audience),
        (token("k1", json!({"iss": "https://evil.test"})), JwtRejected::Issuer),
        (token("k1", json!({"exp": now - 600})), JwtRejected::Expired),
        (token("k1", json!({"nbf": now + 600})), JwtRejected::NotYetValid),
        (token("k2", json!({})), JwtRejected::UnknownKey),
        (token("k1", json!({"sub": ""})), JwtRejected::MissingClaim("sub".into())),
        ("not.a.jwt".to_owned(), JwtRejected::Malformed),
    ];
    for (t, want) in cases {
        assert_eq!(check_claims(&config(), &t, &keys()), Err(want.clone()), "{want}");
    }
    let mut tampered = token("k1", json!({}));
    // Another character inside the signature (the last one may hold only padding bits, and
    // putting back the same one would change nothing).
    let at = tampered.len() - 10;
    let other = if tampered.as_bytes()[at] == b'A' { "B" } else { "A" };
    tampered.replace_range(at..=at, other);
    assert!(check_claims(&config(), &tampered, &keys()).is_err());
}

#[test]
fn claims_past_the_cap_are_refused() {
    let big = token("k1", json!({"email": "x".repeat(5000)}));
    assert_eq!(check_claims(&config(), &big, &keys()), Err(JwtRejected::ClaimsTooLarge(4096)));
    // The cap counts what is passed on: a large claim outside the allowlist does not count.
    let dropped = token("k1", json!({"secret_stuff": "x".repeat(5000)}));
    assert!(check_claims(&config(), &dropped, &keys()).is_ok());
}

#[test]
fn an_hmac_token_is_refused_whatever_the_keys() {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let body = json!({"iss": "https://idp.test", "aud": "app", "sub": "u", "exp": chrono::Utc::now().timestamp() + 60});
    // Signed with the public key's bytes as an HMAC secret: the classic confusion attack.
    let forged = jsonwebtoken::encode(&header, &body, &EncodingKey::from_secret(PUBLIC_X.as_bytes())).expect("signs");
    assert_eq!(check_claims(&config(), &forged, &keys()), Err(JwtRejected::Algorithm));
}
