//! `deploy`'s pre-flight, before anything is applied: the custom resource definitions the plan
//! uses but does not bring (Istio's, prometheus-operator's) are installed and serve the version
//! the manifests use; the caller may patch every resource the plan writes
//! (`SelfSubjectAccessReview`, as `kubectl auth can-i patch` asks); and which Istio runs
//! (istiod's image in `istio-system`, for the record). A failed check stops the deploy with the
//! whole table, so nothing is half-applied for a reason known in advance.

use std::collections::BTreeSet;

use kube::api::GroupVersionKind;
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::{json, Value};

use super::plan::Step;

/// API groups every cluster serves without a CRD.
const BUILT_IN_GROUPS: &[&str] = &["", "apps", "batch", "policy", "rbac.authorization.k8s.io", "apiextensions.k8s.io"];

/// One line of the pre-flight table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub check: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Worth knowing; does not stop the deploy.
    Note,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Note => "note",
            Outcome::Fail => "fail",
        }
    }
}

/// The API server could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("the Kubernetes API server cannot be reached for the pre-flight ({what}): {error}")]
pub struct Unreachable {
    what: String,
    error: kube::Error,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn is_api_error(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(_))
}

/// Runs every check; only an unreachable API server is an error.
pub async fn preflight(client: &Client, steps: &[Step]) -> Result<Vec<Check>, Unreachable> {
    let mut checks = crd_checks(client, steps).await?;
    checks.extend(permission_checks(client, steps).await?);
    checks.push(istio_version(client).await?);
    Ok(checks)
}

/// (CRD name, version) of every kind the plan applies but neither the cluster nor the plan brings.
fn required_crds(steps: &[Step]) -> BTreeSet<(String, String)> {
    let brought: BTreeSet<&str> =
        steps.iter().filter(|s| s.kind() == "CustomResourceDefinition").map(|s| s.name.as_str()).collect();
    steps
        .iter()
        .filter(|s| !BUILT_IN_GROUPS.contains(&s.resource.group.as_str()))
        .map(|s| (format!("{}.{}", s.resource.plural, s.resource.group), s.resource.version.clone()))
        .filter(|(name, _)| !brought.contains(name.as_str()))
        .collect()
}

async fn crd_checks(client: &Client, steps: &[Step]) -> Result<Vec<Check>, Unreachable> {
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions"),
    );
    let mut checks = Vec::new();
    for (name, version) in required_crds(steps) {
        let check = format!("CRD {name} ({version})");
        let found = match crds.get_opt(&name).await {
            Ok(found) => found,
            Err(error) if is_api_error(&error) => {
                checks.push(Check { check, outcome: Outcome::Fail, detail: format!("cannot read it: {error}") });
                continue;
            }
            Err(error) => return Err(Unreachable { what: format!("reading {name}"), error }),
        };
        let (outcome, detail) = match found {
            None => (Outcome::Fail, format!("not installed: {}", install_hint(&name))),
            Some(crd) if serves(&crd.data, &version) => (Outcome::Pass, format!("installed, serves {version}")),
            Some(_) => {
                (Outcome::Fail, format!("installed but does not serve {version}: upgrade it ({})", install_hint(&name)))
            }
        };
        checks.push(Check { check, outcome, detail });
    }
    Ok(checks)
}

fn serves(crd: &Value, version: &str) -> bool {
    crd["spec"]["versions"]
        .as_array()
        .is_some_and(|versions| versions.iter().any(|v| v["name"] == version && v["served"].as_bool().unwrap_or(true)))
}

fn install_hint(crd: &str) -> &'static str {
    if crd.ends_with(".istio.io") {
        "install Istio 1.22 or later (istioctl install)"
    } else if crd.ends_with("monitoring.coreos.com") {
        "install prometheus-operator (kube-prometheus-stack), or leave out deploy/base/monitoring"
    } else {
        "install the operator that owns it"
    }
}

async fn permission_checks(client: &Client, steps: &[Step]) -> Result<Vec<Check>, Unreachable> {
    let reviews: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews"),
    );
    let targets: BTreeSet<(String, String, String)> = steps
        .iter()
        .map(|s| (s.resource.group.clone(), s.resource.plural.clone(), s.namespace.clone().unwrap_or_default()))
        .collect();
    let mut checks = Vec::new();
    for (group, resource, namespace) in targets {
        let what = match (group.as_str(), namespace.as_str()) {
            ("", "") => resource.clone(),
            ("", ns) => format!("{resource} in {ns}"),
            (g, "") => format!("{resource}.{g}"),
            (g, ns) => format!("{resource}.{g} in {ns}"),
        };
        let review: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {"resourceAttributes": {"verb": "patch", "group": group, "resource": resource, "namespace": namespace}}
        }))
        .map_err(|e| Unreachable { what: what.clone(), error: kube::Error::SerdeError(e) })?;
        let answer = match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) => answer,
            Err(error) if is_api_error(&error) => {
                checks.push(Check {
                    check: format!("may patch {what}"),
                    outcome: Outcome::Fail,
                    detail: format!("the access review was refused: {error}"),
                });
                continue;
            }
            Err(error) => return Err(Unreachable { what: format!("asking whether it may patch {what}"), error }),
        };
        let status = &answer.data["status"];
        let allowed = status["allowed"].as_bool().unwrap_or(false);
        let reason = status["reason"].as_str().filter(|r| !r.is_empty()).unwrap_or("no rule allows it");
        checks.push(Check {
            check: format!("may patch {what}"),
            outcome: if allowed { Outcome::Pass } else { Outcome::Fail },
            detail: if allowed { "allowed".to_owned() } else { format!("denied: {reason}") },
        });
    }
    Ok(checks)
}

async fn istio_version(client: &Client) -> Result<Check, Unreachable> {
    let deployments: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "istio-system", &resource("apps", "v1", "Deployment", "deployments"));
    let check = "Istio control plane".to_owned();
    match deployments.get_opt("istiod").await {
        Ok(Some(istiod)) => {
            let image = istiod.data["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or("?");
            Ok(Check { check, outcome: Outcome::Pass, detail: format!("istio-system/istiod runs {image}") })
        }
        Ok(None) => Ok(Check {
            check,
            outcome: Outcome::Note,
            detail: "no istiod Deployment in istio-system (a revisioned or external control plane?): the filter \
                     needs Istio 1.22 or later"
                .to_owned(),
        }),
        Err(error) if is_api_error(&error) => {
            Ok(Check { check, outcome: Outcome::Note, detail: format!("cannot read istio-system/istiod: {error}") })
        }
        Err(error) => Err(Unreachable { what: "reading istio-system/istiod".to_owned(), error }),
    }
}

#[cfg(test)]
mod tests {
    use super::required_crds;
    use crate::rollout::plan::plan;
    use crate::rollout::render::{render, RenderOptions};

    #[test]
    fn the_default_rollout_needs_istio_and_prometheus_operator_crds_but_not_its_own() {
        let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");
        let needed: Vec<String> =
            required_crds(&steps).into_iter().map(|(name, version)| format!("{name}/{version}")).collect();
        assert_eq!(
            needed,
            [
                "destinationrules.networking.istio.io/v1",
                "peerauthentications.security.istio.io/v1",
                "podmonitors.monitoring.coreos.com/v1",
                "prometheusrules.monitoring.coreos.com/v1",
                "telemetries.telemetry.istio.io/v1",
                "wasmplugins.extensions.istio.io/v1alpha1",
            ]
        );
    }
}
