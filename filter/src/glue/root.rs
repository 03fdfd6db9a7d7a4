//! The root context of one VM: validates the plugin configuration in `on_configure` (a bad one is
//! refused with a log line naming the field, so Envoy rejects the plugin instead of failing
//! requests), resolves the workload name from Istio's node metadata, and hands every HTTP stream
//! a handle on the VM's decision engine.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::stats::FilterStats;
use super::stream::ConstitutionalStream;
use crate::config::FilterConfig;
use crate::decision::Engine;

/// Node-metadata keys Istio sets, in the order the workload name is taken from them.
const WORKLOAD_KEYS: [&str; 2] = ["WORKLOAD_NAME", "NAME"];

#[derive(Default)]
pub(super) struct FilterRoot {
    shared: Option<Rc<StreamShared>>,
}

/// What every stream of this VM shares.
pub(super) struct StreamShared {
    pub(super) config: Rc<FilterConfig>,
    pub(super) engine: RefCell<Engine>,
    pub(super) stats: Option<FilterStats>,
}

impl Context for FilterRoot {}

impl RootContext for FilterRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let config = match FilterConfig::from_json(&bytes) {
            Ok(config) => Rc::new(config),
            Err(error) => {
                log::error!("{error}");
                return false;
            }
        };
        let service = config.service.clone().unwrap_or_else(|| self.workload_name());
        let engine = Engine::new(Rc::clone(&config), &service, random_seed());
        log::info!(
            "acgs-constitutional-header configured: service={service} mode={} header={}",
            config.mode.as_str(),
            config.header
        );
        self.shared = Some(Rc::new(StreamShared {
            config,
            engine: RefCell::new(engine),
            stats: FilterStats::define(),
        }));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.as_ref()?;
        Some(Box::new(ConstitutionalStream::new(Rc::clone(shared))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl FilterRoot {
    /// Istio's WORKLOAD_NAME (or NAME) node metadata, under the current property path
    /// (`xds.node.metadata`) or the older one (`node.metadata`); "unknown" when neither is set.
    fn workload_name(&self) -> String {
        for key in WORKLOAD_KEYS {
            for prefix in [["xds", "node", "metadata"].as_slice(), ["node", "metadata"].as_slice()] {
                let mut path = prefix.to_vec();
                path.push(key);
                if let Some(value) = self.get_property(path) {
                    if let Ok(name) = String::from_utf8(value) {
                        if !name.is_empty() {
                            return name;
                        }
                    }
                }
            }
        }
        "unknown".to_owned()
    }
}

/// A random seed for span and trace ids: std's `RandomState` draws its keys from WASI
/// `random_get`, so hashing nothing with it yields a random u64 without another import.
fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}
