#!/usr/bin/env bash
# The JSONSchemaBench sample (crates/instructor-engine/tests/data/jsonschemabench) against
# `instructor serve` and llama.cpp's own `llama-server`, on the same GGUF with the same request
# (temperature 0, max_tokens 384, response_format json_schema strict), in one run: per dataset the
# schemas whose reply is valid, cut by max_tokens, invalid, refused (4xx), 5xx, crashed or timed
# out. See scripts/schemabench_compare.py; arguments go to it, e.g.
#
#   scripts/schemabench-vs-llama-server.sh --limit-per-dataset 2
#   scripts/schemabench-vs-llama-server.sh --only generation.txt --json-out target/schemabench-gen.json
#   nice -n 10 scripts/schemabench-vs-llama-server.sh --json-out target/schemabench-vs-llama-server.json
#
# A server that crashes (or does not answer within --timeout) is restarted, and the run goes on
# with the next schema: the Python script saves its results to a state file and exits 3 naming
# the server, this script checks whether that server's process is still alive (and says so, with
# the end of its log when it died), starts it again and runs the script again on the same state.
#
# llama-server is built once by scripts/build-llama-server.sh and cached. Our binary is
# INSTRUCTOR_BIN, else target/release/instructor, else target/debug/instructor; this script does
# not build it. The model is INSTRUCTOR_MODEL, else the default model from `instructor model list`.
# Both servers get 2 threads, a 4096-token context and one slot (INSTRUCTOR_THREADS overrides the
# threads). Python is PYTHON, else ~/.cache/instructor/py-venv/bin/python (it needs `jsonschema`),
# else python3. SCHEMABENCH_MAX_RESTARTS (default 30) bounds the restarts of one run.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${INSTRUCTOR_THREADS:-2}
max_restarts=${SCHEMABENCH_MAX_RESTARTS:-30}
llama_server=$(scripts/build-llama-server.sh | tail -n 1)
[ -x "$llama_server" ] || { echo "no llama-server binary ($llama_server)" >&2; exit 1; }

python=${PYTHON:-}
if [ -z "$python" ]; then
  python=$HOME/.cache/instructor/py-venv/bin/python
  [ -x "$python" ] || python=python3
fi

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

work=$(mktemp -d)
ours_log=$work/instructor.log
peer_log=$work/llama-server.log
state=$work/state.json
restart_file=$work/restart
ours=
peer=
address=
peer_address=
stop() {
  for pid in $ours $peer; do kill "$pid" 2>/dev/null || true; done
  for pid in $ours $peer; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

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

start_ours() {
  "$bin" serve --port 0 --threads "$threads" --model-path "$model" 2>"$ours_log" &
  ours=$!
  # Our bound address is on the server's first line of stderr.
  address=
  for _ in $(seq 1 600); do
    address=$(grep -ao 'http://127\.0\.0\.1:[0-9]*' "$ours_log" | head -n 1 || true)
    [ -n "$address" ] && break
    kill -0 "$ours" 2>/dev/null || { cat "$ours_log" >&2; echo "instructor serve did not start" >&2; return 1; }
    sleep 0.2
  done
  [ -n "$address" ] || { cat "$ours_log" >&2; echo "no address from instructor serve" >&2; return 1; }
  healthy "instructor serve" "$address" "$ours" "$ours_log"
}

start_peer() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$llama_server" -m "$model" --host 127.0.0.1 --port "$port" --threads "$threads" -c 4096 --parallel 1 \
    --no-ui >"$peer_log" 2>&1 &
  peer=$!
  peer_address=http://127.0.0.1:$port
  healthy llama-server "$peer_address" "$peer" "$peer_log"
}

# Stops (when it still runs) and starts again the server NAME; says whether it had died.
restart() { # NAME REASON
  local name=$1 reason=$2 pid log status=0
  case $name in
    instructor) pid=$ours; log=$ours_log ;;
    llama-server) pid=$peer; log=$peer_log ;;
    *) echo "unknown server '$name' to restart" >&2; return 1 ;;
  esac
  if kill -0 "$pid" 2>/dev/null; then
    echo "== $name ($reason) is still running: stopping it" >&2
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    wait "$pid" 2>/dev/null || status=$?
    if [ "$status" -gt 128 ]; then
      echo "== $name died ($reason): killed by signal $((status - 128)); the end of its log:" >&2
    else
      echo "== $name died ($reason): exit status $status; the end of its log:" >&2
    fi
    tail -n 30 "$log" | sed 's/^/   | /' >&2
  fi
  cp "$log" "$work/$name.$(date +%s).log" 2>/dev/null || true
  case $name in
    instructor) start_ours ;;
    llama-server) start_peer ;;
  esac
  echo "== $name restarted" >&2
}

start_ours
start_peer
echo "instructor serve ($bin) at $address; llama-server ($llama_server) at $peer_address; model $model" >&2
[ -f "$(dirname "$llama_server")/VERSION" ] && sed -n 1,2p "$(dirname "$llama_server")/VERSION" >&2

restarts=0
while :; do
  rm -f "$restart_file"
  rc=0
  "$python" scripts/schemabench_compare.py "instructor=$address/v1" "llama-server=$peer_address/v1" \
    --state "$state" --restart-file "$restart_file" "$@" || rc=$?
  [ "$rc" -eq 3 ] && [ -f "$restart_file" ] || break
  restarts=$((restarts + 1))
  if [ "$restarts" -gt "$max_restarts" ]; then
    echo "more than $max_restarts restarts: giving up (SCHEMABENCH_MAX_RESTARTS)" >&2
    rc=1
    break
  fi
  read -r name reason <"$restart_file"
  restart "$name" "$reason"
done
# A server that died after its last request is reported too.
for pair in "instructor:$ours" "llama-server:$peer"; do
  kill -0 "${pair#*:}" 2>/dev/null || echo "== ${pair%%:*} is not running at the end of the run" >&2
done
exit "$rc"
