//! An application on OpenTelemetry Python follows the control plane's strategies: the example app
//! of docs/sdk.md (`examples/sdk/python`, the seed's constitutional, consensus, database and
//! external API spans) samples its root spans with Jaeger's own Python remote sampler
//! (`jaeger-client`'s `RemoteControlledSampler`, pinned in requirements.txt) through a small
//! OpenTelemetry adapter, pointed at the real control plane on loopback. It keeps what the
//! per-operation and per-service strategies say, follows an edit, and, unlike the JS sampler,
//! holds a rate-limited service to its traces per second.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use acgs_e2e::schemas::workspace;
use acgs_e2e::sdk_app::{assert_per_operation_and_per_service, kept, SdkApp, StrategiesServer, OPERATIONS, RATE_LIMIT};
use serde_json::Value;

const INSTALL: &str = "apt-get install python3 python3-venv (scripts/test installs them)";

fn example_dir() -> PathBuf {
    workspace().join("examples/sdk/python")
}

/// A virtual environment with the pinned packages, made once and reused by later runs.
fn install_example() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-sdk-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let output = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .unwrap_or_else(|e| panic!("python3 cannot run ({e}); install it with: {INSTALL}"));
        assert!(
            output.status.success(),
            "python3 -m venv failed ({INSTALL}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"])
        .current_dir(example_dir())
        .output()
        .expect("pip runs");
    assert!(output.status.success(), "pip install failed:\n{}", String::from_utf8_lossy(&output.stderr));
    python
}

fn start_app(python: &PathBuf, service: &str, sampler_url: &str) -> SdkApp {
    let mut app = Command::new(python);
    app.arg("app.py").current_dir(example_dir());
    SdkApp::start(app, service, sampler_url, INSTALL)
}

fn total(round: &Value) -> u64 {
    OPERATIONS.iter().map(|operation| kept(&round["kept"], operation)).sum()
}

#[test]
fn the_python_example_app_samples_per_operation_per_service_and_rate_limited_and_follows_an_edit() {
    let python = install_example();
    let control_plane = StrategiesServer::start("python-sdk");
    let url = control_plane.url.clone();

    let policy = start_app(&python, "groqcloud-policy", &url);
    let core = start_app(&python, "constitutional-core", &url);
    assert_per_operation_and_per_service(&policy, &core);

    // Rate limiting: once the strategy arrives, every round of 800 root spans keeps only what the
    // credits earned since the round before allow, RATE_LIMIT per second (at most 2 saved up).
    let auth = start_app(&python, "auth-service", &url);
    let first =
        auth.round_where("the rate limit applied", |k| OPERATIONS.iter().map(|o| kept(k, o)).sum::<u64>() < 800);
    let started = first["seconds"].as_f64().expect("seconds");
    let (mut sampled, mut rounds) = (0, 0);
    let last = loop {
        let round = auth.round_where("another round", |_| true);
        sampled += total(&round);
        rounds += 1;
        if round["seconds"].as_f64().expect("seconds") - started >= 3.0 {
            break round;
        }
    };
    let elapsed = last["seconds"].as_f64().expect("seconds") - started;
    let allowed = RATE_LIMIT as f64 * elapsed;
    assert!(
        (allowed - 2.5..=allowed + 2.5).contains(&(sampled as f64)),
        "{sampled} kept of {} root spans in {elapsed:.2}s at {RATE_LIMIT}/s",
        rounds * 800
    );

    // An edit: the whole policy service at 100 %.
    control_plane.edit();
    let deadline = Instant::now() + Duration::from_secs(20);
    policy.round_where("every operation kept after the edit", |k| {
        assert!(Instant::now() < deadline, "the edit was not followed");
        OPERATIONS.iter().all(|operation| kept(k, operation) == 200)
    });
    drop((policy, core, auth));
    control_plane.stop();
}
