#!/usr/bin/env bash
# Generates the Python protobuf classes for the StateFun protocol from the repository's proto/
# folder into examples/greeter/generated/ (git-ignored), or into the directory given as $1.
# Needs protoc (Debian: protobuf-compiler) and, to use them, Debian's python3-protobuf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
proto_root="$(cd "$here/../../proto" && pwd)"
out="${1:-$here/generated}"

if ! command -v protoc >/dev/null 2>&1; then
  echo "gen_protos.sh: protoc not found (apt-get install -y protobuf-compiler)" >&2
  exit 1
fi
mkdir -p "$out"
protoc --proto_path="$proto_root" --python_out="$out" \
  "$proto_root/statefun/sdk/request_reply.proto" \
  "$proto_root/statefun/sdk/types.proto" \
  "$proto_root/statefun/sdk/egress.proto"
echo "generated Python protobuf classes in $out"
