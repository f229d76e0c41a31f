#!/usr/bin/env bash
# Test-only tools in a local virtual environment (.venv-test, ignored by git):
# the OpenAPI validator, schemathesis, websockets and buf (buf curl). None of
# them is a product dependency; the tests call them as independent oracles.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
want=(openapi-spec-validator schemathesis websockets buf-bin)
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
fi
missing=()
for p in "${want[@]}"; do "$VENV/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test tools into $VENV: ${missing[*]}" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi
# PostgreSQL for the client's tests (a throwaway cluster each run; never a server someone started).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL from Debian for the tests" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
