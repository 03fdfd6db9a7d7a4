//! One module per subcommand, each a clap `Args` struct with `execute(self)`.

pub mod analyze;
pub mod bench;
pub mod demo;
pub mod dry_run;
pub mod serve;
pub mod validate;
