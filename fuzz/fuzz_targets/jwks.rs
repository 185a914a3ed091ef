#![no_main]
//! A JWKS document as an issuer serves it: whatever `JwtValidator::from_jwks` keeps can be used,
//! so a token naming any key of the document with any algorithm (its key's among them) is
//! answered (refused: it is not signed) and never panics in a dependency.

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_envelope::auth::jwt::JwtValidator;
use tower_envelope::auth::TokenValidator;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

fuzz_target!(|data: &[u8]| {
    let Ok(validator) = JwtValidator::from_jwks(data, "https://issuer.example", "api") else {
        return;
    };
    let validator = validator.max_cached_tokens(0);
    let kids: Vec<String> = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|doc| doc.get("keys").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|key| key.get("kid")?.as_str().map(str::to_owned))
        .collect();
    let claims =
        URL_SAFE_NO_PAD.encode(r#"{"iss":"https://issuer.example","aud":"api","exp":4102444800}"#);
    for kid in kids.iter().map(Some).chain([None]) {
        let algorithms = [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
        ];
        for name in algorithms {
            let mut header = serde_json::json!({ "alg": name });
            if let Some(kid) = kid {
                header["kid"] = Value::from(kid.as_str());
            }
            let header = URL_SAFE_NO_PAD.encode(header.to_string());
            for signature in ["", "c2ln", &"A".repeat(86), &"A".repeat(342)] {
                let token = format!("{header}.{claims}.{signature}");
                assert!(
                    validator.validate(&token).is_err(),
                    "an unsigned token passed"
                );
            }
        }
    }
});
