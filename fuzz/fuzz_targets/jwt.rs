#![no_main]
//! A JWT's header and claims, signed for real (Ed25519), so that the claims are read: the input
//! is the header's JSON and the claims' JSON, split at the first NUL byte. A token that passes
//! names the accepted issuer as one string and an accepted audience.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_envelope::auth::jwt::JwtValidator;
use tower_envelope::auth::TokenValidator;

const ISS: &str = "https://issuer.example";

fn signer() -> &'static (SigningKey, JwtValidator) {
    static KEY: std::sync::OnceLock<(SigningKey, JwtValidator)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let key = SigningKey::from_bytes(&[7; 32]);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        let jwks = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"{x}"}}]}}"#);
        let validator = JwtValidator::from_jwks(jwks, ISS, "api").expect("a valid key");
        (key, validator.accept_audience("other").max_cached_tokens(0))
    })
}

fuzz_target!(|data: &[u8]| {
    let (header, claims) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&br#"{"alg":"EdDSA","kid":"k"}"#[..], data),
    };
    let (key, validator) = signer();
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = URL_SAFE_NO_PAD.encode(key.sign(message.as_bytes()).to_bytes());
    let token = format!("{message}.{signature}");
    let Ok(principal) = validator.validate(&token) else {
        return;
    };
    let claims: Value = serde_json::from_slice(claims).expect("passing claims are JSON");
    assert_eq!(claims["iss"], ISS, "iss is one string, exactly the issuer");
    let accepted = |aud: &Value| aud == "api" || aud == "other";
    assert!(
        accepted(&claims["aud"])
            || claims["aud"]
                .as_array()
                .is_some_and(|auds| auds.iter().any(accepted)),
        "{}",
        claims["aud"]
    );
    assert!(claims["exp"].is_number());
    assert!(
        !format!("{principal:?}").contains(ISS),
        "Debug shows no claim"
    );
});
