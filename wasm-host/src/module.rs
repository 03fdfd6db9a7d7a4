//! A compiled filter: the module checked for the proxy-wasm ABI it declares, every import
//! resolved (the ones this host does not support answer `Unimplemented`, as Envoy's do), and
//! pre-linked so a VM per worker instantiates cheaply.

use std::path::Path;
use std::sync::Arc;

use wasmtime::{Config, Engine, InstancePre, Module, ProfilingStrategy};

use crate::error::HostError;
use crate::hostcalls;
use crate::state::VmState;

/// The proxy-wasm ABI versions Envoy accepts, by their marker export.
const ABI_MARKERS: [&str; 2] = ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"];

/// The environment variable that turns on wasmtime's perf map (`/tmp/perf-<pid>.map`), so that
/// `perf record` names the filter's functions: `ACGS_WASM_PROFILER=perfmap` (docs/performance.md).
pub const PROFILER_ENV: &str = "ACGS_WASM_PROFILER";

fn engine_config() -> Config {
    let mut config = Config::new();
    if std::env::var(PROFILER_ENV).is_ok_and(|value| value == "perfmap") {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    config
}

/// A compiled, linked proxy-wasm module. Cheap to clone.
#[derive(Clone)]
pub struct FilterModule {
    inner: Arc<Compiled>,
}

struct Compiled {
    engine: Engine,
    pre: InstancePre<VmState>,
    wasm_len: usize,
    abi_version: &'static str,
}

impl std::fmt::Debug for FilterModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterModule")
            .field("wasm_bytes", &self.inner.wasm_len)
            .field("abi_version", &self.inner.abi_version)
            .finish()
    }
}

impl FilterModule {
    /// Compiles and links a module from its bytes.
    pub fn from_bytes(wasm: &[u8]) -> Result<Self, HostError> {
        let engine = Engine::new(&engine_config()).map_err(|error| invalid(format!("{error:#}")))?;
        let module = Module::new(&engine, wasm).map_err(|error| invalid(format!("{error:#}")))?;
        let abi_version = ABI_MARKERS
            .into_iter()
            .find(|marker| module.get_export(marker).is_some())
            .ok_or_else(|| invalid("no proxy_abi_version_0_2_1 export: not a proxy-wasm 0.2.x module".to_owned()))?;
        for required in ["memory", "proxy_on_context_create"] {
            if module.get_export(required).is_none() {
                return Err(invalid(format!("the module does not export `{required}`")));
            }
        }
        if module.get_export("proxy_on_memory_allocate").is_none() && module.get_export("malloc").is_none() {
            return Err(invalid("the module exports neither `proxy_on_memory_allocate` nor `malloc`".to_owned()));
        }
        let linker = hostcalls::linker(&engine, &module).map_err(|error| invalid(format!("{error:#}")))?;
        let pre = linker.instantiate_pre(&module).map_err(|error| invalid(format!("{error:#}")))?;
        Ok(Self { inner: Arc::new(Compiled { engine, pre, wasm_len: wasm.len(), abi_version }) })
    }

    /// Reads and compiles a .wasm file.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let bytes =
            std::fs::read(path).map_err(|source| HostError::Read { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes)
    }

    /// The size of the .wasm this module was compiled from.
    pub fn wasm_bytes_len(&self) -> usize {
        self.inner.wasm_len
    }

    /// The ABI version marker the module exports.
    pub fn abi_version(&self) -> &'static str {
        self.inner.abi_version
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<VmState> {
        &self.inner.pre
    }
}

fn invalid(reason: String) -> HostError {
    HostError::InvalidModule { reason }
}
