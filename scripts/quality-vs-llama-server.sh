#!/usr/bin/env bash
# The quality set against `instructor serve` and llama.cpp's own `llama-server`, on the same GGUF
# with the same request (temperature 0, response_format json_schema), in one run: schema-valid
# replies, replies cut by max_tokens, field accuracy and latency per server, and the cases where
# the two disagree. See scripts/quality_compare.py; arguments go to it, e.g.
#
#   scripts/quality-vs-llama-server.sh --seed-names --json-out target/quality-vs-llama-server.json
#
# llama-server is built once by scripts/build-llama-server.sh (tens of minutes on two cores) and
# cached. Our binary is INSTRUCTOR_BIN, else target/release/instructor, else target/debug/instructor;
# this script does not build it. The model is INSTRUCTOR_MODEL, else the default model from
# `instructor model list`. Both servers get 2 threads, a 4096-token context and one slot
# (INSTRUCTOR_THREADS overrides the threads).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${INSTRUCTOR_THREADS:-2}
llama_server=$(scripts/build-llama-server.sh | tail -n 1)
[ -x "$llama_server" ] || { echo "no llama-server binary ($llama_server)" >&2; exit 1; }

bin=${INSTRUCTOR_BIN:-}
if [ -z "$bin" ]; then
  for candidate in target/release/instructor target/debug/instructor; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
  echo "no instructor binary: build it (cargo build --release -p instructor-cli) or set INSTRUCTOR_BIN" >&2
  exit 1
}

model=${INSTRUCTOR_MODEL:-}
if [ -z "$model" ]; then
  # Tab-separated, the path first; the default model when it is there, else the first one.
  list=$("$bin" model list)
  if [ -z "$list" ]; then
    "$bin" model pull >/dev/null
    list=$("$bin" model list)
  fi
  model=$(awk -F'\t' '/SmolLM2-135M-Instruct.Q4_1.gguf/ {print $1; exit}' <<<"$list")
  [ -n "$model" ] || model=$(awk -F'\t' 'NF {print $1; exit}' <<<"$list")
fi
[ -f "$model" ] || { echo "no model file: '$model' (set INSTRUCTOR_MODEL)" >&2; exit 1; }

ours_log=$(mktemp)
peer_log=$(mktemp)
ours=
peer=
stop() {
  for pid in $ours $peer; do kill "$pid" 2>/dev/null || true; done
  for pid in $ours $peer; do wait "$pid" 2>/dev/null || true; done
  rm -f "$ours_log" "$peer_log"
}
trap stop EXIT
trap 'exit 130' INT TERM

"$bin" serve --port 0 --threads "$threads" --model-path "$model" 2>"$ours_log" &
ours=$!

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$llama_server" -m "$model" --host 127.0.0.1 --port "$port" --threads "$threads" -c 4096 --parallel 1 \
  --no-ui >"$peer_log" 2>&1 &
peer=$!
peer_address=http://127.0.0.1:$port

# Our bound address is on the server's first line of stderr.
address=
for _ in $(seq 1 600); do
  address=$(grep -ao 'http://127\.0\.0\.1:[0-9]*' "$ours_log" | head -n 1 || true)
  [ -n "$address" ] && break
  kill -0 "$ours" 2>/dev/null || { cat "$ours_log" >&2; echo "instructor serve did not start" >&2; exit 1; }
  sleep 0.2
done
[ -n "$address" ] || { cat "$ours_log" >&2; echo "no address from instructor serve" >&2; exit 1; }

# Healthy: /health answers 200 (llama-server answers 503 while it loads the model).
healthy() { # NAME URL PID LOG
  for _ in $(seq 1 1500); do
    curl -sf "$2/health" >/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { tail -n 40 "$4" >&2; echo "$1 stopped before it was healthy" >&2; return 1; }
    sleep 0.2
  done
  tail -n 40 "$4" >&2
  echo "$1 was not healthy within 5 minutes" >&2
  return 1
}
healthy "instructor serve" "$address" "$ours" "$ours_log"
healthy llama-server "$peer_address" "$peer" "$peer_log"
echo "instructor serve ($bin) at $address; llama-server ($llama_server) at $peer_address; model $model" >&2
[ -f "$(dirname "$llama_server")/VERSION" ] && sed -n 1,2p "$(dirname "$llama_server")/VERSION" >&2

python3 scripts/quality_compare.py "instructor=$address/v1" "llama-server=$peer_address/v1" "$@"
