//! The end-to-end tests, one module per capability, in one test binary (tests/Cargo.toml says
//! why).

mod alerts_fire_and_resolve;
mod analysis_sources;
mod elasticsearch_security;
mod filter_hostile_input;
mod filter_in_host;
mod grpc_callouts_in_host;
mod html_report_in_chromium;
mod js_sdk_sampler;
mod manifests_validate;
mod mesh_sampling;
mod otel_sdk_remote_sampler;
mod policy_controller;
mod production_manifests;
mod prometheus_alertmanager;
mod python_sdk_sampler;
mod rollout;
mod sampling_follows_the_control_plane;
mod sampling_server;
mod scale_out_manifests;
mod telemetry_exact_counts;
mod telemetry_ingest;
mod telemetry_otlp_export;
mod telemetry_replicas;
