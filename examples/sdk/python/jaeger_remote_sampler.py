"""An OpenTelemetry Python sampler that decides with Jaeger's own remote sampler.

OpenTelemetry Python ships no Jaeger remote sampler (docs/sdk.md). Jaeger's Python client does:
``jaeger_client.sampler.RemoteControlledSampler`` polls ``GET /sampling?service=<name>`` and
follows probabilistic, rate-limiting and per-operation strategies. This adapter hands it each
root span's trace id and name and turns its answer into an OpenTelemetry decision; wrap it in
``ParentBased`` so a span whose request came through a sidecar follows the filter's decision.
"""

from urllib.parse import urlsplit

from jaeger_client.local_agent_net import LocalAgentSender
from jaeger_client.sampler import ProbabilisticSampler, RemoteControlledSampler
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

# Jaeger's samplers read 64-bit trace ids; OpenTelemetry's are 128 bits, random in every bit.
_LOW_64_BITS = (1 << 64) - 1
# Jaeger's clients never send spans to this port here: the sender only carries the sampling poll.
_UNUSED_REPORTING_PORT = 6831


class JaegerRemoteSampler(Sampler):
    """Samples root spans as the control plane's strategy for ``service_name`` says."""

    def __init__(self, endpoint: str, service_name: str, poll_seconds: float = 60.0,
                 initial_rate: float = 1.0) -> None:
        address = urlsplit(endpoint)
        if address.scheme != "http" or not address.hostname or not address.port:
            raise ValueError(f"endpoint {endpoint!r}: give http://HOST:PORT of the control plane")
        channel = LocalAgentSender(host=address.hostname, sampling_port=address.port,
                                   reporting_port=_UNUSED_REPORTING_PORT)
        self._remote = RemoteControlledSampler(
            channel=channel,
            service_name=service_name,
            sampling_refresh_interval=poll_seconds,
            # Until the first answer arrives.
            init_sampler=ProbabilisticSampler(initial_rate),
        )
        self._service_name = service_name

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None,
                      links=None, trace_state=None) -> SamplingResult:
        sampled, tags = self._remote.is_sampled(trace_id & _LOW_64_BITS, name)
        if not sampled:
            return SamplingResult(Decision.DROP, None, trace_state)
        # As Jaeger's clients tag a sampled root span: which sampler kept it, with what parameter
        # (`sampler.type`, `sampler.param`).
        return SamplingResult(Decision.RECORD_AND_SAMPLE, dict(tags), trace_state)

    def get_description(self) -> str:
        return f"JaegerRemoteSampler{{{self._service_name}}}"
