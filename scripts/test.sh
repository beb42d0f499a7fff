#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with ASan+UBSan (preset "asan"), and
# runs every test (unit, integration over loopback sockets, the Python example's tests).
# EDDY_TEST_PRESET=release|tsan picks another build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
preset=${EDDY_TEST_PRESET:-asan}
bash scripts/build.sh "$preset"
# ThreadSanitizer where threads meet: shards and their inbox/progress/flow counters, the state
# backend shared by shards, metrics, the admin server, gRPC completions handed to shard threads,
# the SDK's multi-threaded HTTP server. (librdkafka, RocksDB and gRPC are not built with TSan;
# the tests that use them suppress reports inside those libraries; the Kafka tests run under
# ASan only.)
if [ "$preset" = asan ]; then
  bash scripts/build.sh tsan dispatch_test state_test metrics_test admin_test grpc_test \
    sdk_http_server_test
  for t in dispatch/dispatch state/state metrics/metrics admin/admin grpc/grpc \
           sdk/sdk_http_server; do
    echo "tsan: ${t##*/}_test"
    TSAN_OPTIONS=halt_on_error=1 "build/tsan/tests/unit/${t%%/*}/${t##*/}_test" --gtest_brief=1
  done
fi
# Container and Kubernetes files (linted offline; no Docker engine here).
bash scripts/lint-deploy.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "build/$preset" --output-on-failure --timeout 300 -j2
