//! Whether a span attribute carries a credential, by evidence rather than by substring: the key's
//! whole name segments, the value's shape, never a number.
//!
//! A key is split into segments at every non-alphanumeric character and at camelCase humps
//! (`http.request.header.x-api-key` → `http request header x api key`, `accessToken` → `access
//! token`). It names a credential when a segment is `authorization`, `cookie`, `password`,
//! `passwd`, `secret`, `token`, `credential(s)` or `apikey`, or two adjacent segments are `api key`,
//! `private key` or `access key`; unless the next segment says the attribute describes the
//! credential rather than holding it (`gen_ai.token.type`, `llm.token_count.prompt`,
//! `k8s.secret.name`). Plurals are other words: `gen_ai.usage.input_tokens` counts tokens.
//!
//! A value is a credential whatever its key when it is a bearer or basic credential, a JWT, a
//! PEM private key, a cloud provider's key (AWS access key ids, GitHub, Slack, Google API, Stripe
//! and Groq key prefixes with their lengths), a URL with a password in its user info, or a URL
//! whose query parameters name a credential or a signature (presigned URLs). A number or a boolean is never a credential.

use crate::analysis::model::keys;

/// Segments that name a credential.
const CREDENTIAL_WORDS: [&str; 9] =
    ["authorization", "cookie", "password", "passwd", "secret", "token", "credential", "credentials", "apikey"];

/// Adjacent segments that name a credential together.
const CREDENTIAL_PAIRS: [(&str, &str); 3] = [("api", "key"), ("private", "key"), ("access", "key")];

/// A segment after a credential word that makes the attribute describe it, not hold it.
const DESCRIBES: [&str; 14] = [
    "count",
    "counts",
    "type",
    "usage",
    "limit",
    "name",
    "length",
    "size",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "present",
    "kind",
];

/// Why an attribute is reported, or `None`.
pub fn sensitivity(key: &str, value: &str) -> Option<&'static str> {
    if is_number_or_bool(value) {
        return None;
    }
    if key_names_a_credential(key) {
        return Some("key name");
    }
    value_sensitivity(key, value)
}

/// The lower-cased segments of a key.
fn segments(key: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            previous_lower = false;
            if !current.is_empty() {
                segments.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            segments.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// Whether the key names a credential. The filter's own `constitutional.hash*` attributes are
/// public by design.
pub fn key_names_a_credential(key: &str) -> bool {
    let segments = segments(key);
    if segments.first().is_some_and(|first| first == "constitutional") {
        return false;
    }
    let describes = |after: usize| segments.get(after).is_some_and(|next| DESCRIBES.contains(&next.as_str()));
    segments.iter().enumerate().any(|(i, segment)| {
        let word = CREDENTIAL_WORDS.contains(&segment.as_str());
        let pair =
            segments.get(i + 1).is_some_and(|next| CREDENTIAL_PAIRS.iter().any(|(a, b)| segment == a && next == b));
        (word && !describes(i + 1)) || (pair && !describes(i + 2))
    })
}

fn is_number_or_bool(value: &str) -> bool {
    let value = value.trim();
    value.parse::<f64>().is_ok() || value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
}

/// Whether the value is a credential whatever its key.
fn value_sensitivity(key: &str, value: &str) -> Option<&'static str> {
    let trimmed = value.trim();
    let has_scheme = |scheme: &str| {
        trimmed.len() > scheme.len() && trimmed.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    if has_scheme("bearer ") || has_scheme("basic ") {
        return Some("credential value");
    }
    if looks_like_jwt(trimmed) {
        return Some("JWT");
    }
    if trimmed.contains("-----BEGIN") && trimmed.contains("PRIVATE KEY-----") {
        return Some("private key");
    }
    if looks_like_cloud_key(trimmed) {
        return Some("cloud API key");
    }
    if keys::URL.contains(&key) || key == "url.query" || trimmed.contains("://") {
        if url_has_password(trimmed) {
            return Some("password in URL");
        }
        let query = trimmed.split_once('?').map_or(trimmed, |(_, q)| q);
        let secret_param = query.split('&').filter_map(|pair| pair.split_once('=')).any(|(name, v)| {
            !v.is_empty() && (key_names_a_credential(name) || segments(name).iter().any(|s| s == "signature"))
        });
        if secret_param {
            return Some("secret in URL query");
        }
    }
    None
}

/// `eyJ…` (base64url of `{"`) with three dot-separated base64url parts.
fn looks_like_jwt(value: &str) -> bool {
    if !value.starts_with("eyJ") {
        return false;
    }
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| p.len() >= 4)
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Key formats providers document: a prefix, then at least so many characters of a charset.
fn looks_like_cloud_key(value: &str) -> bool {
    let token_chars = |rest: &str, min: usize| {
        rest.len() >= min && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let upper_alnum = |rest: &str, len: usize| {
        rest.len() == len && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    [("AKIA", 16), ("ASIA", 16)]
        .iter()
        .any(|(prefix, len)| value.strip_prefix(prefix).is_some_and(|rest| upper_alnum(rest, *len)))
        || [
            ("ghp_", 36),
            ("gho_", 36),
            ("ghs_", 36),
            ("ghu_", 36),
            ("github_pat_", 40),
            ("xoxb-", 20),
            ("xoxp-", 20),
            ("xoxa-", 20),
            ("AIza", 35),
            ("sk_live_", 24),
            ("rk_live_", 24),
            ("gsk_", 40),
        ]
        .iter()
        .any(|(prefix, min)| value.strip_prefix(prefix).is_some_and(|rest| token_chars(rest, *min)))
}

/// `scheme://user:password@host…` with a non-empty password.
fn url_has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((user_info, _host)) = authority.rsplit_once('@') else { return false };
    user_info.split_once(':').is_some_and(|(_, password)| !password.is_empty())
}

#[cfg(test)]
mod tests;
