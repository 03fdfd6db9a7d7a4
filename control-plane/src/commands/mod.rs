//! One module per subcommand, each a clap `Args` struct with `execute(self)`.

pub mod analyze;
pub mod args;
pub mod bench;
#[cfg(feature = "wasm-runtime")]
pub mod demo;
pub mod deploy;
#[cfg(feature = "wasm-runtime")]
pub mod dry_run;
pub mod progress;
pub mod render;
pub mod rollout_args;
pub mod serve;
pub mod uninstall;
pub mod validate;
pub mod verify;
