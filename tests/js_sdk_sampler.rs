//! An application on OpenTelemetry JS follows the control plane's strategies: the example app of
//! docs/sdk.md (`examples/sdk/node`, the seed's constitutional, consensus, database and external
//! API spans) with the unmodified `@opentelemetry/sampler-jaeger-remote`, pointed at the real
//! control plane on loopback, keeps what the per-service and per-operation strategies say and
//! follows an edit of the strategies file. Its sampler does not implement rate limiting (it keeps
//! its previous sampler and logs "not supported"): the test pins that, as docs/sdk.md tells users.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use acgs_e2e::schemas::workspace;
use acgs_e2e::sdk_app::{assert_per_operation_and_per_service, kept, SdkApp, StrategiesServer, OPERATIONS};

const INSTALL: &str = "apt-get install nodejs npm (scripts/test installs them)";

fn example_dir() -> PathBuf {
    workspace().join("examples/sdk/node")
}

/// `npm ci` once per run of this test binary (the lock file pins every package).
fn install_example() {
    for tool in ["node", "npm"] {
        let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is not installed; install it with: {INSTALL}");
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(example_dir())
        .output()
        .expect("npm runs");
    assert!(output.status.success(), "npm ci failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn start_app(service: &str, sampler_url: &str) -> SdkApp {
    let mut node = Command::new("node");
    node.arg("app.mjs").current_dir(example_dir());
    SdkApp::start(node, service, sampler_url, INSTALL)
}

#[test]
fn the_js_example_app_samples_per_service_and_per_operation_and_follows_an_edit() {
    install_example();
    let control_plane = StrategiesServer::start("js-sdk");
    let url = control_plane.url.clone();

    let policy = start_app("groqcloud-policy", &url);
    let core = start_app("constitutional-core", &url);
    assert_per_operation_and_per_service(&policy, &core);

    // An edit: the whole service at 100 %.
    control_plane.edit();
    policy.round_where("every operation kept after the edit", |k| {
        OPERATIONS.iter().all(|operation| kept(k, operation) == 200)
    });

    // Rate limiting is not implemented by this sampler: it stays on its initial AlwaysOn.
    let auth = start_app("auth-service", &url);
    acgs_e2e::wait_until("the JS sampler asks for auth-service's strategy", Duration::from_secs(20), || {
        let asked = acgs_e2e::metric_sum(
            control_plane.server.http_addr,
            "acgs_sampling_requests_total{service=\"auth-service\"}",
        );
        if asked >= 3 {
            Ok(())
        } else {
            Err(format!("{asked} requests"))
        }
    });
    auth.round_where("a round after the strategy was fetched", |_| true);
    let round = auth.round_where("the round after that", |_| true);
    assert_eq!(kept(&round["kept"], "db.query"), 200, "RATE_LIMITING is not applied by the JS sampler: {round}");
    drop((policy, core, auth));
    control_plane.stop();
}
