//! Step 1 of the filter (docs/contracts.md): what the presented `constitutional-hash` header says about
//! a request. The comparison takes time that depends only on the configured hash's length, never
//! on how much of a presented value matches, so the hash cannot be guessed byte by byte.

/// The outcome of the hash check for one request: the wire enum, defined once in `acgs-proto`
/// with its labels (`valid`, `missing`, `mismatch`, `exempt`, `injected`). The check never
/// produces `Unspecified`, the wire's unset value.
pub use acgs_proto::telemetry::HashStatus;

/// Classifies the presented header value against the configured hash.
pub fn classify(presented: Option<&[u8]>, expected: &[u8]) -> HashStatus {
    match presented {
        None => HashStatus::Missing,
        Some(value) if constant_time_eq(value, expected) => HashStatus::Valid,
        Some(_) => HashStatus::Mismatch,
    }
}

/// Equality whose running time depends on `expected.len()` only.
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = usize::from(presented.len() != expected.len());
    for (index, expected_byte) in expected.iter().enumerate() {
        let presented_byte = presented.get(index).copied().unwrap_or(!expected_byte);
        difference |= usize::from(presented_byte ^ expected_byte);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests;
