#!/usr/bin/env bash
# Installs what the product's schema tooling needs (Debian's protoc and the
# well-known .proto files) when missing; optional extras by name (e.g. wrk).
set -euo pipefail
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || [ -n "${PROTOC_INCLUDE:-}" ] || need+=(libprotobuf-dev)
for extra in "$@"; do command -v "$extra" >/dev/null 2>&1 || need+=("$extra"); done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}" >&2
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
