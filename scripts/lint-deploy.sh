#!/usr/bin/env bash
# Lints the container and Kubernetes files offline (no Docker engine or API server needed):
# Dockerfiles with npm's dockerfile-utils, manifests parsed by `kubectl --local`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${EDDY_TOOLS_DIR:-$HOME/.cache/eddy-tools}
if [ ! -x "$tools/node_modules/.bin/dockerfile-utils" ]; then
  mkdir -p "$tools"
  npm install --silent --prefix "$tools" dockerfile-utils@0.16 >/dev/null
fi
status=0
for f in docker/*.Dockerfile; do
  if out=$("$tools/node_modules/.bin/dockerfile-utils" lint "$f" 2>&1); then
    echo "lint-deploy: $f OK"
  else
    echo "lint-deploy: $f:"; echo "$out"; status=1
  fi
done
if command -v kubectl >/dev/null 2>&1; then
  for f in docker/k8s/*.yaml; do
    if out=$(kubectl label --local -f "$f" eddy-lint=ok -o name 2>&1); then
      echo "lint-deploy: $f OK ($(echo "$out" | tr '\n' ' '))"
    else
      echo "lint-deploy: $f:"; echo "$out"; status=1
    fi
  done
else
  echo "lint-deploy: kubectl not installed; manifests not checked" >&2
  status=1
fi
exit $status
