#!/usr/bin/env bash
# The embedded engine against llama.cpp, in one run: same GGUF, same templated prompts, 2 threads,
# one side at a time. The peers are llama.cpp's own `llama-server` (built once and cached by
# scripts/build-llama-server.sh: tens of minutes on two cores) and llama-cpp-python (installed
# into a venv; it compiles llama.cpp: minutes). BENCH_PEERS=server or =python runs one of them.
# With llama-server, each of our runs is also paired with one of the server's made right before or
# after it (BENCH_LLAMA_SERVER, see benches/engine.rs), and the targets are judged on those pairs.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${BENCH_THREADS:-2}
peers=${BENCH_PEERS:-server,python}
venv=${BENCH_VENV:-target/bench-venv}

cargo run --release -q -p instructor-cli -- model pull >/dev/null
model=$(cargo run --release -q -p instructor-cli -- model list | awk -F'\t' '/SmolLM2-135M-Instruct.Q4_1.gguf/ {print $1}')
prompts=$(mktemp)
server_log=$(mktemp)
server=
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -f "$prompts" "$server_log"
}
trap cleanup EXIT
rounds=${BENCH_ROUNDS:-3}
server_url=
run_ours() {
  BENCH_MODEL="$model" BENCH_THREADS=$threads BENCH_PROMPT_OUT="$prompts" BENCH_LLAMA_SERVER="$server_url" \
    cargo bench -q -p instructor-engine --bench engine 2>/dev/null | tail -n 1
}
run_ours >/dev/null # builds the bench and writes the prompts

if [[ $peers == *server* ]]; then
  binary=$(scripts/build-llama-server.sh | tail -n 1)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$binary" -m "$model" --host 127.0.0.1 --port "$port" --threads "$threads" --threads-batch "$threads" \
    -c 4096 --parallel 1 --no-ui >"$server_log" 2>&1 &
  server=$!
  for _ in $(seq 1 1500); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { tail -n 40 "$server_log" >&2; echo "llama-server stopped" >&2; exit 1; }
    sleep 0.2
  done
  server_url=http://127.0.0.1:$port
fi
if [[ $peers == *python* ]]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null || "$venv/bin/pip" install --quiet llama-cpp-python
fi

# Rounds of one measurement per side, the order alternating: this VM's speed drifts by tens of
# percent over minutes, and only ratios within a round are compared.
ours=() llama_server=() python=()
for round in $(seq 1 "$rounds"); do
  sides=(ours)
  [[ $peers == *server* ]] && sides+=(server)
  [[ $peers == *python* ]] && sides+=(python)
  (( round % 2 == 0 )) && sides=($(printf '%s\n' "${sides[@]}" | tac))
  for side in "${sides[@]}"; do
    case $side in
      ours) ours+=("$(run_ours)") ;;
      server) llama_server+=("$(python3 scripts/bench_engine_llama_server.py "http://127.0.0.1:$port" "$prompts" "$threads")") ;;
      python) python+=("$("$venv/bin/python" scripts/bench_engine_llama_cpp_python.py "$model" "$prompts" "$threads")") ;;
    esac
  done
  echo "round $round of $rounds done" >&2
done
join() { local IFS=,; echo "[$*]"; }
ours=$(join "${ours[@]}") llama_server=$(join "${llama_server[@]}") python=$(join "${python[@]}")

python3 - "$ours" "$llama_server" "$python" <<'PY'
import json, statistics, sys
ours = json.loads(sys.argv[1])
peers = [(name, runs) for name, runs in [("llama-server", json.loads(sys.argv[2])), ("llama-cpp-python", json.loads(sys.argv[3]))] if runs]
med = lambda runs, key: statistics.median(r[key] for r in runs) if all(key in r for r in runs) else None
print(f"SmolLM2-135M-Instruct Q4_1, {ours[0]['threads']} threads, prompt of {ours[0]['prompt_tokens']} tokens"
      + "".join(f" ({name} counted {runs[0]['prompt_tokens']})" for name, runs in peers)
      + f"; medians of {len(ours)} rounds")
print(f"{'':40} {'instructor-engine':>18}" + "".join(f" {name:>18}" for name, _ in peers))
rows = [("prefill (ms)", "prefill_ms"), ("first token, cold (ms)", "first_token_ms"),
        ("first token, shared system prompt (ms)", "first_token_shared_prefix_ms"),
        ("decode, unconstrained (tok/s)", "decode_tps"), ("decode, JSON Schema (tok/s)", "decode_constrained_tps"),
        ("first token, JSON Schema, cold (ms)", "first_token_constrained_ms"), ("peak RSS (MB)", "peak_rss_mb")]
cell = lambda v: f"{v:18.1f}" if v is not None else f"{'-':>18}"
for label, key in rows:
    print(f"{label:40} {cell(med(ours, key))}" + "".join(f" {cell(med(runs, key))}" for _, runs in peers))
print()
def check(what, ratios, ok, target):
    r = statistics.median(ratios)
    print(f"{what:62} {r:6.2f}  (rounds: {', '.join(f'{x:.2f}' for x in ratios)}; target {target}) {'ok' if ok(r) else 'MISSED'}")
# Each of our runs paired with one of llama-server's made seconds before or after it: the targets
# are judged on the median of these pairs, pooled over the rounds.
pairs = [o["paired_with_llama_server"] for o in ours if o.get("paired_with_llama_server")]
if pairs:
    def paired(what, key, ok, target):
        ratios = sorted(r for p in pairs for r in p[key])
        q = lambda f: ratios[min(len(ratios) - 1, int(f * len(ratios)))]
        r = statistics.median(ratios)
        print(f"{what:62} {r:6.2f}  ({len(ratios)} paired runs, middle half {q(0.25):.2f}-{q(0.75):.2f}, "
              f"all {ratios[0]:.2f}-{ratios[-1]:.2f}; target {target}) {'ok' if ok(r) else 'MISSED'}")
    paired("constrained decode / llama-server unconstrained, paired", "decode_constrained", lambda r: r >= 0.95, ">= 0.95")
    paired("unconstrained decode / llama-server unconstrained, paired", "decode", lambda r: True, "-")
    paired("prefill time / llama-server prefill time, paired", "prefill_time", lambda r: r <= 1.10, "<= 1.10, parity")
    print("per round (our medians against the server's, measured a minute apart):")
for name, runs in peers:
    # Against llama-server, with pairs, the rounds are shown for reference only.
    judged = not (pairs and name == "llama-server")
    decode_ok, prefill_ok = (lambda r: r >= 0.95, lambda r: r <= 1.10) if judged else (lambda r: True,) * 2
    check(f"constrained decode / {name} unconstrained decode",
          [o["decode_constrained_tps"] / p["decode_tps"] for o, p in zip(ours, runs)], decode_ok,
          ">= 0.95" if judged else "judged on the pairs")
    check(f"unconstrained decode / {name} unconstrained decode",
          [o["decode_tps"] / p["decode_tps"] for o, p in zip(ours, runs)], lambda r: True, "-")
    check(f"prefill time / {name} prefill time",
          [o["prefill_ms"] / p["prefill_ms"] for o, p in zip(ours, runs)], prefill_ok,
          "<= 1.10, parity" if judged else "judged on the pairs")
check("first token, ms (constrained, ~50-token prompt, cold)",
      [o["first_token_constrained_ms"] for o in ours], lambda ms: ms < 150, "< 150")
check("first token, ms (constrained, same system prompt cached)",
      [o["first_token_shared_prefix_ms"] for o in ours], lambda ms: ms < 150, "< 150")
PY
