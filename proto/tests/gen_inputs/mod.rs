//! The protos `src/gen/` is generated from, and their digests as `src/gen/inputs.sha256` records
//! them (one `<sha256>  <path>` line per proto): shared by the generator (`examples/generate.rs`)
//! and the test that compares them.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The protos, relative to the crate.
pub const PROTOS: [&str; 2] = ["proto/sampling.proto", "proto/telemetry.proto"];

/// The digest lines of the protos as they are now.
pub fn digest_lines(root: &Path) -> std::io::Result<String> {
    let mut lines = String::new();
    for proto in PROTOS {
        let bytes = std::fs::read(root.join(proto))?;
        let digest: String = Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
        lines.push_str(&format!("{digest}  {proto}\n"));
    }
    Ok(lines)
}
