#!/usr/bin/env bash
# Real clients against `instructor serve` on loopback. Python (openai, instructor, anthropic,
# pydantic-ai): the reference program in modes JSON_SCHEMA, JSON, TOOLS and MD_JSON, the openai SDK
# on chat completions and the Responses API, the anthropic SDK, instructor and Pydantic AI on the
# Messages API; see crates/instructor-serve/tests/python/clients.py. Then JavaScript: the Vercel AI
# SDK's generateObject on its default OpenAI provider (the Responses API); see
# crates/instructor-serve/tests/js/generate-object.mjs.
#
# The venv is created once at ${INSTRUCTOR_PY_VENV:-~/.cache/instructor/py-venv} and reused; the
# JavaScript packages are installed (npm ci, from the committed lock file) into
# ${INSTRUCTOR_JS_DIR:-~/.cache/instructor/js-clients} and reused while the lock file is unchanged.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${INSTRUCTOR_PY_VENV:-$HOME/.cache/instructor/py-venv}
started=$SECONDS
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# pydantic-ai-slim gets its [anthropic] extra only: with [openai] too, pip settles on 2.38 (the last
# release whose openai floor fits instructor 1.17's jiter<0.15; openai>=3.4 wants jiter>=0.16), and
# releases before 2.60 call anthropic's BetaMessageParam, a Union in the anthropic SDK 2.x, and fail.
"$venv/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.40' 'instructor>=1.10' pydantic jsonschema \
  anthropic google-genai 'pydantic-ai-slim[anthropic]>=2.60'
echo "venv ready in $((SECONDS - started)) s" >&2

started=$SECONDS
js_src=crates/instructor-serve/tests/js
js_dir=${INSTRUCTOR_JS_DIR:-$HOME/.cache/instructor/js-clients}
mkdir -p "$js_dir"
if [ ! -d "$js_dir/node_modules" ] || ! cmp -s "$js_src/package-lock.json" "$js_dir/package-lock.json"; then
  cp "$js_src/package.json" "$js_src/package-lock.json" "$js_dir/"
  (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The script runs from beside its node_modules: ES modules resolve packages from the importing file.
cp "$js_src/generate-object.mjs" "$js_dir/"
echo "js clients ready in $((SECONDS - started)) s" >&2

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

started=$SECONDS
node "$js_dir/generate-object.mjs" "$address/v1" "$model" || status=$?
echo "js clients ran in $((SECONDS - started)) s" >&2
curl -sf "$address/health" >/dev/null || { echo "the server stopped answering" >&2; status=1; }
exit "$status"
