//! Regenerates `src/gen/` from `proto/` and fails when the checked-in code differs, so builds never
//! need protoc (the vendored one runs only here) and the generated code never drifts.

use std::path::{Path, PathBuf};

#[test]
fn generated_code_is_up_to_date() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let protos = [root.join("proto/sampling.proto"), root.join("proto/telemetry.proto")];
    let out = tempdir(&root);
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this platform");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile_with_config(config, &protos, &[root.join("proto")])
        .expect("protos compile");

    let mut stale = Vec::new();
    for file in ["jaeger.api_v2.rs", "acgs.telemetry.v1.rs"] {
        let fresh = std::fs::read_to_string(out.join(file)).expect("generated file");
        let committed_path = root.join("src/gen").join(file);
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if fresh != committed {
            std::fs::write(&committed_path, fresh).expect("write generated code");
            stale.push(file);
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(stale.is_empty(), "generated code was stale and has been rewritten, commit it: {stale:?}");
}

fn tempdir(root: &Path) -> PathBuf {
    let dir = root.join("../target/proto-bootstrap");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
