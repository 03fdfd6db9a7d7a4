//! The host functions a proxy-wasm module imports, one module per concern, and the linker that
//! resolves every import of a module: the ABI functions Envoy implements behave as Envoy's do
//! (HTTP and gRPC callouts included); any other `env.proxy_*` function (network-filter calls,
//! future ABI additions) answers `Unimplemented`, as Envoy's unsupported calls do; any other WASI
//! function answers `ENOSYS`. An import outside those namespaces makes the module invalid, as it
//! would in Envoy.

mod callouts;
mod grpc;
mod logging;
mod maps;
mod properties;
mod shared;
mod stream_control;
mod wasi;

use std::collections::HashSet;

use wasmtime::{Engine, ExternType, IntoFunc, Linker, Module, Val, ValType};

use crate::abi::{errno, status};
use crate::state::VmState;

pub(crate) const ENV: &str = "env";
pub(crate) const WASI: &str = "wasi_snapshot_preview1";

/// Defines host functions and remembers which.
pub(crate) struct Registrar {
    linker: Linker<VmState>,
    defined: HashSet<(String, String)>,
}

impl Registrar {
    pub(crate) fn wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<VmState, Params, Results>,
    ) -> wasmtime::Result<()> {
        self.linker.func_wrap(module, name, func)?;
        self.defined.insert((module.to_owned(), name.to_owned()));
        Ok(())
    }
}

/// A linker for `module`: every import resolved or an error naming the one that cannot be.
pub(crate) fn linker(engine: &Engine, module: &Module) -> wasmtime::Result<Linker<VmState>> {
    let mut registrar = Registrar { linker: Linker::new(engine), defined: HashSet::new() };
    logging::register(&mut registrar)?;
    maps::register(&mut registrar)?;
    properties::register(&mut registrar)?;
    shared::register(&mut registrar)?;
    stream_control::register(&mut registrar)?;
    callouts::register(&mut registrar)?;
    grpc::register(&mut registrar)?;
    wasi::register(&mut registrar)?;
    let Registrar { mut linker, defined } = registrar;
    for import in module.imports() {
        let key = (import.module().to_owned(), import.name().to_owned());
        if defined.contains(&key) {
            continue;
        }
        let ExternType::Func(ty) = import.ty() else {
            wasmtime::bail!("unsupported import {}.{}: only functions can be imported", key.0, key.1);
        };
        let answer = match key.0.as_str() {
            ENV if key.1.starts_with("proxy_") => status::UNIMPLEMENTED,
            WASI => errno::NOSYS,
            _ => wasmtime::bail!("missing import {}.{}: not part of the proxy-wasm ABI or WASI", key.0, key.1),
        };
        let results: Vec<ValType> = ty.results().collect();
        tracing::debug!(module = %key.0, name = %key.1, "import not supported by the host: answers {answer}");
        linker.func_new(import.module(), import.name(), ty, move |_caller, _params, out| {
            for (slot, kind) in out.iter_mut().zip(&results) {
                *slot = match kind {
                    ValType::I64 => Val::I64(i64::from(answer)),
                    ValType::F32 => Val::F32(0),
                    ValType::F64 => Val::F64(0),
                    _ => Val::I32(answer),
                };
            }
            Ok(())
        })?;
    }
    Ok(linker)
}
