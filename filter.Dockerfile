# The filter as the OCI image Istio's WasmPlugin pulls: ghcr.io/acgs/acgs-filter
# (deploy/filter/wasmplugin/wasmplugin.yaml). Istio's Docker-compatible Wasm image layout: one
# layer holding the module as `plugin.wasm`, nothing else (https://istio.io/latest/docs/reference/config/proxy_extensions/wasm-plugin/).
#   docker build -f filter.Dockerfile -t ghcr.io/acgs/acgs-filter:0.1.0 .
# `acgs-tracing render` prints the module's sha256 (annotation tracing.acgs.io/filter-wasm-sha256);
# pin the image by digest with `render --filter-image ghcr.io/acgs/acgs-filter@sha256:<digest>`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup target add wasm32-wasip1 \
 && cargo build --locked -p acgs-filter --target wasm32-wasip1 --profile wasm-release

FROM scratch
COPY --from=build /src/target/wasm32-wasip1/wasm-release/acgs_filter.wasm ./plugin.wasm
