//! Step 1 of the filter (DESIGN.md): what the presented `constitutional-hash` header says about
//! a request. The comparison takes time that depends only on the configured hash's length, never
//! on how much of a presented value matches, so the hash cannot be guessed byte by byte.

/// The outcome of the hash check for one request. The discriminants index
/// [`HashStatus::ALL`] (the glue keeps one Envoy counter per status in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashStatus {
    /// The header carries the configured hash.
    Valid,
    /// No header.
    Missing,
    /// A header with any other value (including an empty one).
    Mismatch,
    /// The path is exempt (health checks, metrics): not checked.
    Exempt,
    /// Missing, and added by the filter (inject mode).
    Injected,
}

impl HashStatus {
    pub const ALL: [HashStatus; 5] = [Self::Valid, Self::Missing, Self::Mismatch, Self::Exempt, Self::Injected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Missing => "missing",
            Self::Mismatch => "mismatch",
            Self::Exempt => "exempt",
            Self::Injected => "injected",
        }
    }

    /// Missing or mismatched: a constitutional violation.
    pub fn is_violation(self) -> bool {
        matches!(self, Self::Missing | Self::Mismatch)
    }
}

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
