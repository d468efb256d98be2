#!/usr/bin/env bash
# A bounded load test on loopback, in one run: `instructor serve` through each of its dialects
# (chat completions, OpenAI's Responses, Anthropic's Messages) and llama-cpp-python's server on
# the same GGUF with 2 threads, each given the same load (default 200 requests at 8 concurrent,
# the seed extraction with a JSON Schema, max_tokens 16) by crates/instructor-serve/examples/load.rs.
# Then `instructor serve --queue 2` under the same load, to show a full queue answered 429.
#
# llama-cpp-python comes from ${INSTRUCTOR_LLAMA_VENV}, else /tmp/bench-venv, else target/llama-venv
# (see scripts/test-reverse-llama-cpp.sh); without it only our server is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${BENCH_REQUESTS:-200}
concurrency=${BENCH_CONCURRENCY:-8}
max_tokens=${BENCH_MAX_TOKENS:-16}
format=${BENCH_FORMAT:-schema}

cargo build --release -q -p instructor-cli
cargo build --release -q -p instructor-serve --example load
cargo run --release -q -p instructor-cli -- model pull >/dev/null
model=$(target/release/instructor model list | awk -F'\t' '/SmolLM2-135M-Instruct.Q4_1.gguf/ {print $1}')
load=target/release/examples/load

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 1 600); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

run_ours() { # label, dialect, extra serve flags...
  local label=$1 dialect=$2
  shift 2
  local port
  port=$(free_port)
  target/release/instructor serve --model-path "$model" --port "$port" --threads 2 "$@" 2>/dev/null &
  local pid=$!
  pids+=("$pid")
  wait_for "http://127.0.0.1:$port/health"
  "$load" --url "http://127.0.0.1:$port/v1" --model SmolLM2-135M-Instruct.Q4_1 --requests "$requests" \
    --concurrency "$concurrency" --max-tokens "$max_tokens" --format "$format" --label "$label" --dialect "$dialect"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

results=$(mktemp)
run_ours "instructor serve" chat >>"$results"
run_ours "  via /v1/responses" responses >>"$results"
run_ours "  via /v1/messages" messages >>"$results"

venv=${INSTRUCTOR_LLAMA_VENV:-}
[ -n "$venv" ] || { [ -x /tmp/bench-venv/bin/python ] && venv=/tmp/bench-venv; } || venv=target/llama-venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import llama_cpp.server.app' 2>/dev/null; then
  port=$(free_port)
  "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias SmolLM2-135M-Instruct.Q4_1 \
    --host 127.0.0.1 --port "$port" --n_threads 2 --n_ctx 4096 >/dev/null 2>&1 &
  pids+=("$!")
  wait_for "http://127.0.0.1:$port/v1/models"
  "$load" --url "http://127.0.0.1:$port/v1" --model SmolLM2-135M-Instruct.Q4_1 --requests "$requests" \
    --concurrency "$concurrency" --max-tokens "$max_tokens" --format "$format" --label "llama-cpp-python" >>"$results"
  kill "${pids[-1]}"
else
  echo "llama-cpp-python's server is not installed (scripts/test-reverse-llama-cpp.sh installs it): skipped" >&2
fi

run_ours "instructor serve --queue 2" chat --queue 2 >>"$results"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
r = rows[0]
print(f"{r['requests']} requests at {r['concurrency']} concurrent, max_tokens {r['max_tokens']}, format {r['format']}, loopback")
cols = ["ok", "failures", "status_5xx", "status_429", "other_4xx", "transport_errors", "p50_ms", "p99_ms", "throughput_rps", "completion_tokens_per_s"]
print(f"{'':28}" + "".join(f"{c:>13}" for c in ["ok", "fail", "5xx", "429", "other 4xx", "transport", "p50 ms", "p99 ms", "req/s", "tok/s"]))
for r in rows:
    cells = [f"{r[c]:13.1f}" if isinstance(r[c], float) else f"{r[c]:13}" for c in cols]
    print(f"{r['label']:28}" + "".join(cells))
bad = [r["label"] for r in rows if r["status_5xx"] or r["transport_errors"] or r["other_4xx"]]
ours = rows[0]
for r in rows[1:3]:
    ratio = r["throughput_rps"] / ours["throughput_rps"] if ours["throughput_rps"] else 0
    print(f"throughput {r['label'].strip()} vs chat completions: {ratio:.2f}x (target >= 0.95)")
if bad or ours["failures"]:
    print(f"FAILED: 5xx, transport errors or unexpected 4xx from {bad}, or failures from ours: {ours['failures']}")
    sys.exit(1)
PY
rm -f "$results"
