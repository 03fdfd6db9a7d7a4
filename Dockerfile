# The control plane image: ghcr.io/acgs/acgs-tracing (deploy/base/control-plane/deployment.yaml).
#   docker build -t ghcr.io/acgs/acgs-tracing:0.1.0 .
# Build stage: the toolchain of rust-toolchain.toml (with wasm32-wasip1, since the binary embeds
# the filter .wasm it serves). Built without the `wasm-runtime` feature: the image runs `serve`
# (and render, deploy, verify, analyze, validate), none of which runs the filter, so wasmtime is
# left out (binary 41.6 MB → 25.8 MB). `demo`, `dry-run` and `bench filter|pipeline` need the
# default build. Runtime: distroless, non-root, no shell.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p acgs-control-plane --no-default-features --bin acgs-tracing \
 && install -D target/release/acgs-tracing /out/acgs-tracing

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/acgs-tracing /usr/local/bin/acgs-tracing
USER 65532:65532
EXPOSE 5778 14250
ENTRYPOINT ["/usr/local/bin/acgs-tracing"]
CMD ["serve"]
