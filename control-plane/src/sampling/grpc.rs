//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy` over gRPC, with the same strategies as the
//! HTTP endpoints: what Jaeger's collector serves on its gRPC port and the OTel Collector's
//! `jaeger_remote_sampling` extension and SDK samplers ask for.

use std::sync::Arc;

use acgs_proto::jaeger::api_v2::sampling_manager_server::SamplingManager;
use acgs_proto::jaeger::api_v2::{SamplingStrategyParameters, SamplingStrategyResponse};
use tonic::{Request, Response, Status};

use super::metrics::SamplingMetrics;
use super::store::StrategyStore;

#[derive(Debug, Clone)]
pub struct SamplingGrpc {
    pub store: Arc<StrategyStore>,
    pub metrics: SamplingMetrics,
}

#[tonic::async_trait]
impl SamplingManager for SamplingGrpc {
    async fn get_sampling_strategy(
        &self,
        request: Request<SamplingStrategyParameters>,
    ) -> Result<Response<SamplingStrategyResponse>, Status> {
        let service = request.into_inner().service_name;
        super::check_service_name("serviceName", &service).map_err(Status::invalid_argument)?;
        let set = self.store.current().ok_or_else(|| Status::unavailable("no valid sampling strategies loaded yet"))?;
        self.metrics.request(&service, set.knows(&service));
        Ok(Response::new(set.lookup(&service).response.clone()))
    }
}
