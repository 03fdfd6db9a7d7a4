use super::*;

fn json(text: &str) -> Result<Validated, StrategiesError> {
    parse("strategies.json", text.as_bytes(), Format::Json)
}

fn error_of(text: &str) -> (String, String) {
    let error = json(text).expect_err("refused");
    assert_eq!(error.source_name, "strategies.json");
    (error.path, error.reason)
}

#[test]
fn jaegers_own_example_file_is_read_unchanged() {
    let file = json(
        r#"{
          "service_strategies": [
            {"service": "foo", "type": "probabilistic", "param": 0.8,
             "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2},
                                      {"operation": "op2", "type": "probabilistic", "param": 0.4}]},
            {"service": "bar", "type": "ratelimiting", "param": 5}
          ],
          "default_strategy": {"type": "probabilistic", "param": 0.5,
            "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0},
                                     {"operation": "/metrics", "type": "probabilistic", "param": 0.0}]}
        }"#,
    )
    .expect("valid");
    assert_eq!(file.warnings, Vec::<String>::new());
    assert_eq!(file.file.service_strategies.len(), 2);
    assert_eq!(file.file.service_strategies[1].kind, StrategyKind::Ratelimiting);
    assert_eq!(file.file.default_strategy.as_ref().map(|d| d.operation_strategies.len()), Some(2));
}

#[test]
fn the_seed_and_example_files_are_valid() {
    let seed = json(crate::sampling::SEED_STRATEGIES).expect("seed");
    assert_eq!(seed.file.service_strategies.len(), 4);
    let yaml =
        parse("example.yaml", include_bytes!("../../../strategies/example.yaml"), Format::Yaml).expect("example");
    assert_eq!(yaml.file.service_strategies[3].service, "health-check");
    assert_eq!(yaml.file.service_strategies[3].param, 0.01);
}

#[test]
fn malformed_files_are_refused_naming_the_field() {
    let cases = [
        ("{", "(root)"),
        (r#"{"default_strategy": {"type": "probabilistic", "param": 1.5}}"#, "default_strategy.param"),
        (r#"{"default_strategy": {"type": 1, "param": 1}}"#, "default_strategy.type"),
        (r#"{"default_strategy": {"type": "probabilistic", "param": "half"}}"#, "default_strategy.param"),
        (
            r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": -1}]}"#,
            "service_strategies[0].param",
        ),
        (
            r#"{"service_strategies": [{"service": "", "type": "probabilistic", "param": 1}]}"#,
            "service_strategies[0].service",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1}, {"service": "a", "type": "probabilistic", "param": 0}]}"#,
            "service_strategies[1].service",
        ),
        (
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1, "extra": 1}]}"#,
            "service_strategies[0].extra",
        ),
        (r#"{"services": []}"#, "services"),
        (
            r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1, "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 2}]}]}"#,
            "service_strategies[0].operation_strategies[0].param",
        ),
        (
            r#"{"default_strategy": {"type": "probabilistic", "param": 1, "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 1}, {"operation": "x", "type": "probabilistic", "param": 0}]}}"#,
            "default_strategy.operation_strategies[1].operation",
        ),
        (r#"{"constitutional": {"services": [""]}}"#, "constitutional.services[0]"),
    ];
    for (text, path) in cases {
        assert_eq!(error_of(text).0, path, "{text}");
    }
    assert_eq!(
        error_of(r#"{"default_strategy": {"type": "probabilistic", "param": 1.5}}"#).1,
        "probability 1.5 is outside [0, 1]"
    );
    let yaml = parse(
        "s.yaml",
        b"service_strategies:\n  - service: a\n    type: probabilistic\n    param: [1]\n",
        Format::Yaml,
    )
    .expect_err("refused");
    assert_eq!((yaml.source_name.as_str(), yaml.path.as_str()), ("s.yaml", "service_strategies[0].param"));
}

#[test]
fn what_jaeger_ignores_is_accepted_with_a_warning() {
    let file = json(
        r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": 2.5,
             "operation_strategies": [{"operation": "x", "type": "ratelimiting", "param": 1}]}]}"#,
    )
    .expect("valid");
    assert_eq!(
        file.warnings,
        [
            "service_strategies[0].param: rate 2.5 is truncated to 2 traces per second, as Jaeger does",
            "service_strategies[0].operation_strategies[0]: ratelimiting is not supported per operation; Jaeger ignores it, and so do we",
        ]
    );
}

#[test]
fn oversized_and_missing_files_are_refused() {
    let big = vec![b' '; (MAX_FILE_BYTES + 1) as usize];
    assert_eq!(parse("big.json", &big, Format::Json).expect_err("refused").path, "(file)");
    let missing = load(Path::new("/nonexistent/strategies.json")).expect_err("refused");
    assert_eq!((missing.source_name.as_str(), missing.path.as_str()), ("/nonexistent/strategies.json", "(file)"));
    assert_eq!(Format::of(Path::new("a.yml")), Format::Yaml);
    assert_eq!(Format::of(Path::new("a.json")), Format::Json);
}

#[test]
fn a_missing_or_unknown_type_is_jaegers_default_probability_with_a_warning_naming_the_entry() {
    let file = json(
        r#"{"default_strategy": {"type": "random", "param": 7},
            "service_strategies": [{"service": "a", "param": 0.9,
              "operation_strategies": [{"operation": "x", "type": "RATELIMITING", "param": 3}]}]}"#,
    )
    .expect("accepted as Jaeger accepts it");
    assert_eq!(
        file.warnings,
        [
            "default_strategy.type: \"random\" is not probabilistic or ratelimiting; Jaeger serves probabilistic 0.001 for this entry, and so do we",
            "service_strategies[0].type: missing; Jaeger serves probabilistic 0.001 for this entry, and so do we",
            "service_strategies[0].operation_strategies[0].type: \"RATELIMITING\" is not probabilistic or ratelimiting; Jaeger serves probabilistic 0.001 for this entry, and so do we",
        ]
    );
    let default = file.file.default_strategy.expect("default");
    assert_eq!((default.kind, default.param), (StrategyKind::Probabilistic, 0.001));
    let service = &file.file.service_strategies[0];
    assert_eq!((service.kind, service.param), (StrategyKind::Probabilistic, 0.001));
    let operation = &service.operation_strategies[0];
    assert_eq!((operation.kind, operation.param), (StrategyKind::Probabilistic, 0.001));
}
