#!/usr/bin/env bash
# The greeter demo, end to end on this machine: installs what is missing, builds, starts the dev
# Kafka broker, the Python remote functions and eddy-worker, produces a few names, prints the
# greetings read back from the egress topic, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh
echo "demo: building (first time takes a few minutes)..."
bash scripts/build.sh release eddy-worker eddy_dev_kafka >/dev/null
bin=$root/build/release/bin

work=$(mktemp -d /tmp/eddy-demo-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for_file() {  # path, what
  for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "demo: $2 did not start" >&2
  exit 1
}

"$bin/eddy-dev-kafka" --topic names:2 --topic greetings:1 --bootstrap-file "$work/bootstrap" \
  >"$work/kafka.log" 2>&1 &
pids+=($!)
wait_for_file "$work/bootstrap" "eddy-dev-kafka"
bootstrap=$(cat "$work/bootstrap")
echo "demo: dev Kafka broker at $bootstrap"

bash examples/greeter/gen_protos.sh "$work/generated" >/dev/null
/usr/bin/python3 examples/greeter/greeter.py --port 0 --port-file "$work/function-port" \
  --generated "$work/generated" >"$work/functions.log" 2>&1 &
pids+=($!)
wait_for_file "$work/function-port" "the Python functions"
function_port=$(cat "$work/function-port")
echo "demo: Python functions (example/person, example/greeter) on port $function_port"

sed -e "s/\${FUNCTION_PORT}/$function_port/g" -e "s/\${KAFKA_BOOTSTRAP}/$bootstrap/g" \
  examples/greeter/module.yaml >"$work/module.yaml"
admin_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/eddy-worker" --module "$work/module.yaml" --set state_dir="$work/state" \
  --set admin_port="$admin_port" --set shards=1 >"$work/worker.log" 2>&1 &
worker=$!
pids+=($worker)
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$worker" 2>/dev/null; then cat "$work/worker.log" >&2; exit 1; fi
  sleep 0.05
done
echo "demo: eddy-worker ready (admin on http://127.0.0.1:$admin_port/)"

# Values are io.statefun.types/string, i.e. a serialized StringWrapper: 0x0a, length, UTF-8.
# kcat reads "key<US>value<RS>" records (the wrapper's first byte is a newline).
names=(Alice Bob Alice Carol Alice)
for name in "${names[@]}"; do
  printf '%s\x1f\x0a' "$name"
  printf "\\x$(printf '%02x' ${#name})"
  printf '%s\x1e' "$name"
done | kcat -P -b "$bootstrap" -t names -K $'\x1f' -D $'\x1e' 2>/dev/null
echo "demo: produced ${#names[@]} names to topic 'names': ${names[*]}"
greetings=""
for _ in $(seq 1 300); do
  greetings=$(kcat -C -b "$bootstrap" -t greetings -o beginning -e -q -f '  %k: %s\n' 2>/dev/null || true)
  [ "$(printf '%s' "$greetings" | grep -c .)" -ge ${#names[@]} ] && break
  sleep 0.1
done
if [ "$(printf '%s' "$greetings" | grep -c .)" -lt ${#names[@]} ]; then
  echo "demo: expected ${#names[@]} greetings, got:" >&2
  printf '%s\n' "$greetings" >&2
  echo "demo: worker log:" >&2
  cat "$work/worker.log" >&2
  exit 1
fi
echo "demo: greetings from topic 'greetings':"
printf '%s\n' "$greetings"

kill -TERM "$worker"
if wait "$worker"; then echo "demo: worker drained and stopped (exit 0)"; else
  echo "demo: worker exited with $?" >&2; exit 1; fi
