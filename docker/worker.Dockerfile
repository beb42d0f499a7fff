# eddy-worker image. Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t eddy-worker .
# Stage 1 builds with the project's own install script; stage 2 carries only runtime libraries.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN bash scripts/install-deps.sh \
 && cmake --preset release -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_BENCH=OFF \
 && cmake --build build/release --target eddy-worker eddy-coordinator eddy_dev_kafka \
      eddy-function-server eddy_example_functions

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka++1 librdkafka1 librocksdb7.8 libprotobuf32 libyaml-cpp0.7 libspdlog1.10 \
      libfmt9 libboost-system1.74.0 libgrpc++1.51 libgrpc29 libssl3 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/eddy --create-home eddy
COPY --from=build /src/build/release/bin/eddy-worker /usr/local/bin/eddy-worker
COPY --from=build /src/build/release/bin/eddy-dev-kafka /usr/local/bin/eddy-dev-kafka
COPY --from=build /src/build/release/bin/eddy-coordinator /usr/local/bin/eddy-coordinator
# The example C++ functions: embedded (library) and as a remote/sidecar server, same image.
COPY --from=build /src/build/release/lib/libeddy_example_functions.so /opt/eddy/lib/
COPY --from=build /src/build/release/bin/eddy-function-server /usr/local/bin/eddy-function-server
USER 10001
WORKDIR /var/lib/eddy
# Admin endpoint: /healthz /readyz /metrics.
EXPOSE 8558
ENTRYPOINT ["/usr/local/bin/eddy-worker"]
CMD ["--module", "/etc/eddy/module.yaml", "--config", "/etc/eddy/worker.yaml"]
