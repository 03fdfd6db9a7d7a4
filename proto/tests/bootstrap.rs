//! The code under `src/gen/` is generated from `proto/` and checked in, so no build needs protoc.
//! Whoever changes a proto regenerates it (`examples/generate.rs`, which also records the protos'
//! digests); this test fails when a proto no longer matches the digests the code was generated
//! from.

mod gen_inputs;

use std::path::PathBuf;

#[test]
fn generated_code_is_generated_from_the_protos_as_they_are() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let now = gen_inputs::digest_lines(&root).expect("the protos are readable");
    let recorded = std::fs::read_to_string(root.join("src/gen/inputs.sha256")).unwrap_or_default();
    assert_eq!(
        recorded, now,
        "a proto changed since src/gen/ was generated: run `cargo run -p acgs-proto --example generate --features codegen` and commit src/gen/"
    );
}
