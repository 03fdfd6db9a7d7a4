// An application instrumented as the ACGS seed services are (docs/sdk.md), whose spans follow
// the per-service and per-operation strategies of the control plane through OpenTelemetry JS's
// Jaeger remote sampler.
//
//   ACGS_SAMPLER_URL=http://acgs-control-plane.acgs-system:5778 OTEL_SERVICE_NAME=groqcloud-policy node app.mjs
//
// Every ACGS_ROUND_MS (500) it starts ACGS_TRACES (200) root spans of each operation below, with
// the attributes the seed's instrumentation sets, and prints one JSON line: how many of each the
// sampler kept. Nothing is exported: this shows the decisions, not a pipeline.
import { trace, SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { JaegerRemoteSampler } from '@opentelemetry/sampler-jaeger-remote';

const endpoint = process.env.ACGS_SAMPLER_URL ?? 'http://localhost:5778';
const serviceName = process.env.OTEL_SERVICE_NAME ?? 'groqcloud-policy';
const roundMs = Number(process.env.ACGS_ROUND_MS ?? 500);
const traces = Number(process.env.ACGS_TRACES ?? 200);

const sampler = new JaegerRemoteSampler({
  endpoint, // the sampler asks `${endpoint}/sampling?service=<serviceName>`
  serviceName,
  poolingInterval: Number(process.env.ACGS_POLL_MS ?? 60000),
  initialSampler: new AlwaysOnSampler(), // until the first answer: keep everything
});
const provider = new BasicTracerProvider({ sampler });
const tracer = provider.getTracer('acgs-sdk-example', '1.0.0');

const HASH = 'cdd01ef066bc6cf2';
// The seed's application spans: name, kind, attributes.
const OPERATIONS = [
  ['constitutional.validate', SpanKind.INTERNAL,
    { 'constitutional.hash': HASH, 'acgs.category': 'constitutional', 'constitutional.hash.status': 'valid' }],
  ['consensus.round', SpanKind.INTERNAL,
    { 'constitutional.hash': HASH, 'acgs.category': 'consensus', 'consensus.participants': 5 }],
  ['db.query', SpanKind.CLIENT,
    { 'db.system.name': 'postgresql', 'db.operation.name': 'SELECT', 'db.collection.name': 'policies' }],
  ['external.groq.completions', SpanKind.CLIENT,
    { 'server.address': 'api.groq.com', 'http.request.method': 'POST', 'acgs.category': 'external_api' }],
];

let round = 0;
setInterval(() => {
  const kept = {};
  for (const [name, kind, attributes] of OPERATIONS) {
    kept[name] = 0;
    for (let i = 0; i < traces; i++) {
      const span = tracer.startSpan(name, { kind, attributes });
      if (span.isRecording()) kept[name] += 1;
      span.end();
    }
  }
  round += 1;
  console.log(JSON.stringify({ round, service: serviceName, kept }));
}, roundMs);
