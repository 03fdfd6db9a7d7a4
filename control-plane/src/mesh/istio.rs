//! What Istio makes of the rendered mesh-wide `Telemetry` resource for one proxy's Envoy tracing
//! (istio/istio `pilot/pkg/networking/core/tracing.go` `configureTracingFromTelemetry`): a
//! sidecar's inbound listener takes the tracing entry for SERVER mode, its outbound listener and
//! a gateway the entry for CLIENT mode (an entry without `match` serves both); the entry's
//! `randomSamplingPercentage` becomes the connection manager's `random_sampling` and its
//! `customTags` Envoy's custom tags (`header` → `request_header` with `defaultValue`, `literal`);
//! gateways also spawn an upstream span; the span's name is Istio's route decorator
//! `<host>:<port>/*` and its `service.name` the proxy's cluster `<app>.<namespace>`.

use acgs_wasm_host::{CustomTag, TracingConfig, TrafficDirection};
use serde_json::Value;

use crate::rollout::bundle::Manifest;

/// Which proxy, and which of its listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyRole {
    SidecarInbound,
    SidecarOutbound,
    Gateway,
}

/// The tracing of `role` for the workload `app` in `namespace`, whose requests go to `host` on
/// `port` (the route's decorator), from the render's mesh-wide Telemetry resource.
pub fn tracing_for(
    manifests: &[Manifest],
    role: ProxyRole,
    app: &str,
    namespace: &str,
    host: &str,
    port: u16,
) -> Result<TracingConfig, String> {
    let telemetry = manifests
        .iter()
        .map(|m| &m.value)
        .find(|v| {
            v["kind"] == "Telemetry" && v["metadata"]["namespace"] == "istio-system" && v["spec"]["selector"].is_null()
        })
        .ok_or("the render has no mesh-wide Telemetry resource in istio-system")?;
    let wanted = match role {
        ProxyRole::SidecarInbound => "SERVER",
        ProxyRole::SidecarOutbound | ProxyRole::Gateway => "CLIENT",
    };
    let entry = telemetry["spec"]["tracing"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|entry| {
            matches!(entry["match"]["mode"].as_str(), None | Some("CLIENT_AND_SERVER"))
                || entry["match"]["mode"] == wanted
        })
        .ok_or_else(|| format!("the Telemetry resource has no tracing entry for {wanted} mode"))?;
    let mut custom_tags = Vec::new();
    for (tag, source) in entry["customTags"].as_object().into_iter().flatten() {
        let custom = match (&source["header"], &source["literal"]) {
            (Value::Object(header), _) => CustomTag::RequestHeader {
                tag: tag.clone(),
                header: header.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                default_value: header.get("defaultValue").and_then(Value::as_str).map(str::to_owned),
            },
            (_, Value::Object(literal)) => CustomTag::Literal {
                tag: tag.clone(),
                value: literal.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
            },
            _ => return Err(format!("customTags.{tag}: only header and literal tags are modelled")),
        };
        custom_tags.push(custom);
    }
    let direction = match role {
        ProxyRole::SidecarInbound => TrafficDirection::Inbound,
        ProxyRole::SidecarOutbound | ProxyRole::Gateway => TrafficDirection::Outbound,
    };
    let upstream_cluster = match role {
        ProxyRole::SidecarInbound => format!("inbound|{port}||"),
        ProxyRole::SidecarOutbound | ProxyRole::Gateway => format!("outbound|{port}||{host}"),
    };
    Ok(TracingConfig {
        service_name: format!("{app}.{namespace}"),
        direction,
        random_sampling_percent: entry["randomSamplingPercentage"].as_f64().unwrap_or(0.0),
        spawn_upstream_span: role == ProxyRole::Gateway,
        operation: Some(format!("{host}:{port}/*")),
        upstream_cluster,
        custom_tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::render::{render, RenderOptions};

    #[test]
    fn inbound_sidecars_record_the_filters_headers_and_outbound_ones_nothing_of_ours() {
        let manifests = render(&RenderOptions::default()).expect("renders");
        let host = "service-a.acgs-system.svc.cluster.local";
        let inbound =
            tracing_for(&manifests, ProxyRole::SidecarInbound, "service-a", "acgs-system", host, 8080).expect("SERVER");
        assert_eq!(inbound.random_sampling_percent, 100.0);
        assert_eq!(inbound.service_name, "service-a.acgs-system");
        assert_eq!(inbound.operation.as_deref(), Some("service-a.acgs-system.svc.cluster.local:8080/*"));
        let tags: Vec<(&str, &str)> = inbound
            .custom_tags
            .iter()
            .map(|tag| match tag {
                CustomTag::RequestHeader { tag, header, default_value: None } => (tag.as_str(), header.as_str()),
                other => panic!("only header tags without defaults: {other:?}"),
            })
            .collect();
        assert_eq!(
            tags,
            [
                ("acgs.category", "x-acgs-category"),
                ("acgs.sampling.decision", "x-acgs-sampling-decision"),
                ("acgs.sampling.rule", "x-acgs-sampling-rule"),
                ("constitutional.compliant", "x-acgs-compliant"),
                ("constitutional.hash.status", "x-acgs-hash-status"),
            ]
        );
        let outbound = tracing_for(&manifests, ProxyRole::SidecarOutbound, "service-a", "acgs-system", host, 8080)
            .expect("CLIENT");
        assert!(outbound.custom_tags.is_empty());
        assert_eq!(outbound.direction, TrafficDirection::Outbound);
        let gateway = tracing_for(&manifests, ProxyRole::Gateway, "istio-ingressgateway", "istio-system", host, 8080)
            .expect("CLIENT");
        assert!(gateway.spawn_upstream_span && !outbound.spawn_upstream_span);
    }
}
