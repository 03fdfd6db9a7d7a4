"""An application instrumented as the ACGS seed services are (docs/sdk.md), whose spans follow the
per-service, per-operation and rate-limiting strategies of the control plane.

    ACGS_SAMPLER_URL=http://acgs-control-plane.acgs-system:5778 OTEL_SERVICE_NAME=groqcloud-policy python app.py

Every ACGS_ROUND_MS (500) it starts ACGS_TRACES (200) root spans of each operation below, with the
attributes the seed's instrumentation sets, and prints one JSON line: how many of each the sampler
kept, and the seconds since start. Nothing is exported: this shows the decisions, not a pipeline.
"""

import json
import os
import sys
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanKind

from jaeger_remote_sampler import JaegerRemoteSampler

HASH = "cdd01ef066bc6cf2"
# The seed's application spans: name, kind, attributes.
OPERATIONS = [
    ("constitutional.validate", SpanKind.INTERNAL,
     {"constitutional.hash": HASH, "acgs.category": "constitutional", "constitutional.hash.status": "valid"}),
    ("consensus.round", SpanKind.INTERNAL,
     {"constitutional.hash": HASH, "acgs.category": "consensus", "consensus.participants": 5}),
    ("db.query", SpanKind.CLIENT,
     {"db.system.name": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "policies"}),
    ("external.groq.completions", SpanKind.CLIENT,
     {"server.address": "api.groq.com", "http.request.method": "POST", "acgs.category": "external_api"}),
]


def main() -> None:
    endpoint = os.environ.get("ACGS_SAMPLER_URL", "http://localhost:5778")
    service = os.environ.get("OTEL_SERVICE_NAME", "groqcloud-policy")
    round_seconds = int(os.environ.get("ACGS_ROUND_MS", "500")) / 1000
    traces = int(os.environ.get("ACGS_TRACES", "200"))
    poll_seconds = int(os.environ.get("ACGS_POLL_MS", "60000")) / 1000

    remote = JaegerRemoteSampler(endpoint, service, poll_seconds=poll_seconds)
    provider = TracerProvider(sampler=ParentBased(root=remote))
    tracer = provider.get_tracer("acgs-sdk-example", "1.0.0")

    started = time.monotonic()
    round_number = 0
    while True:
        kept = {}
        for name, kind, attributes in OPERATIONS:
            kept[name] = 0
            for _ in range(traces):
                span = tracer.start_span(name, kind=kind, attributes=attributes)
                kept[name] += span.is_recording()
                span.end()
        round_number += 1
        line = {"round": round_number, "service": service, "kept": kept,
                "seconds": round(time.monotonic() - started, 3)}
        print(json.dumps(line), flush=True)
        time.sleep(round_seconds)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
