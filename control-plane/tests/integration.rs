//! The control plane's integration tests, one module per file, in one test binary
//! (control-plane/Cargo.toml says why).

mod cli;
mod crd;
mod dry_run;
mod metric_families;
mod prometheus_rule;
mod rollout_cli;
