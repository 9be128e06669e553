//! A request's token: found, verified against a [`Policy`] and [`Keys`], and its
//! claims put into headers.

use hookgate_plugin_api::{Reply, Request};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Validation};
use serde_json::{Map, Value};

use crate::config::Policy;
use crate::keys::Keys;

/// A token's claims.
pub(crate) type Claims = Map<String, Value>;

/// The claims the JWT spec names, which the crate checks itself.
const SPEC_CLAIMS: [&str; 5] = ["exp", "nbf", "aud", "iss", "sub"];

/// The bearer token of the request's `Authorization` header, if it has one.
pub(crate) fn bearer<'r>(req: &'r Request<'_>) -> Option<&'r str> {
    let value = req.header("authorization")?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The claims of `token` if it is signed by one of `keys` with an algorithm the
/// policy accepts and its claims meet the policy; else why not, in words fit for
/// `error_description`.
pub(crate) fn verify(policy: &Policy, keys: &Keys, token: &str) -> Result<Claims, String> {
    let header = decode_header(token).map_err(|_| "malformed token".to_owned())?;
    if !policy.algorithms.contains(&header.alg) {
        return Err(format!("algorithm {:?} not accepted", header.alg));
    }
    let mut validation = Validation::new(header.alg);
    validation.leeway = policy.leeway_s;
    validation.validate_nbf = true;
    let mut required: Vec<&str> = (policy.required_claims.iter())
        .map(String::as_str)
        .filter(|c| SPEC_CLAIMS.contains(c))
        .collect();
    // The crate checks `iss` and `aud` only when the token has them.
    match &policy.issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    if policy.audience.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&policy.audience);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    let mut refusal = format!("no key {} in the JWKS", key_name(header.kid.as_deref()));
    for key in keys.candidates(header.kid.as_deref(), header.alg) {
        match decode::<Claims>(token, key, &validation) {
            Ok(data) => return required_claims(policy, data.claims),
            Err(e) => refusal = describe(e.kind()),
        }
    }
    Err(refusal)
}

fn key_name(kid: Option<&str>) -> String {
    match kid {
        Some(kid) => format!("{kid:?}"),
        None => "for the token".to_owned(),
    }
}

/// The claims, if the non-spec ones the policy requires are there.
fn required_claims(policy: &Policy, claims: Claims) -> Result<Claims, String> {
    let missing = (policy.required_claims.iter()).find(|c| !claims.contains_key(c.as_str()));
    match missing {
        Some(claim) => Err(format!("missing claim {claim:?}")),
        None => Ok(claims),
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token expired".to_owned(),
        ErrorKind::ImmatureSignature => "token not valid yet".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::InvalidAlgorithm => "algorithm does not fit the key".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim:?}"),
        _ => "malformed token".to_owned(),
    }
}

/// Sets each configured header from its claim (strings as they are, arrays of
/// strings joined with `,`, other values as JSON); a header whose claim is absent
/// is removed, so that a client cannot send its own.
pub(crate) fn claims_to_headers(policy: &Policy, req: &mut Request<'_>, claims: Option<&Claims>) {
    for (claim, header) in &policy.claims_to_headers {
        let value = claims.and_then(|c| c.get(claim)).map(header_value);
        // A value the host refuses (a line break in a claim) sets nothing.
        let set = value.is_some_and(|value| req.set_header(header, &value));
        if !set {
            req.remove_header(header);
        }
    }
}

fn header_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            items.join(",")
        }
        other => other.to_string(),
    }
}

/// The 401 for a request without a usable token (RFC 6750 §3): `error` only when a
/// token was sent.
pub(crate) fn unauthorized(policy: &Policy, why: Option<&str>) -> Reply {
    let realm = quoted(&policy.realm);
    let challenge = match why {
        None => format!("Bearer realm={realm}"),
        Some(why) => format!(
            "Bearer realm={realm}, error=\"invalid_token\", error_description={}",
            quoted(why)
        ),
    };
    Reply::new(401)
        .header("www-authenticate", &challenge)
        .header("content-type", "text/plain; charset=utf-8")
        .body(match why {
            None => "a bearer token is required\n".to_owned(),
            Some(why) => format!("invalid token: {why}\n"),
        })
}

/// A quoted-string (RFC 9110 §5.6.4).
fn quoted(text: &str) -> String {
    let escaped: String = text
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}
