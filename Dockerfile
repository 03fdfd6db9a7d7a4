# The control plane image: ghcr.io/acgs/acgs-tracing (deploy/base/control-plane/deployment.yaml).
#   docker build -t ghcr.io/acgs/acgs-tracing:0.1.0 .
# Build stage: the toolchain of rust-toolchain.toml (with wasm32-wasip1, since the binary embeds
# the filter .wasm it serves and runs in its demo). Runtime: distroless, non-root, no shell.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p acgs-control-plane --bin acgs-tracing \
 && install -D target/release/acgs-tracing /out/acgs-tracing

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/acgs-tracing /usr/local/bin/acgs-tracing
USER 65532:65532
EXPOSE 5778 14250
ENTRYPOINT ["/usr/local/bin/acgs-tracing"]
CMD ["serve"]
