//! No code. Depending on this crate turns on, in the control plane's build, the dependency
//! features that the test suite's crates turn on (see `Cargo.toml`), so that
//! `cargo test --release --workspace` after `cargo run --release -p acgs-control-plane` compiles
//! only the tests and the crates only they use.
