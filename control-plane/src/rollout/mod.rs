//! The rollout: the embedded manifests of deploy/ ([`bundle`]), `render` with the operator's
//! values ([`render`]) and generated secrets ([`elasticsearch_secrets`]), the dependency-ordered plan ([`plan`]), `deploy`'s pre-flight
//! ([`preflight`]), `deploy --diff` ([`diff`]), `deploy` by server-side apply ([`apply`]), `verify` ([`verify`]), and
//! `uninstall` ([`uninstall`]).

pub mod apply;
pub mod bundle;
pub mod diff;
pub mod elasticsearch_secrets;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod uninstall;
pub mod verify;
