#!/usr/bin/env bash
# Real Python clients (openai, instructor, pydantic) against `instructor serve` on loopback:
# the reference program in modes JSON_SCHEMA, JSON, TOOLS and MD_JSON, and the openai SDK
# streaming a json_schema answer. See crates/instructor-serve/tests/python/clients.py.
#
# The venv is created once at ${INSTRUCTOR_PY_VENV:-~/.cache/instructor/py-venv} and reused.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${INSTRUCTOR_PY_VENV:-$HOME/.cache/instructor/py-venv}
started=$SECONDS
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.40' 'instructor>=1.10' pydantic jsonschema \
  anthropic google-genai 'pydantic-ai-slim[anthropic,openai]'
echo "venv ready in $((SECONDS - started)) s" >&2

started=$SECONDS
# The whole workspace, all features: the same build as the test command's, so nothing is rebuilt.
cargo build -q --workspace --all-features
echo "built in $((SECONDS - started)) s" >&2

log=$(mktemp)
target/debug/instructor serve --port 0 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT

# The bound address is on the server's first line of stderr.
address=
for _ in $(seq 1 600); do
  address=$(grep -ao 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)
  [ -n "$address" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "the server did not start" >&2; exit 1; }
  sleep 0.2
done
[ -n "$address" ] || { cat "$log" >&2; echo "no address from the server" >&2; exit 1; }
until curl -sf "$address/health" >/dev/null; do sleep 0.2; done
model=$(curl -sf "$address/v1/models" | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
echo "serving $model at $address" >&2

started=$SECONDS
status=0
"$venv/bin/python" crates/instructor-serve/tests/python/clients.py "$address/v1" "$model" || status=$?
echo "python clients ran in $((SECONDS - started)) s" >&2
curl -sf "$address/health" >/dev/null || { echo "the server stopped answering" >&2; status=1; }
exit "$status"
