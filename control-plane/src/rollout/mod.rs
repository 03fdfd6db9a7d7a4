//! The rollout: the embedded manifests of deploy/ ([`bundle`]), `render` with the operator's
//! values ([`render`]), the dependency-ordered plan ([`plan`]), `deploy` by server-side apply
//! ([`apply`]), and `verify` ([`verify`]).

pub mod apply;
pub mod bundle;
pub mod plan;
pub mod render;
pub mod verify;
