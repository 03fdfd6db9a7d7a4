//! Builds the filter, the no-op baseline filter and the gRPC callout test filter for
//! `wasm32-wasip1` with the workspace's
//! `wasm-release` profile, so that no command needs a manual build step. The nested cargo uses its
//! own target directory under OUT_DIR (the outer build holds the lock on the main one) and a
//! cleaned environment (the outer build's target, flags and features must not leak into it).
//! When the toolchain lacks the wasm target (rustup installs the targets of rust-toolchain.toml
//! only when it installs the toolchain itself), it is added with rustup first. A build on another
//! toolchain that cannot have the target (the fuzz crate's nightly) names a directory holding the
//! three modules, built beforehand with the workspace's toolchain, in `ACGS_PREBUILT_WASM_DIR`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip1";
const PROFILE: &str = "wasm-release";
/// A directory with the modules already built (see the module comment).
const PREBUILT_VAR: &str = "ACGS_PREBUILT_WASM_DIR";
/// (package, artifact file, env var carrying its path)
const ARTIFACTS: [(&str, &str, &str); 3] = [
    ("acgs-filter", "acgs_filter.wasm", "FILTER_WASM_PATH"),
    ("acgs-noop-filter", "acgs_noop_filter.wasm", "NOOP_FILTER_WASM_PATH"),
    ("acgs-grpc-callout-filter", "acgs_grpc_callout_filter.wasm", "GRPC_CALLOUT_FILTER_WASM_PATH"),
];
/// Variables cargo sets for this build script that must not reach the nested build.
const LEAKING_VARS: [&str; 12] = [
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("filter-artifacts lives in the workspace root").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("wasm-target");

    for watched in [
        "filter/src",
        "filter/Cargo.toml",
        "proto/src",
        "proto/Cargo.toml",
        "filter-artifacts/noop-filter",
        "filter-artifacts/grpc-callout-filter",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    println!("cargo:rerun-if-env-changed={PREBUILT_VAR}");
    let built_dir = match env::var_os(PREBUILT_VAR) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            for (_, file, _) in ARTIFACTS {
                println!("cargo:rerun-if-changed={}", dir.join(file).display());
            }
            dir
        }
        None => {
            ensure_wasm_target();
            build_wasm(&workspace, &target_dir);
            target_dir.join(WASM_TARGET).join(PROFILE)
        }
    };

    for (package, file, var) in ARTIFACTS {
        let built = built_dir.join(file);
        assert!(built.is_file(), "building {package} for {WASM_TARGET} did not produce {}", built.display());
        let embedded = out_dir.join(file);
        std::fs::copy(&built, &embedded)
            .unwrap_or_else(|error| panic!("copying {} to {}: {error}", built.display(), embedded.display()));
        println!("cargo:rustc-env={var}={}", embedded.display());
    }
}

fn cargo_command() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for var in LEAKING_VARS {
        command.env_remove(var);
    }
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_CFG_")
            || name.starts_with("CARGO_FEATURE_")
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name == "CARGO_PRIMARY_PACKAGE"
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}

fn build_wasm(workspace: &Path, target_dir: &Path) {
    let mut command = cargo_command();
    command.current_dir(workspace).env("CARGO_TARGET_DIR", target_dir).args([
        "build",
        "--target",
        WASM_TARGET,
        "--profile",
        PROFILE,
    ]);
    for (package, _, _) in ARTIFACTS {
        command.args(["-p", package]);
    }
    let status = command.status().unwrap_or_else(|error| panic!("running cargo to build the filter .wasm: {error}"));
    assert!(
        status.success(),
        "building the filter .wasm for {WASM_TARGET} failed ({status}); see the cargo output above"
    );
}

/// Adds the wasm target to the active toolchain when its standard library is missing.
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if let Some(sysroot) = &sysroot {
        if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
            return;
        }
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    let status = rustup.status().unwrap_or_else(|error| {
        panic!("the {WASM_TARGET} target is not installed and rustup could not be run to add it: {error}")
    });
    assert!(status.success(), "`rustup target add {WASM_TARGET}` failed ({status}); install the target and rebuild");
}
