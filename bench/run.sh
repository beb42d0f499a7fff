#!/usr/bin/env bash
# Runs the benchmarks: installs what is missing, builds the release preset, then runs the
# keyed-counter worker benchmark with its raw-HTTP baseline. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release eddy-worker eddy_dev_kafka eddy-bench-function >/dev/null
exec /usr/bin/python3 bench/worker_bench.py "$@"
