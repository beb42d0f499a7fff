#!/usr/bin/env bash
# Raw request rate of the benchmark function server (eddy-bench-function) under wrk over
# loopback, with realistic ToFunction bodies. This is the ceiling a runtime's HTTP invoker can
# reach against that function on this machine.
#
#   bench/raw_http.sh [extra wrk args...]
# Environment (defaults in brackets):
#   EDDY_BENCH_FUNCTION  path of eddy-bench-function [build/release/bin/eddy-bench-function]
#   SERVER_THREADS [1]  WRK_THREADS [1]  WRK_CONNECTIONS [64]  WRK_DURATION [10s]
#   EGRESS_EVERY [0]: make every Nth invocation also emit a Kafka egress record
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="${EDDY_BENCH_FUNCTION:-$root/build/release/bin/eddy-bench-function}"
server_threads="${SERVER_THREADS:-1}"
wrk_threads="${WRK_THREADS:-1}"
connections="${WRK_CONNECTIONS:-64}"
duration="${WRK_DURATION:-10s}"
egress_every="${EGRESS_EVERY:-0}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "raw_http.sh: wrk is not installed (apt-get install -y wrk)" >&2
  exit 1
fi
if [[ ! -x "$bin" ]]; then
  echo "raw_http.sh: $bin not found; build target eddy-bench-function (EDDY_BUILD_BENCH=ON)" \
       "or set EDDY_BENCH_FUNCTION" >&2
  exit 1
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --dump-request "$work/body.bin"
"$bin" --port 0 --port-file "$work/port" --threads "$server_threads" \
       --egress-every "$egress_every" 2>"$work/server.log" &
server_pid=$!

for _ in $(seq 1 500); do
  [[ -s "$work/port" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "raw_http.sh: eddy-bench-function exited:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.01
done
if [[ ! -s "$work/port" ]]; then
  echo "raw_http.sh: eddy-bench-function did not write its port" >&2
  exit 1
fi
port="$(cat "$work/port")"

echo "eddy-bench-function: ${server_threads} thread(s); wrk -t${wrk_threads}" \
     "-c${connections} -d${duration}; body $(stat -c %s "$work/body.bin") bytes"
EDDY_WRK_BODY="$work/body.bin" wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency \
  -s "$here/wrk/counter.lua" "$@" "http://127.0.0.1:${port}/counter" | tee "$work/wrk.out"

if grep -q "Non-2xx or 3xx responses" "$work/wrk.out"; then
  echo "raw_http.sh: the server answered errors; the rate above is not valid" >&2
  exit 1
fi
rps="$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")"
if [[ -z "$rps" ]]; then
  echo "raw_http.sh: could not read Requests/sec from wrk" >&2
  exit 1
fi
echo "requests/s: ${rps}"
