use super::*;

/// Attributes of the OpenTelemetry semantic conventions (gen_ai, http, url, db, messaging, rpc and
/// the rest) with values as instrumentations record them: none is a credential.
const NOT_SECRETS: [(&str, &str); 72] = [
    ("gen_ai.usage.input_tokens", "1234"),
    ("gen_ai.usage.output_tokens", "87"),
    ("gen_ai.usage.cache_read.input_tokens", "1024"),
    ("gen_ai.usage.cache_read_input_tokens", "1024"),
    ("gen_ai.usage.cache_creation.input_tokens", "0"),
    ("gen_ai.usage.reasoning_tokens", "300"),
    ("gen_ai.token.type", "input"),
    ("gen_ai.request.max_tokens", "4096"),
    ("gen_ai.request.model", "llama-3.3-70b-versatile"),
    ("gen_ai.response.model", "llama-3.3-70b-versatile"),
    ("gen_ai.system", "groq"),
    ("gen_ai.provider.name", "groq"),
    ("gen_ai.operation.name", "chat"),
    ("gen_ai.request.temperature", "0.2"),
    ("gen_ai.request.top_p", "0.9"),
    ("gen_ai.request.seed", "42"),
    ("gen_ai.request.stop_sequences", "[\"\\n\\n\"]"),
    ("gen_ai.response.finish_reasons", "[\"stop\"]"),
    ("gen_ai.response.id", "chatcmpl-8f2a"),
    ("gen_ai.agent.name", "policy-reviewer"),
    ("gen_ai.agent.id", "asst_5j66UpCpwteGg4YSxUnt7lPY"),
    ("gen_ai.tool.name", "get_policy"),
    ("gen_ai.tool.call.id", "call_mszuSIzqtI65i1wAUOE8w5H4"),
    ("gen_ai.conversation.id", "conv_5j66UpCpwteGg4YSxUnt7lPY"),
    ("gen_ai.output.type", "json"),
    ("llm.token_count.prompt", "512"),
    ("llm.token_count.completion", "64"),
    ("llm.token_count.total", "576"),
    ("llm.usage.total_tokens", "576"),
    ("http.request.method", "POST"),
    ("http.response.status_code", "401"),
    ("http.route", "/v1/tokens/{id}"),
    ("http.request.body.size", "2048"),
    ("http.response.body.size", "512"),
    ("http.request.resend_count", "1"),
    ("http.request.header.content-type", "application/json"),
    ("http.request.header.x-request-id", "9f3c2b1a-7d4e-4f5a-8b6c-1d2e3f4a5b6c"),
    ("http.response.header.content-length", "512"),
    ("url.full", "https://api.example.com/v1/policies?page=2&sort=asc"),
    ("url.path", "/v1/auth/token"),
    ("url.query", "page=2&token_type=bearer"),
    ("url.scheme", "https"),
    ("server.address", "api.groq.com"),
    ("server.port", "443"),
    ("client.address", "10.1.2.3"),
    ("network.peer.address", "10.1.2.3"),
    ("network.protocol.version", "2"),
    ("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
    ("db.system.name", "postgresql"),
    ("db.namespace", "policies"),
    ("db.operation.name", "SELECT"),
    ("db.collection.name", "users"),
    ("db.query.text", "SELECT * FROM users WHERE id = $1"),
    ("db.query.summary", "SELECT users"),
    ("db.response.status_code", "57014"),
    ("db.operation.batch.size", "10"),
    ("messaging.system", "kafka"),
    ("messaging.destination.name", "policy-events"),
    ("messaging.operation.type", "send"),
    ("messaging.message.id", "a1b2c3"),
    ("messaging.message.body.size", "1024"),
    ("messaging.consumer.group.name", "reviewers"),
    ("messaging.batch.message_count", "5"),
    ("rpc.system", "grpc"),
    ("rpc.service", "jaeger.api_v2.SamplingManager"),
    ("rpc.method", "GetSamplingStrategy"),
    ("rpc.grpc.status_code", "16"),
    ("session.id", "00112233-4455-6677-8899-aabbccddeeff"),
    ("k8s.secret.name", "acgs-telemetry-token"),
    ("auth.token.expires_at", "2026-12-04T00:00:00Z"),
    ("password_length", "12"),
    ("constitutional.hash", "cdd01ef066bc6cf2"),
];

#[test]
fn semantic_convention_attributes_are_not_secrets() {
    let flagged: Vec<_> = NOT_SECRETS.iter().filter(|(key, value)| sensitivity(key, value).is_some()).collect();
    assert!(flagged.is_empty(), "flagged: {flagged:?}");
}

#[test]
fn keys_that_hold_credentials_are_secrets_by_their_name() {
    for key in [
        "http.request.header.authorization",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "http.request.header.x-api-key",
        "http.request.header.x-auth-token",
        "password",
        "db.password",
        "user.passwd",
        "client_secret",
        "aws.secret_access_key",
        "oauth.access_token",
        "refresh_token",
        "id_token",
        "apiKey",
        "accessToken",
        "ApiKey",
        "api_key",
        "apikey",
        "private_key",
        "credentials",
        "github.token",
    ] {
        assert_eq!(sensitivity(key, "s3cr3t-value"), Some("key name"), "{key}");
    }
}

#[test]
fn credential_shaped_values_are_secrets_whatever_the_key() {
    let cases = [
        ("Bearer abcdef", "credential value"),
        ("basic dXNlcjpwYXNz", "credential value"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "JWT"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow...", "private key"),
        ("AKIAIOSFODNN7EXAMPLE", "cloud API key"),
        ("ghp_0123456789abcdefghijklmnopqrstuvwxyz", "cloud API key"),
        ("xoxb-1234567890-0987654321-abcdef", "cloud API key"),
        ("AIzaSyA-0123456789abcdefghijklmnopqrstu", "cloud API key"),
        ("sk_live_0123456789abcdefghijklmn", "cloud API key"),
        ("gsk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH", "cloud API key"),
        ("postgres://app:hunter2@db.internal:5432/policies", "password in URL"),
        ("https://api.example.com/v1?access_token=abc&page=2", "secret in URL query"),
        ("https://bucket.s3.amazonaws.com/o?X-Amz-Signature=abc", "secret in URL query"),
    ];
    for (value, reason) in cases {
        assert_eq!(sensitivity("message", value), Some(reason), "{value}");
    }
    // Look-alikes: too short, wrong case, no password, an empty parameter.
    for value in ["AKIA123", "akiaiosfodnn7example", "https://user@host/x", "https://h/x?token=", "ghp_short"] {
        assert_eq!(sensitivity("message", value), None, "{value}");
    }
}

#[test]
fn numbers_and_booleans_are_never_secrets() {
    for value in ["0", "1234", "-1", "0.5", "1e6", "true", "FALSE"] {
        assert_eq!(sensitivity("password", value), None, "{value}");
    }
}

#[test]
fn keys_split_at_punctuation_and_camel_case() {
    assert_eq!(segments("http.request.header.x-api-key"), ["http", "request", "header", "x", "api", "key"]);
    assert_eq!(segments("accessToken"), ["access", "token"]);
    assert_eq!(segments("gen_ai.usage.input_tokens"), ["gen", "ai", "usage", "input", "tokens"]);
    assert_eq!(segments("HTTPHeader"), ["httpheader"]);
}

/// The examples docs/analysis.md gives, as written there.
#[test]
fn the_documented_examples_hold() {
    let examples = [
        ("http.request.header.authorization", "Basic dXNlcjpwYXNz", Some("key name")),
        ("gen_ai.usage.input_tokens", "1234", None),
        ("url.full", "https://api.example.com/v1?api_key=abc123", Some("secret in URL query")),
        ("app.note", "Bearer eyJhbGciOi", Some("credential value")),
    ];
    for (key, value, expected) in examples {
        assert_eq!(sensitivity(key, value), expected, "{key} = {value}");
    }
}
