//! `SamplingPolicy` custom resources: the resource ([`resource`]), its offline checks ([`check`]), how policies and the strategies
//! file are merged into what is served ([`merge`]), the controller that watches the policies,
//! serves the merge and reports each policy's outcome in its status and as events ([`controller`]),
//! and the Istio `Telemetry` it writes where a service's traces start ([`head_sampling`]).

pub mod check;
pub mod controller;
pub mod head_sampling;
pub mod merge;
pub mod resource;
