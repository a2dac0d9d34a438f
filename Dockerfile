# bsodwatch for the Linux roles: `run` (all-in-one), `fetch`, `notify` (and `analyze` with the
# native engine; cdb needs Windows). Multi-stage: a static binary on distroless, non-root.
#
#   docker build -t bsodwatch .
#   docker run -d --name bsodwatch -p 9464:9464 \
#     -v bsodwatch-data:/data -v "$PWD/config:/config:ro" \
#     -e BSODWATCH_CONFIG=/config/bsodwatch.yaml bsodwatch
#
# /data holds the embedded NATS store, the local fleet and dump share (see docs/deploy.md).
# Without BSODWATCH_CONFIG (or --config) the built-in defaults apply.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o /out/bsodwatch ./cmd/bsodwatch \
 && mkdir -p /out/data /out/config

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bsodwatch /usr/local/bin/bsodwatch
# Owned by the image's non-root user (65532), so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/config /config
USER 65532:65532
ENV BSODWATCH_LOG_FORMAT=json
VOLUME ["/data"]
# 9464: /metrics, /healthz (and the web console with a web config). 4222: the embedded NATS, when nats.embedded.listen is set.
EXPOSE 9464 4222
ENTRYPOINT ["/usr/local/bin/bsodwatch"]
# The web console needs --web.config.file off loopback (docs/web.md); without one the image
# runs the pipeline roles only.
CMD ["run", "--data", "/data", "--metrics", ":9464", "--roles", "analyzer,notifier,fetcher"]
