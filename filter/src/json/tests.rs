use super::*;

#[test]
fn a_document_parses_into_values_with_members_in_document_order() {
    let json = Json::parse(br#"{"b": [1, -2, 0.5, true, null], "a": "x", "b": {}}"#).expect("valid JSON");
    let members = json.as_object().expect("an object");
    let keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["b", "a", "b"]);
    assert_eq!(
        members[0].1,
        Json::Array(vec![
            Json::Number(Number::Unsigned(1)),
            Json::Number(Number::Negative(-2)),
            Json::Number(Number::Float(0.5)),
            Json::Bool(true),
            Json::Null,
        ])
    );
    assert_eq!(members[1].1.as_str(), Some("x"));
    assert_eq!(members[2].1, Json::Object(Vec::new()));
}

#[test]
fn numbers_read_as_the_filter_asks_for_them() {
    let numbers = Json::parse(b"[7, -7, 7.5, 1e3]").expect("valid JSON");
    let items = numbers.as_array().expect("an array");
    assert_eq!(items.iter().map(Json::as_u64).collect::<Vec<_>>(), [Some(7), None, None, None]);
    assert_eq!(items.iter().map(Json::as_f64).collect::<Vec<_>>(), [Some(7.0), Some(-7.0), Some(7.5), Some(1000.0)]);
    assert_eq!(Json::String("7".to_owned()).as_f64(), None);
    assert!(Json::Null.is_null());
    assert!(!Json::Bool(false).is_null());
}

#[test]
fn display_quotes_a_value_as_compact_json() {
    let json = Json::parse(br#"{"k": ["a\"b\\c\n\u0001", 2, -3, 1.5, false, null]}"#).expect("valid JSON");
    assert_eq!(json.to_string(), r#"{"k":["a\"b\\c\n\u0001",2,-3,1.5,false,null]}"#);
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let error = Json::parse(b"{\n  \"a\": ,\n}").expect_err("not JSON");
    assert_eq!(error.to_string(), "expected value at line 2 column 8");
    assert!(Json::parse(b"[1, 2").is_err());
    assert!(Json::parse(b"{} trailing").is_err());
}
