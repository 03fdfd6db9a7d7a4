//! What the filter establishes about each request, defined once for every crate: the hash status
//! (the wire enum [`HashStatus`]), the [`Category`] and the [`Compliance`] level (docs/contracts.md,
//! "Domain facts"). Programs carry them as these types; text appears only where a fact leaves a
//! program (metric labels, span tags, request headers, JSON), always spelled by `as_str` and read
//! back by `FromStr`:
//!
//! - [`HashStatus`]: `valid`, `missing`, `mismatch`, `exempt`, `injected`;
//! - [`Category`]: `constitutional`, `consensus`, `database`, `external_api`, `auth`, `health`,
//!   `other`;
//! - [`Compliance`]: `compliant`, `non_compliant`, `exempt`.
//!
//! `HashStatus::Unspecified` is the wire's unset value, not a status: it is in no `ALL`, no label
//! parses to it, and a batch carrying it is refused by the control plane.

use std::fmt;
use std::str::FromStr;

use crate::telemetry::HashStatus;

/// A label that names no value of the type it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLabel {
    /// What was parsed (`hash status`, `category`, `compliance`).
    pub kind: &'static str,
    pub label: String,
}

impl fmt::Display for UnknownLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.label)
    }
}

impl std::error::Error for UnknownLabel {}

/// `FromStr` and `Display` from a type's `ALL` and `as_str`.
macro_rules! labelled {
    ($type:ty, $kind:literal) => {
        impl FromStr for $type {
            type Err = UnknownLabel;

            fn from_str(label: &str) -> Result<Self, UnknownLabel> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == label)
                    .ok_or_else(|| UnknownLabel { kind: $kind, label: label.to_owned() })
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// === impl HashStatus ===

impl HashStatus {
    /// Every status a request can have, in the order of their wire values (`Valid` = 1 …
    /// `Injected` = 5), so a status's position here is its wire value minus one.
    pub const ALL: [HashStatus; 5] = [Self::Valid, Self::Missing, Self::Mismatch, Self::Exempt, Self::Injected];

    /// The label (`valid`, `missing`, `mismatch`, `exempt`, `injected`; `unspecified` for the
    /// wire's unset value, which no label parses back to).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Missing => "missing",
            Self::Mismatch => "mismatch",
            Self::Exempt => "exempt",
            Self::Injected => "injected",
            Self::Unspecified => "unspecified",
        }
    }

    /// Missing or mismatched: a constitutional violation.
    pub fn is_violation(self) -> bool {
        matches!(self, Self::Missing | Self::Mismatch)
    }

    /// The compliance level of a request with this status ([`Compliance::of`]).
    pub fn compliance(self) -> Compliance {
        Compliance::of(self)
    }
}

labelled!(HashStatus, "hash status");

// === impl Category ===

/// What a request is about (the filter's categorisation, first match wins: exempt paths are
/// `health`, the constitutional selector's matches `constitutional`, then path segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Constitutional,
    Consensus,
    Database,
    ExternalApi,
    Auth,
    Health,
    Other,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Self::Constitutional,
        Self::Consensus,
        Self::Database,
        Self::ExternalApi,
        Self::Auth,
        Self::Health,
        Self::Other,
    ];

    /// The label (`constitutional`, `consensus`, `database`, `external_api`, `auth`, `health`,
    /// `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Constitutional => "constitutional",
            Self::Consensus => "consensus",
            Self::Database => "database",
            Self::ExternalApi => "external_api",
            Self::Auth => "auth",
            Self::Health => "health",
            Self::Other => "other",
        }
    }
}

labelled!(Category, "category");

// === impl Compliance ===

/// Whether a request carried the constitutional hash: the split every compliance figure uses
/// (`acgs_constitutional_compliance_ratio`, the `ConstitutionalComplianceRate` alert, the
/// analysis), where exempt requests count on neither side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compliance {
    /// A valid or injected hash.
    Compliant,
    /// A missing or mismatched hash (a violation).
    NonCompliant,
    /// Not checked (an exempt path).
    Exempt,
}

impl Compliance {
    pub const ALL: [Compliance; 3] = [Self::Compliant, Self::NonCompliant, Self::Exempt];

    /// The level of a request with `status`: valid and injected are compliant, missing and
    /// mismatch non-compliant, exempt exempt. `Unspecified` (no status at all) counts on neither
    /// side either.
    pub fn of(status: HashStatus) -> Self {
        match status {
            HashStatus::Valid | HashStatus::Injected => Self::Compliant,
            HashStatus::Missing | HashStatus::Mismatch => Self::NonCompliant,
            HashStatus::Exempt | HashStatus::Unspecified => Self::Exempt,
        }
    }

    /// The label (`compliant`, `non_compliant`, `exempt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "compliant",
            Self::NonCompliant => "non_compliant",
            Self::Exempt => "exempt",
        }
    }
}

labelled!(Compliance, "compliance");

#[cfg(test)]
mod tests;
