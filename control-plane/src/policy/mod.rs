//! `SamplingPolicy` custom resources: the resource ([`resource`]), its offline checks ([`check`]), how policies and the strategies
//! file are merged into what is served ([`merge`]), and the controller that watches the policies,
//! serves the merge and reports each policy's outcome in its status and as events ([`controller`]).

pub mod check;
pub mod controller;
pub mod merge;
pub mod resource;
