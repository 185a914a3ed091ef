//! One token against one key: the header read without allocating, the signature and the
//! registered claims checked by `jsonwebtoken`, the principal built from the claims.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::Validation;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::keys::Key;
use super::Algorithm;
use crate::auth::{Claims, InvalidToken, Principal, TokenError};

/// The accepted issuers and audiences and the clock leeway, with the `jsonwebtoken` validation
/// they make for each algorithm (built when they change, never per request).
#[derive(Clone)]
pub(crate) struct Rules {
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    validations: Vec<Validation>,
}

/// The default clock leeway for `exp` and `nbf`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

impl Rules {
    pub(crate) fn new(issuer: String, audience: String) -> Self {
        let mut rules = Self {
            issuers: vec![issuer],
            audiences: vec![audience],
            leeway: DEFAULT_LEEWAY,
            validations: Vec::new(),
        };
        rules.build();
        rules
    }

    pub(crate) fn accept_issuer(&mut self, issuer: String) {
        self.issuers.push(issuer);
        self.build();
    }

    pub(crate) fn accept_audience(&mut self, audience: String) {
        self.audiences.push(audience);
        self.build();
    }

    pub(crate) fn set_leeway(&mut self, leeway: Duration) {
        self.leeway = leeway;
        self.build();
    }

    /// One validation per algorithm, each accepting that algorithm only.
    fn build(&mut self) {
        self.validations = Algorithm::ALL
            .iter()
            .map(|alg| {
                let mut validation = Validation::new(alg.to_jsonwebtoken());
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.set_issuer(&self.issuers);
                validation.set_audience(&self.audiences);
                validation.validate_nbf = true;
                validation.leeway = self.leeway.as_secs();
                validation
            })
            .collect();
    }

    fn validation(&self, alg: Algorithm) -> &Validation {
        &self.validations[alg as usize]
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// What the header says: the algorithm (one this crate accepts) and the key id.
pub(crate) struct Header<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Cow<'a, str>>,
}

/// The decoded header: on the stack when it fits (it does for the headers issuers write).
pub(crate) struct HeaderBuf {
    stack: [u8; 512],
    heap: Vec<u8>,
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Text<'a>,
    #[serde(borrow, default)]
    kid: Option<Text<'a>>,
}

/// A string borrowed from the JSON unless it has escapes (serde's own `Cow` never borrows
/// inside an `Option`).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

impl HeaderBuf {
    pub(crate) fn new() -> Self {
        Self {
            stack: [0; 512],
            heap: Vec::new(),
        }
    }

    /// Reads the header of `token`, which must be three base64url parts (a JWS in compact
    /// serialization), and refuses every algorithm but those of [`Algorithm`]: `none` and the
    /// HMAC ones are unsupported whatever the key.
    pub(crate) fn read<'b>(&'b mut self, token: &str) -> Result<Header<'b>, InvalidToken> {
        let mut parts = token.split('.');
        let (Some(encoded), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed);
        };
        let json: &'b [u8] = if base64::decoded_len_estimate(encoded.len()) <= self.stack.len() {
            let n = URL_SAFE_NO_PAD
                .decode_slice(encoded, &mut self.stack)
                .map_err(|_| InvalidToken::Malformed)?;
            &self.stack[..n]
        } else {
            self.heap = URL_SAFE_NO_PAD
                .decode(encoded)
                .map_err(|_| InvalidToken::Malformed)?;
            &self.heap
        };
        let raw: RawHeader<'b> =
            serde_json::from_slice(json).map_err(|_| InvalidToken::Malformed)?;
        let alg = Algorithm::from_name(&raw.alg.0).ok_or(InvalidToken::UnsupportedAlgorithm)?;
        Ok(Header {
            alg,
            kid: raw.kid.map(|kid| kid.0),
        })
    }
}

/// Verifies `token`, whose header names `alg`, with `key`: the algorithm must be the key's, then
/// `jsonwebtoken` checks the signature, `exp`, `nbf`, `iss` and `aud`.
pub(crate) fn verify(
    token: &str,
    alg: Algorithm,
    key: &Key,
    rules: &Rules,
) -> Result<Principal, TokenError> {
    if alg != key.alg {
        return Err(InvalidToken::UnsupportedAlgorithm.into());
    }
    let data = jsonwebtoken::decode::<Box<RawValue>>(token, &key.key, rules.validation(alg))
        .map_err(|error| TokenError::Invalid(invalid(error.kind())))?;
    principal(data.claims.into(), &rules.issuers).map_err(TokenError::Invalid)
}

/// The precise failure behind a `jsonwebtoken` error.
fn invalid(kind: &JwtErrorKind) -> InvalidToken {
    match kind {
        JwtErrorKind::InvalidSignature => InvalidToken::BadSignature,
        JwtErrorKind::ExpiredSignature => InvalidToken::Expired,
        JwtErrorKind::ImmatureSignature => InvalidToken::NotYetValid,
        JwtErrorKind::InvalidIssuer => InvalidToken::WrongIssuer,
        JwtErrorKind::InvalidAudience => InvalidToken::WrongAudience,
        JwtErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => InvalidToken::MissingExpiry,
            "iss" => InvalidToken::MissingIssuer,
            "aud" => InvalidToken::MissingAudience,
            _ => InvalidToken::Malformed,
        },
        JwtErrorKind::InvalidAlgorithm
        | JwtErrorKind::UnsupportedAlgorithm
        | JwtErrorKind::InvalidAlgorithmName
        | JwtErrorKind::MissingAlgorithm => InvalidToken::UnsupportedAlgorithm,
        // A published key that cannot verify anything: no signature is valid under it.
        JwtErrorKind::InvalidEcdsaKey
        | JwtErrorKind::InvalidEddsaKey
        | JwtErrorKind::InvalidRsaKey(_)
        | JwtErrorKind::InvalidKeyFormat => InvalidToken::BadSignature,
        _ => InvalidToken::Malformed,
    }
}

/// The claims a principal is made of: `sub`, and the scopes of `scp`, `scope` and `roles`; and
/// `iss`, which `jsonwebtoken` also accepts as an array.
#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow, default)]
    iss: Option<&'a RawValue>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(borrow, default)]
    scp: Option<Scopes<'a>>,
    #[serde(borrow, default)]
    scope: Option<Scopes<'a>>,
    #[serde(borrow, default)]
    roles: Option<Scopes<'a>>,
}

/// A scope claim: a space-separated string (`scp` of Entra ID, `scope` of RFC 8693) or an
/// array of strings (`roles`, and `scp` of some issuers).
enum Scopes<'a> {
    Spaced(Cow<'a, str>),
    List(Vec<String>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scopes<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScopesVisitor;

        impl<'de> Visitor<'de> for ScopesVisitor {
            type Value = Scopes<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-separated string or an array of strings")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scopes::Spaced(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scopes::Spaced(Cow::Owned(v.to_owned())))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(scope) = seq.next_element::<String>()? {
                    list.push(scope);
                }
                Ok(Scopes::List(list))
            }
        }

        deserializer.deserialize_any(ScopesVisitor)
    }
}

impl Scopes<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Spaced(spaced) => spaced.split(' ').filter(|s| !s.is_empty()).count(),
            Self::List(list) => list.len(),
        }
    }

    fn push_into(self, scopes: &mut Vec<Cow<'static, str>>) {
        match self {
            Self::Spaced(spaced) => scopes.extend(
                spaced
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(|s| Cow::Owned(s.to_owned())),
            ),
            Self::List(list) => scopes.extend(list.into_iter().map(Cow::Owned)),
        }
    }
}

/// The principal of verified claims `json`: subject `sub` (empty when absent), the scopes of
/// `scp`, `scope` and `roles`, and the claims themselves. `iss` must be one string (RFC 7519,
/// section 4.1.1) equal to one of `issuers`.
fn principal(json: Box<str>, issuers: &[String]) -> Result<Principal, InvalidToken> {
    if !json.starts_with('{') {
        return Err(InvalidToken::Malformed);
    }
    let (subject, scopes) = {
        let identity: Identity<'_> =
            serde_json::from_str(&json).map_err(|_| InvalidToken::Malformed)?;
        let iss = identity.iss.ok_or(InvalidToken::MissingIssuer)?;
        match serde_json::from_str::<Text<'_>>(iss.get()) {
            Ok(iss) if issuers.iter().any(|accepted| *accepted == iss.0) => {}
            _ => return Err(InvalidToken::WrongIssuer),
        }
        let claims = [identity.scp, identity.scope, identity.roles];
        let mut scopes = Vec::with_capacity(claims.iter().flatten().map(Scopes::len).sum());
        for claim in claims.into_iter().flatten() {
            claim.push_into(&mut scopes);
        }
        (identity.sub.unwrap_or_default(), scopes)
    };
    Ok(Principal::new(subject, scopes).with_claims(Claims::from_object(json)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuers() -> Vec<String> {
        vec!["i".to_owned()]
    }

    #[test]
    fn iss_is_one_string_compared_exactly() {
        let issuers = ["https://issuer.example".to_owned()];
        let with = |iss: &str| principal(format!(r#"{{"iss":{iss}}}"#).into(), &issuers).err();
        assert_eq!(with(r#""https://issuer.example""#), None);
        assert_eq!(with(r#""https:\/\/issuer.example""#), None);
        for wrong in [
            r#"["https://evil.example","https://issuer.example"]"#,
            r#"["https://issuer.example"]"#,
            r#""https://issuer.example/""#,
            r#""HTTPS://issuer.example""#,
            "7",
        ] {
            assert_eq!(with(wrong), Some(InvalidToken::WrongIssuer), "{wrong}");
        }
        for missing in ["{}", r#"{"iss":null}"#] {
            assert_eq!(
                principal(missing.into(), &issuers).err(),
                Some(InvalidToken::MissingIssuer)
            );
        }
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn reads_alg_and_kid_and_refuses_other_algorithms() {
        let mut buf = HeaderBuf::new();
        let token = format!(
            "{}.e30.sig",
            b64(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)
        );
        let header = buf.read(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        for alg in ["none", "HS256", "HS512", "rs256", "", "ES512"] {
            let token = format!("{}.e30.", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(
                HeaderBuf::new().read(&token).err(),
                Some(InvalidToken::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_compact_jws() {
        let header = b64(r#"{"alg":"RS256"}"#);
        let long = b64(&format!(r#"{{"alg":"RS256","x":"{}"}}"#, "a".repeat(2000)));
        assert!(HeaderBuf::new().read(&format!("{long}.e30.s")).is_ok());
        for token in [
            String::from("abc"),
            format!("{header}.e30"),
            format!("{header}.e30.s.x"),
            format!("{header}==.e30.s"),
            format!("{}.e30.s", b64(r#"{"alg":"RS256","alg":"RS256"}"#)),
            format!("{}.e30.s", b64(r#"{"kid":"k"}"#)),
            format!("{}.e30.s", b64("[]")),
            format!("!{header}.e30.s"),
        ] {
            assert_eq!(
                HeaderBuf::new().read(&token).err(),
                Some(InvalidToken::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn gathers_scopes_from_scp_scope_and_roles() {
        let p = principal(
            r#"{"sub":"u1","scp":"read  write","scope":"x","roles":["Admin.All"],"aud":"a","iss":"i"}"#
                .into(),
            &issuers(),
        )
        .unwrap();
        assert_eq!(p.subject(), "u1");
        assert_eq!(
            p.scopes().collect::<Vec<_>>(),
            ["read", "write", "x", "Admin.All"]
        );
        assert_eq!(p.claims().unwrap().get::<&str>("aud"), Some("a"));

        let p = principal(
            r#"{"scp":["a","b"],"scope":"c\u0020d","iss":"i"}"#.into(),
            &issuers(),
        )
        .unwrap();
        assert_eq!(p.subject(), "");
        assert_eq!(p.scopes().collect::<Vec<_>>(), ["a", "b", "c", "d"]);

        for bad in [r#"[1]"#, r#"{"scp":1}"#, r#"{"roles":[1]}"#, r#"{"sub":2}"#] {
            assert_eq!(
                principal(bad.into(), &issuers()).err(),
                Some(InvalidToken::Malformed),
                "{bad}"
            );
        }
    }
}
