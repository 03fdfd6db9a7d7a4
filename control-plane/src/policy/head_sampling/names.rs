//! Kubernetes' syntax for the names the Telemetries carry (apimachinery `validation.go`):
//! DNS-1123 labels (namespaces) and subdomains (object names), label keys and label values.

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(name: &str) -> bool {
    name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && alphanumeric_ends(name)
}

/// DNS-1123 labels joined by dots, at most 253 characters.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(|part| part.len() <= 63 && is_dns1123_label(part))
}

/// `[prefix/]name`: an optional DNS-1123 subdomain, then a qualified name.
pub fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name(name),
        None => is_qualified_name(key),
    }
}

/// Empty, or a qualified name.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_qualified_name(value)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn is_qualified_name(name: &str) -> bool {
    name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && alphanumeric_ends(name)
}

/// Non-empty, starting and ending with an ASCII letter or digit.
fn alphanumeric_ends(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(first), Some(last)) if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes_syntax() {
        assert!(is_dns1123_label("istio-ingress"));
        assert!(!is_dns1123_label("Istio"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("acgs-head-auth.v2"));
        assert!(!is_dns1123_subdomain("acgs-head-auth_service"));
        assert!(!is_dns1123_subdomain("acgs-head-a..b"));
        assert!(is_label_key("istio"));
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_key("app.kubernetes.io/"));
        assert!(!is_label_key("a b"));
        assert!(!is_label_key("Example.com/x"));
        assert!(is_label_value(""));
        assert!(is_label_value("ingressgateway"));
        assert!(is_label_value("v1.2_A"));
        assert!(!is_label_value("in*"));
        assert!(!is_label_value("_x"));
        assert!(!is_label_value(&"a".repeat(64)));
    }
}
