//! Exit codes, and the errors that choose them: a command returns one of these errors (wrapped in
//! `anyhow::Error`) to say how it failed, and [`code_of`] maps the error to the process's code.
//! Depends on nothing else of this crate, so every command and the server can use it.
//!
//! Exit codes: 0 success; 1 the command ran and found a failure (a check failed, a file is
//! invalid); 2 bad command line (clap); 64 (EX_USAGE) a configuration given on the command line is
//! invalid; 66 (EX_NOINPUT) an input file cannot be opened; 69 (EX_UNAVAILABLE) a server the command
//! needs cannot be reached; 70 (EX_SOFTWARE) an internal error.

use std::process::ExitCode;

/// A configuration given on the command line is invalid (exit code 64).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An input file cannot be opened (exit code 66).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoInput(pub String);

/// A server the command needs cannot be reached or answers something unusable (exit code 69).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// Exit code for a command that ran and found a failure.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for an invalid configuration (EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit code for an input file that cannot be opened (EX_NOINPUT).
pub const EXIT_NO_INPUT: u8 = 66;
/// Exit code for a server that cannot be reached (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code for an internal error (EX_SOFTWARE).
pub const EXIT_SOFTWARE: u8 = 70;

/// The exit code for a command's error: by the error type above it carries, EX_SOFTWARE for any
/// other.
pub fn code_of(error: &anyhow::Error) -> ExitCode {
    if error.downcast_ref::<UsageError>().is_some() {
        ExitCode::from(EXIT_USAGE)
    } else if error.downcast_ref::<NoInput>().is_some() {
        ExitCode::from(EXIT_NO_INPUT)
    } else if error.downcast_ref::<Unavailable>().is_some() {
        ExitCode::from(EXIT_UNAVAILABLE)
    } else {
        ExitCode::from(EXIT_SOFTWARE)
    }
}
