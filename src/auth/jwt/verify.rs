//! One token against one key: the header read once, the signature checked by `jsonwebtoken`,
//! the registered claims checked here, in one reading of the claims that also builds the
//! principal.

use std::borrow::Cow;
use std::time::Duration;
#[cfg(test)]
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::keys::Key;
use super::verified::{check_time, now, Verified};
use super::Algorithm;
use crate::auth::{InvalidToken, Principal, TokenError};

/// The default clock leeway for `exp` and `nbf`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The default longest token read, in bytes: 16 KiB, several times the largest tokens Entra ID
/// issues (it moves group lists over 200 entries out of the token).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The accepted issuers and audiences, the clock leeway and the longest token read.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    /// Exact, or with a `{tenantid}` placeholder for the token's `tid`.
    issuers: Vec<String>,
    audiences: Vec<String>,
    /// The tenants an issuer with a placeholder accepts; `None`: any.
    tenants: Option<Vec<String>>,
    /// The client applications (`azp`, `appid`) accepted; `None`: any.
    pub(crate) clients: Option<Vec<String>>,
    leeway: Duration,
    max_len: usize,
}

impl Rules {
    pub(crate) fn new(issuer: String, audience: String) -> Self {
        Self {
            issuers: vec![issuer],
            audiences: vec![audience],
            tenants: Some(Vec::new()),
            clients: None,
            leeway: DEFAULT_LEEWAY,
            max_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    pub(crate) fn accept_issuer(&mut self, issuer: String) {
        self.issuers.push(issuer);
    }

    pub(crate) fn accept_audience(&mut self, audience: String) {
        self.audiences.push(audience);
    }

    pub(crate) fn accept_tenants(&mut self, tenants: impl Iterator<Item = String>) {
        self.tenants.get_or_insert_with(Vec::new).extend(tenants);
    }

    pub(crate) fn accept_any_tenant(&mut self) {
        self.tenants = None;
    }

    /// Whether `iss` is accepted, for a token of the tenant `tid`.
    fn issuer(&self, iss: &str, tid: Option<&str>) -> Result<(), InvalidToken> {
        let mut wrong = InvalidToken::WrongIssuer;
        for accepted in &self.issuers {
            let Some((before, after)) = accepted.split_once("{tenantid}") else {
                if accepted == iss {
                    return Ok(());
                }
                continue;
            };
            let tenant = iss
                .strip_prefix(before)
                .and_then(|rest| rest.strip_suffix(after));
            if tenant.is_none() {
                continue;
            }
            // The issuer names the tenant the token says it is from, and that tenant is one
            // accepted.
            let listed = |tid: &str| {
                self.tenants
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|a| a == tid))
            };
            match tid {
                Some(tid) if !tid.is_empty() && tenant == Some(tid) && listed(tid) => return Ok(()),
                _ => wrong = InvalidToken::WrongTenant,
            }
        }
        Err(wrong)
    }

    pub(crate) fn set_leeway(&mut self, leeway: Duration) {
        self.leeway = leeway;
    }

    pub(crate) fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// The clock leeway, in seconds.
    pub(crate) fn leeway(&self) -> f64 {
        self.leeway.as_secs() as f64
    }
}

/// What the header says: the algorithm (one this crate accepts) and the key id.
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Box<str>>,
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    kid: Option<Box<str>>,
}

/// Reads the header of `token`, which must be at most the longest token `rules` accept and
/// three base64url parts (a JWS in compact serialization), and refuses every algorithm but
/// those of [`Algorithm`]: `none` and the HMAC ones are unsupported whatever the key. The length
/// is checked before anything is decoded.
pub(crate) fn header(token: &str, rules: &Rules) -> Result<Header, InvalidToken> {
    if token.len() > rules.max_len {
        return Err(InvalidToken::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(encoded), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidToken::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| InvalidToken::Malformed)?;
    let raw: RawHeader<'_> = serde_json::from_slice(&json).map_err(|_| InvalidToken::Malformed)?;
    let alg = Algorithm::from_name(&raw.alg).ok_or(InvalidToken::UnsupportedAlgorithm)?;
    Ok(Header { alg, kid: raw.kid })
}

/// Verifies `token`, whose header names `alg`, with `key`: the algorithm must be the key's, then
/// `jsonwebtoken` checks the signature; then the claims are read once, checked against `rules`
/// (`exp`, `nbf`, `iss`, `aud`) and made a principal.
pub(crate) fn verify(
    token: &str,
    alg: Algorithm,
    key: &Key,
    rules: &Rules,
) -> Result<Verified, TokenError> {
    if alg != key.alg {
        return Err(InvalidToken::UnsupportedAlgorithm.into());
    }
    let (message, signature) = token.rsplit_once('.').ok_or(InvalidToken::Malformed)?;
    let (_, payload) = message.split_once('.').ok_or(InvalidToken::Malformed)?;
    let verified = jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &key.key,
        alg.to_jsonwebtoken(),
    )
    .map_err(|error| invalid(error.kind()))?;
    if !verified {
        return Err(InvalidToken::BadSignature.into());
    }
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|json| String::from_utf8(json).ok())
        .ok_or(InvalidToken::Malformed)?;
    principal(json.into(), rules).map_err(TokenError::Invalid)
}

/// The precise failure behind a `jsonwebtoken` error of a signature check.
fn invalid(kind: &JwtErrorKind) -> InvalidToken {
    match kind {
        JwtErrorKind::InvalidSignature => InvalidToken::BadSignature,
        // A key that cannot verify anything (key sets refuse them): no signature is valid.
        JwtErrorKind::InvalidEcdsaKey
        | JwtErrorKind::InvalidEddsaKey
        | JwtErrorKind::InvalidRsaKey(_)
        | JwtErrorKind::InvalidKeyFormat => InvalidToken::BadSignature,
        _ => InvalidToken::Malformed,
    }
}

/// The claims read once: the registered ones checked here (kept raw, so that a claim of the
/// wrong type is told from a missing one), `sub`, and the scopes of `scp`, `scope` and `roles`.
#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(borrow, default)]
    exp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    nbf: Option<&'a RawValue>,
    #[serde(borrow, default)]
    iss: Option<&'a RawValue>,
    #[serde(borrow, default)]
    aud: Option<&'a RawValue>,
    sub: Option<String>,
    #[serde(borrow, default)]
    scp: Option<Scopes<'a>>,
    #[serde(borrow, default)]
    scope: Option<Scopes<'a>>,
    #[serde(borrow, default)]
    roles: Option<Scopes<'a>>,
    #[serde(borrow, default)]
    tid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    azp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    appid: Option<Cow<'a, str>>,
}

/// One string or an array of strings (`aud`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl Identity<'_> {
    /// Checks the registered claims against `rules` at `now`: `exp`, `iss` and `aud` are
    /// required; `exp` and `nbf` allow the leeway; `iss` is one string (RFC 7519, section
    /// 4.1.1) equal to an accepted issuer; `aud` a string or an array naming an accepted
    /// audience.
    fn check(&self, rules: &Rules, now: f64) -> Result<(f64, Option<f64>), InvalidToken> {
        let date =
            |claim: Option<&RawValue>| claim.map(|raw| serde_json::from_str::<f64>(raw.get()));
        let exp = date(self.exp)
            .and_then(Result::ok)
            .ok_or(InvalidToken::MissingExpiry)?;
        let iss = self.iss.ok_or(InvalidToken::MissingIssuer)?;
        let aud = self.aud.ok_or(InvalidToken::MissingAudience)?;
        let leeway = rules.leeway();
        if exp < now - leeway {
            return Err(InvalidToken::Expired);
        }
        let nbf = date(self.nbf)
            .transpose()
            .map_err(|_| InvalidToken::Malformed)?;
        check_time(exp, nbf, now, leeway)?;
        let iss = serde_json::from_str::<Cow<'_, str>>(iss.get())
            .map_err(|_| InvalidToken::WrongIssuer)?;
        rules.issuer(&iss, self.tid.as_deref())?;
        if let Some(clients) = &rules.clients {
            let client = self.azp.as_deref().or(self.appid.as_deref());
            if !client.is_some_and(|client| clients.iter().any(|c| c == client)) {
                return Err(InvalidToken::WrongClient);
            }
        }
        let accepted = |aud: &Cow<'_, str>| rules.audiences.iter().any(|a| a == aud);
        match serde_json::from_str::<OneOrMany<'_>>(aud.get()) {
            Ok(OneOrMany::One(aud)) if accepted(&aud) => Ok((exp, nbf)),
            Ok(OneOrMany::Many(auds)) if auds.iter().any(accepted) => Ok((exp, nbf)),
            _ => Err(InvalidToken::WrongAudience),
        }
    }
}

/// A scope claim: a space-separated string (`scp` of Entra ID, `scope` of RFC 8693) or an
/// array of strings (`roles`, and `scp` of some issuers).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes<'a> {
    Spaced(#[serde(borrow)] Cow<'a, str>),
    List(Vec<String>),
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

/// The principal of the claims `json` once they pass `rules`: subject `sub` (empty when
/// absent), the scopes of `scp`, `scope` and `roles`, and the claims themselves.
fn principal(json: Box<str>, rules: &Rules) -> Result<Verified, InvalidToken> {
    if !json.starts_with('{') {
        return Err(InvalidToken::Malformed);
    }
    let (subject, scopes, exp, nbf) = {
        let identity: Identity<'_> =
            serde_json::from_str(&json).map_err(|_| InvalidToken::Malformed)?;
        let (exp, nbf) = identity.check(rules, now())?;
        let claims = [identity.scp, identity.scope, identity.roles];
        let mut scopes = Vec::with_capacity(claims.iter().flatten().map(Scopes::len).sum());
        for claim in claims.into_iter().flatten() {
            claim.push_into(&mut scopes);
        }
        (identity.sub.unwrap_or_default(), scopes, exp, nbf)
    };
    Ok(Verified {
        principal: Principal::new(subject, scopes).with_claims_object(json),
        exp,
        nbf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn rules() -> Rules {
        Rules::new("i".into(), "a".into())
    }

    /// Claims that pass [`rules`], with `extra` members.
    fn claims(extra: &str) -> Box<str> {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        format!(r#"{{{extra}"exp":{exp},"iss":"i","aud":"a"}}"#).into()
    }

    #[test]
    fn reads_alg_and_kid_and_refuses_other_algorithms() {
        let token = format!(
            "{}.e30.sig",
            b64(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)
        );
        let header = header(&token, &rules()).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        for alg in ["none", "HS256", "HS512", "rs256", "", "ES512"] {
            let token = format!("{}.e30.", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(
                super::header(&token, &rules()).err(),
                Some(InvalidToken::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_compact_jws() {
        let header = b64(r#"{"alg":"RS256"}"#);
        let long = b64(&format!(r#"{{"alg":"RS256","x":"{}"}}"#, "a".repeat(2000)));
        assert!(super::header(&format!("{long}.e30.s"), &rules()).is_ok());
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
                super::header(&token, &rules()).err(),
                Some(InvalidToken::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn the_length_is_checked_before_anything_is_decoded() {
        let mut rules = rules();
        rules.set_max_len(64);
        let fields: String = (0..10).map(|i| format!(r#""f{i}":1,"#)).collect();
        let header = b64(&format!(r#"{{{fields}"alg":"RS256"}}"#));
        let token = format!("{header}.e30.s");
        assert!(token.len() > 64);
        assert_eq!(
            super::header(&token, &rules).err(),
            Some(InvalidToken::TooLong)
        );
        // Not even the parts are looked at.
        assert_eq!(
            super::header(&"!".repeat(65), &rules).err(),
            Some(InvalidToken::TooLong)
        );
        assert!(super::header(&token, &self::rules()).is_ok());
    }

    #[test]
    fn a_tenant_template_takes_the_tokens_own_non_empty_tid() {
        let mut rules = Rules::new("https://i/{tenantid}/v2.0".into(), "a".into());
        rules.accept_any_tenant();
        assert_eq!(rules.issuer("https://i/t1/v2.0", Some("t1")), Ok(()));
        for (iss, tid) in [
            ("https://i/t1/v2.0", Some("t2")),
            ("https://i/t1/v2.0", None),
            ("https://i//v2.0", Some("")),
        ] {
            assert_eq!(
                rules.issuer(iss, tid),
                Err(InvalidToken::WrongTenant),
                "{iss} {tid:?}"
            );
        }
        assert_eq!(
            rules.issuer("https://other/t1/v2.0", Some("t1")),
            Err(InvalidToken::WrongIssuer)
        );
    }

    #[test]
    fn gathers_scopes_from_scp_scope_and_roles() {
        let p = principal(
            claims(r#""sub":"u1","scp":"read  write","scope":"x","roles":["Admin.All"],"#),
            &rules(),
        )
        .unwrap()
        .principal;
        assert_eq!(p.subject(), "u1");
        assert_eq!(
            p.scopes().collect::<Vec<_>>(),
            ["read", "write", "x", "Admin.All"]
        );
        assert_eq!(p.claim::<&str>("aud"), Some("a"));

        let p = principal(claims(r#""scp":["a","b"],"scope":"c\u0020d","#), &rules())
            .unwrap()
            .principal;
        assert_eq!(p.subject(), "");
        assert_eq!(p.scopes().collect::<Vec<_>>(), ["a", "b", "c", "d"]);

        assert_eq!(
            principal("[1]".into(), &rules()).err(),
            Some(InvalidToken::Malformed)
        );
        for bad in [r#""scp":1,"#, r#""roles":[1],"#, r#""sub":2,"#] {
            assert_eq!(
                principal(claims(bad), &rules()).err(),
                Some(InvalidToken::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn iss_is_one_string_compared_exactly() {
        let mut rules = rules();
        rules.accept_issuer("https://issuer.example".into());
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let with = |iss: &str| {
            let json = format!(r#"{{"iss":{iss},"exp":{exp},"aud":"a"}}"#);
            principal(json.into(), &rules).err()
        };
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
        assert_eq!(with("null"), Some(InvalidToken::MissingIssuer));
    }

    #[test]
    fn registered_claims_are_checked_with_the_leeway() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let with = |claims: String| principal(claims.into(), &rules()).err();
        let base = |extra: &str| format!(r#"{{{extra}"iss":"i"}}"#);
        for (claims, expected) in [
            (base(&format!(r#""exp":{},"aud":"a","#, now + 10)), None),
            (
                base(&format!(r#""exp":{}.5,"aud":["x","a"],"#, now - 30)),
                None,
            ),
            (
                base(&format!(r#""exp":{},"aud":"a","#, now - 120)),
                Some(InvalidToken::Expired),
            ),
            (
                base(r#""exp":"tomorrow","aud":"a","#),
                Some(InvalidToken::MissingExpiry),
            ),
            (base(r#""aud":"a","#), Some(InvalidToken::MissingExpiry)),
            (
                base(&format!(r#""exp":{},"#, now + 10)),
                Some(InvalidToken::MissingAudience),
            ),
            (
                base(&format!(r#""exp":{},"aud":"b","#, now + 10)),
                Some(InvalidToken::WrongAudience),
            ),
            (
                base(&format!(r#""exp":{},"aud":["b"],"#, now + 10)),
                Some(InvalidToken::WrongAudience),
            ),
            (
                base(&format!(r#""exp":{},"aud":5,"#, now + 10)),
                Some(InvalidToken::WrongAudience),
            ),
            (
                base(&format!(
                    r#""exp":{},"aud":"a","nbf":{},"#,
                    now + 10,
                    now + 30
                )),
                None,
            ),
            (
                base(&format!(
                    r#""exp":{},"aud":"a","nbf":{},"#,
                    now + 10,
                    now + 120
                )),
                Some(InvalidToken::NotYetValid),
            ),
            (
                base(&format!(r#""exp":{},"aud":"a","nbf":"soon","#, now + 10)),
                Some(InvalidToken::Malformed),
            ),
        ] {
            assert_eq!(with(claims.clone()), expected, "{claims}");
        }
    }
}
