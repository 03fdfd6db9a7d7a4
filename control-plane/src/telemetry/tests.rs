use super::*;

#[test]
fn bearer_tokens_compare_whole() {
    assert!(constant_time_eq(b"secret", b"secret"));
    assert!(!constant_time_eq(b"secre", b"secret"));
    assert!(!constant_time_eq(b"secretx", b"secret"));
    assert!(!constant_time_eq(b"", b""), "an empty expected token never matches");
}
