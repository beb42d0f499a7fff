#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with ASan+UBSan (preset "asan"), and
# runs every test (unit, integration over loopback sockets, the Python example's tests).
# EDDY_TEST_PRESET=release|tsan picks another build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
preset=${EDDY_TEST_PRESET:-asan}
bash scripts/build.sh "$preset"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "build/$preset" --output-on-failure --timeout 300 -j2
# Container and Kubernetes files (linted offline; no Docker engine here).
bash scripts/lint-deploy.sh
