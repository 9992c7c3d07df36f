# paysync as a container image: a static (musl) binary on distroless/static, which has
# CA certificates and a non-root user and nothing else.
#
#   docker build -t paysync:dev .
#   docker run --rm -v "$PWD:/work" -w /work paysync:dev plan manifests
#
# The release workflow builds it for linux/amd64 and linux/arm64 and pushes it to
# ghcr.io (README, "Releasing").

FROM rust:1.89-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin paysync \
    && install -m 0755 target/release/paysync /paysync

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="paysync" \
      org.opencontainers.image.description="Keep Bitrix24 pay-system settings in Git: plan and apply YAML manifests" \
      org.opencontainers.image.source="https://github.com/paysync/paysync" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /paysync /usr/local/bin/paysync
USER nonroot:nonroot
WORKDIR /work
ENTRYPOINT ["paysync"]
CMD ["--help"]
