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
# backend shared by shards, metrics, the admin server, the SDK's multi-threaded HTTP server.
# (librdkafka, RocksDB and gRPC are not built with TSan; the tests that use them suppress reports
# inside those libraries; the Kafka tests run under ASan only.) grpc_test is not run here: under
# TSan it crashes in the sanitizer's own allocator and metadata (CHECK failures, SEGV in
# MetaMap, gRPC's detached threads reported as leaked) in about one run in five, inside
# uninstrumented gRPC/OpenSSL/protobuf code, while 150+ ASan runs of the same tests are clean.
# `EDDY_TSAN_GRPC=1 scripts/test.sh` runs it anyway.
if [ "$preset" = asan ]; then
  tsan_tests=(dispatch/dispatch state/state metrics/metrics admin/admin sdk/sdk_http_server)
  if [ "${EDDY_TSAN_GRPC:-0}" = 1 ]; then tsan_tests+=(grpc/grpc); fi
  targets=()
  for t in "${tsan_tests[@]}"; do targets+=("${t##*/}_test"); done
  bash scripts/build.sh tsan "${targets[@]}"
  for t in "${tsan_tests[@]}"; do
    echo "tsan: ${t##*/}_test"
    TSAN_OPTIONS=halt_on_error=1 "build/tsan/tests/unit/${t%%/*}/${t##*/}_test" --gtest_brief=1
  done
fi
# Container and Kubernetes files (linted offline; no Docker engine here).
bash scripts/lint-deploy.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "build/$preset" --output-on-failure --timeout 300 -j2
