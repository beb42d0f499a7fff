#!/usr/bin/env bash
# Runs the benchmarks: installs what is missing, builds the release preset, then runs
#   worker  bench/worker_bench.py: keyed counter through Kafka + remote HTTP vs raw HTTP (wrk)
#   styles  bench/styles_bench.py: embedded / Kafka / remote HTTP, gRPC, unix socket vs baselines
# Usage: bench/run.sh [worker|styles|all] [options of that script]   (default: all, no options)
# See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
[ $# -gt 0 ] && shift
bash scripts/install-deps.sh
bash scripts/build.sh release eddy-worker eddy_dev_kafka eddy-bench-function eddy-function-server \
  eddy_example_functions >/dev/null
case "$which" in
  worker) exec /usr/bin/python3 bench/worker_bench.py "$@" ;;
  styles) exec /usr/bin/python3 bench/styles_bench.py "$@" ;;
  all)
    /usr/bin/python3 bench/worker_bench.py
    exec /usr/bin/python3 bench/styles_bench.py ;;
  *) echo "usage: bench/run.sh [worker|styles|all] [options]" >&2; exit 2 ;;
esac
