//! Regenerates `src/gen/` from `proto/` with prost-build and the vendored protoc, and records the
//! protos' digests in `src/gen/inputs.sha256`, which the tests compare with the protos: builds
//! never need protoc, and a changed proto without regenerated code fails the tests.
//!
//! ```sh
//! cargo run -p acgs-proto --example generate --features codegen
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../tests/gen_inputs/mod.rs"]
mod gen_inputs;

use gen_inputs::{digest_lines, PROTOS};

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("src/gen");
    let protos: Vec<PathBuf> = PROTOS.iter().map(|proto| root.join(proto)).collect();
    let protoc = match protoc_bin_vendored::protoc_bin_path() {
        Ok(protoc) => protoc,
        Err(error) => {
            eprintln!("no vendored protoc for this platform: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    let generated = tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile_with_config(config, &protos, &[root.join("proto")]);
    if let Err(error) = generated {
        eprintln!("the protos do not compile: {error}");
        return ExitCode::FAILURE;
    }
    let digests = match digest_lines(&root) {
        Ok(digests) => digests,
        Err(error) => {
            eprintln!("cannot read the protos: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::write(out.join("inputs.sha256"), digests) {
        eprintln!("cannot write src/gen/inputs.sha256: {error}");
        return ExitCode::FAILURE;
    }
    println!("regenerated {} from {}", out.display(), PROTOS.join(", "));
    ExitCode::SUCCESS
}
