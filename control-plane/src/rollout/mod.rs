//! The rollout: the embedded manifests of deploy/ ([`bundle`]), `render` with the operator's
//! values ([`render`]), the dependency-ordered plan ([`plan`]), `deploy`'s pre-flight
//! ([`preflight`]), `deploy --diff` ([`diff`]), `deploy` by server-side apply ([`apply`]), `verify` ([`verify`]), and
//! `uninstall` ([`uninstall`]).

pub mod apply;
pub mod bundle;
pub mod diff;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod uninstall;
pub mod verify;
